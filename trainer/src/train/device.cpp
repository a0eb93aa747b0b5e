#include "disttgl/trainer/train/device.hpp"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <cstdlib>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/train/config.hpp"

#include <torch/version.h>

#ifdef DISTTGL_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>
#endif

namespace disttgl::trainer {
namespace {

std::string visible_devices_note() {
  const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
  return env == nullptr ? std::string("CUDA_VISIBLE_DEVICES is unset")
                        : fmt::format("CUDA_VISIBLE_DEVICES='{}'", env);
}

}  // namespace

torch::Device resolve_device(const std::string& text, const std::string& field) {
  check_device_syntax(text, field);
  if (text == "cpu") return torch::kCPU;
#ifdef DISTTGL_WITH_CUDA
  const bool available = torch::cuda::is_available();
#else
  const bool available = false;  // no CUDA code paths compiled: CUDA is never offered
#endif
  if (text == "auto") return available ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (!available) {
    throw ConfigError(fmt::format(
        "{}: {} requested but no CUDA device is visible ({}; this build {} CUDA kernels); use "
        "--device cpu or auto",
        field, text, visible_devices_note(),
#ifdef DISTTGL_WITH_CUDA
        "has"
#else
        "has no"
#endif
        ));
  }
  // Parsed here, not by torch::Device, whose int8 index would wrap large values.
  const std::int64_t index = text == "cuda" ? 0 : std::stoll(text.substr(5));  // syntax checked
  const auto count = static_cast<std::int64_t>(torch::cuda::device_count());
  if (index >= count) {
    throw ConfigError(fmt::format("{}: {} does not exist: {} CUDA device{} visible ({})", field,
                                  text, count, count == 1 ? "" : "s", visible_devices_note()));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::optional<torch::ScalarType> autocast_dtype(const std::string& precision,
                                                const torch::Device& device,
                                                const std::string& field) {
  if (precision == "fp32") return std::nullopt;
  if (precision != "bf16") {
    throw ConfigError(
        fmt::format("{}: unknown precision '{}' (expected fp32 or bf16)", field, precision));
  }
#ifdef DISTTGL_WITH_CUDA
  if (device.is_cuda()) {
    const auto* p = at::cuda::getDeviceProperties(device.index());
    if (p->major < 8) {
      throw ConfigError(fmt::format(
          "{}: bf16 needs a GPU of compute capability 8.0 or newer; {} ({}) has {}.{}; use fp32",
          field, device.str(), p->name, p->major, p->minor));
    }
  }
#endif
  return torch::kBFloat16;
}

void apply_determinism(bool deterministic) {
  // setenv before the first cuBLAS handle; overwrite=0 keeps a user's own setting.
  if (deterministic) ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
  at::globalContext().setDeterministicAlgorithms(deterministic, /*warn_only=*/false);
  at::globalContext().setDeterministicCuDNN(deterministic);
}

std::string describe_build() {
  std::string text = fmt::format("torch: {}.{}.{}\n", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR,
                                 TORCH_VERSION_PATCH);
#ifdef DISTTGL_WITH_CUDA
  const auto devices = torch::cuda::is_available() ? torch::cuda::device_count() : 0;
  text += fmt::format("cuda: {}.{} (compiled in; {} device{} visible)\n", CUDART_VERSION / 1000,
                      CUDART_VERSION % 1000 / 10, devices, devices == 1 ? "" : "s");
#else
  text += "cuda: none (CPU-only build)\n";
#endif
  return text;
}

std::string describe_device(const torch::Device& device) {
#ifdef DISTTGL_WITH_CUDA
  if (device.is_cuda()) {
    const auto* p = at::cuda::getDeviceProperties(device.index());
    return fmt::format("{} ({}, {:.1f} GiB, compute capability {}.{})", device.str(), p->name,
                       static_cast<double>(p->totalGlobalMem) / (1024.0 * 1024.0 * 1024.0),
                       p->major, p->minor);
  }
#endif
  return device.str();
}

AutocastGuard::AutocastGuard(const torch::Device& device, std::optional<torch::ScalarType> dtype) {
  if (!dtype) return;
  active_ = true;
  type_ = device.type();
  previous_enabled_ = at::autocast::is_autocast_enabled(type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, *dtype);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // The cast cache holds bf16 copies of the weights; drop it when the outermost guard ends,
  // or the next step would reuse copies of the weights from before the optimizer step.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, previous_enabled_);
  at::autocast::set_autocast_dtype(type_, previous_dtype_);
}

}  // namespace disttgl::trainer

// The compute device and precision of a training or evaluation run (config `runtime`, CLI
// --device / --precision / --deterministic).
//
// Sampling always runs on the CPU (as in TGL, disttgl.md §3.2); on a CUDA device everything
// that computes (model, loss, optimizer, node memory and mailbox, negative scores) runs on
// the GPU, and the gather stage copies each batch's blocks there through pinned host memory
// on a side stream (pipeline.hpp).
// Thread-safety: resolve_device/describe_device/apply_determinism are process-wide setup for
// the main thread; AutocastGuard is per thread (autocast state is thread-local).
#pragma once

#include <torch/types.h>

#include <optional>
#include <string>

namespace disttgl::trainer {

/// Resolves a device string of check_device_syntax's form on this machine: "auto" is cuda:0
/// (the first GPU that CUDA_VISIBLE_DEVICES leaves visible) when torch sees one, else cpu.
/// Throws ConfigError (exit 2) naming `field`: CUDA asked for where none is visible or the
/// build has no CUDA ("FIELD: cuda requested but no CUDA device is visible ..."), or an index
/// past the visible devices ("FIELD: cuda:3 does not exist: 1 CUDA device visible").
torch::Device resolve_device(const std::string& text, const std::string& field);

/// The autocast dtype of `precision` ("fp32": none, "bf16": kBFloat16) on `device`. Throws
/// ConfigError naming `field` for bf16 on a GPU without bf16 arithmetic (compute capability
/// below 8.0) or an unknown precision.
std::optional<torch::ScalarType> autocast_dtype(const std::string& precision,
                                                const torch::Device& device,
                                                const std::string& field);

/// Turns torch's deterministic-algorithms mode on or off for the process. On: ops without a
/// deterministic CUDA kernel throw (naming the op), and CUBLAS_WORKSPACE_CONFIG is set to
/// ":4096:8" unless already set (cuBLAS needs it for reproducible GEMMs; it must happen
/// before the first cuBLAS call, so call this before building the model).
void apply_determinism(bool deterministic);

/// What this binary carries, for `disttgl-trainer --version` (one "key: value" per line):
///   torch: 2.11.0
///   cuda: 13.0 (compiled in; 0 devices visible)   or   cuda: none (CPU-only build)
/// Counting devices initialises the CUDA runtime when the build has it (no error without a GPU).
std::string describe_build();

/// "cpu" or "cuda:0 (NVIDIA H200, 139.8 GiB, compute capability 9.0)" for logs and
/// summary.json.
std::string describe_device(const torch::Device& device);

/// Enables autocast to `dtype` for `device`'s type on this thread for the guard's lifetime
/// and restores the previous state after (no-op for std::nullopt). Forward and loss run
/// under it; backward and the optimizer step run outside it, as torch recommends.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, std::optional<torch::ScalarType> dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_ = c10::DeviceType::CPU;
  bool previous_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kFloat;
};

}  // namespace disttgl::trainer

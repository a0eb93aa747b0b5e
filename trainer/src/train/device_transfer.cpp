#include "device_transfer.hpp"

#include <torch/torch.h>

#include "disttgl/common/error.hpp"

#ifdef DISTTGL_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace disttgl::trainer::detail {

#ifdef DISTTGL_WITH_CUDA

struct DeviceTransfer::Side {
  c10::cuda::CUDAStream stream;
};

struct TransferFence {
  at::cuda::CUDAEvent done;
};

DeviceTransfer::DeviceTransfer(torch::Device device) : device_(device) {
  if (device_.is_cuda()) {
    side_ = std::make_unique<Side>(
        Side{c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_.index())});
  }
}

torch::Tensor DeviceTransfer::to_device(const torch::Tensor& host) const {
  if (!side_ || !host.defined()) return host;
  const torch::Tensor pinned = host.is_pinned() ? host : host.pin_memory();
  // The pinned block is released only after the copy: torch's host allocator records an
  // event on the copying stream.
  return pinned.to(device_, /*non_blocking=*/true);
}

std::shared_ptr<TransferFence> DeviceTransfer::run(const std::function<void()>& copies) const {
  if (!side_) {
    copies();
    return nullptr;
  }
  const c10::cuda::CUDAStreamGuard guard(side_->stream);
  copies();
  auto fence = std::make_shared<TransferFence>();
  fence->done.record(side_->stream);
  return fence;
}

void DeviceTransfer::wait_for(const std::shared_ptr<TransferFence>& fence,
                              const std::vector<torch::Tensor>& tensors) {
  if (!fence) return;
  const c10::cuda::CUDAStream current =
      c10::cuda::getCurrentCUDAStream(fence->done.device_index());
  fence->done.block(current);
  for (const auto& t : tensors) {
    if (t.defined() && t.is_cuda()) {
      c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), current);
    }
  }
}

void DeviceTransfer::synchronize(const std::shared_ptr<TransferFence>& fence) {
  if (fence) fence->done.synchronize();
}

void DeviceTransfer::follow_current_stream() const {
  if (!side_) return;
  at::cuda::CUDAEvent queued;
  queued.record(c10::cuda::getCurrentCUDAStream(device_.index()));
  queued.block(side_->stream);
}

#else  // builds without CUDA: the device is always the CPU (resolve_device refuses CUDA)

struct DeviceTransfer::Side {};
struct TransferFence {};

DeviceTransfer::DeviceTransfer(torch::Device device) : device_(device) {
  if (device_.is_cuda()) throw InternalError("DeviceTransfer: this build has no CUDA");
}

torch::Tensor DeviceTransfer::to_device(const torch::Tensor& host) const { return host; }

std::shared_ptr<TransferFence> DeviceTransfer::run(const std::function<void()>& copies) const {
  copies();
  return nullptr;
}

void DeviceTransfer::wait_for(const std::shared_ptr<TransferFence>&,
                              const std::vector<torch::Tensor>&) {}

void DeviceTransfer::synchronize(const std::shared_ptr<TransferFence>&) {}

void DeviceTransfer::follow_current_stream() const {}

#endif

DeviceTransfer::~DeviceTransfer() = default;

}  // namespace disttgl::trainer::detail

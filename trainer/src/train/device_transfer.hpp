// Host-to-device copies of a batch on a side CUDA stream, and the fence the compute thread
// waits on before using them (pipeline.hpp's gather stage). The copies come from pinned host
// memory, so they run asynchronously and overlap the compute stream's work on the previous
// batch. On the CPU everything here is the identity.
// Thread-safety: to_device/run from one producer thread at a time; wait_for from the
// consumer thread.
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <vector>

namespace disttgl::trainer::detail {

/// Completion of one batch's copies on the side stream (opaque; null on the CPU).
struct TransferFence;

class DeviceTransfer {
 public:
  /// On a CUDA device, takes a side stream of that device from torch's stream pool.
  explicit DeviceTransfer(torch::Device device);
  ~DeviceTransfer();
  DeviceTransfer(const DeviceTransfer&) = delete;
  DeviceTransfer& operator=(const DeviceTransfer&) = delete;

  const torch::Device& device() const { return device_; }

  /// Inside run(): `host` (a CPU tensor) on the device, copied from pinned memory without
  /// blocking the calling thread. CPU device: `host` itself.
  torch::Tensor to_device(const torch::Tensor& host) const;

  /// Runs `copies` with the side stream current on this thread (and the device set), then
  /// records a fence after them. CPU device: runs `copies` and returns null.
  std::shared_ptr<TransferFence> run(const std::function<void()>& copies) const;

  /// Makes the calling thread's current stream wait for `fence` (no host wait) and records
  /// that stream's use of `tensors`, so the caching allocator does not give their memory
  /// back to the side stream while the compute stream still reads it. No-op for null.
  static void wait_for(const std::shared_ptr<TransferFence>& fence,
                       const std::vector<torch::Tensor>& tensors);

  /// Makes the side stream wait for the work queued so far on the calling thread's current
  /// stream (e.g. tables copied there that the side stream will read). No-op on the CPU.
  void follow_current_stream() const;

  /// Blocks the calling thread until the fence's copies are done (stage profiling only).
  static void synchronize(const std::shared_ptr<TransferFence>& fence);

 private:
  struct Side;
  torch::Device device_;
  std::unique_ptr<Side> side_;
};

}  // namespace disttgl::trainer::detail

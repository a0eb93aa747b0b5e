// The collective layer of DistTGL's parallel training: one process group over all ranks,
// from LibTorch's own c10d (TCPStore rendezvous; ProcessGroupGloo on the CPU,
// ProcessGroupNCCL on CUDA), as DistTGL's one DDP group over the world (disttgl.md §4:
// "one DDP over all ranks ... every iteration. There are no per-dimension sub-groups").
// Every wait has a deadline: rendezvous and each collective fail with IoError (exit 74)
// naming the operation, the rank and the timeout instead of hanging when a rank is gone.
// Thread-safety: one ProcessGroup per rank, used from one thread.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace disttgl::trainer {

struct ProcessGroupOptions {
  std::string master_addr = "127.0.0.1";  ///< host of rank 0's TCPStore
  int master_port = 29500;                ///< 0 on rank 0: any free port (see master_port())
  int rank = 0;                           ///< in [0, world_size)
  int world_size = 1;                     ///< >= 1
  /// Address this rank's Gloo transport binds (reachable by the other ranks); empty: the
  /// address of this host's name.
  std::string local_addr;
  /// CPU: Gloo; CUDA: NCCL (builds with DISTTGL_WITH_CUDA).
  torch::Device device = torch::kCPU;
  /// Rendezvous (every rank has joined) and each collective, each.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// Store key prefix: the job and attempt, so a restarted group never meets a rank of an
  /// older attempt on the same store.
  std::string prefix = "disttgl";
};

class ProcessGroup {
 public:
  /// Joins the group: rank 0 hosts the TCPStore, every rank waits until all world_size
  /// ranks have arrived. Throws ConfigError for a bad rank/world size/port and IoError
  /// "process group: rendezvous at HOST:PORT timed out after S s (rank R of W joined ...)"
  /// when the others do not come.
  explicit ProcessGroup(const ProcessGroupOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int world_size() const;
  /// "gloo" or "nccl".
  std::string backend_name() const;
  /// The store's port (useful when rank 0 asked for port 0).
  int master_port() const;

  /// Sums `tensors` (same shapes, dtypes and order on every rank; all on the group's
  /// device) across ranks in place with one all-reduce of their flattened concatenation.
  /// Returns the bytes all-reduced by this rank. Throws IoError naming the operation when a
  /// rank does not take part within the timeout, InternalError for mixed dtypes or devices.
  std::int64_t all_reduce_sum(std::vector<torch::Tensor>& tensors);

  /// Copies rank `root`'s `tensors` into every rank's (same shapes and dtypes), in place.
  /// IoError on timeout.
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);

  /// Waits until every rank has called barrier(), at most `timeout` (default: the group's).
  /// IoError on timeout.
  void barrier(std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());

  /// Puts `bytes` under `key` in the rendezvous store (rank 0's TCPStore, keys prefixed by
  /// the job and attempt): the side channel of distributed checkpoints (each memory group's
  /// node memory to rank 0 at an epoch's end, rank 0's checkpoint to every rank on resume),
  /// so no rank but 0 needs the run directory. Any size: sent in 4 MiB chunks (the store's
  /// server refuses values over 8 MiB). IoError when the store is gone.
  void put_blob(const std::string& key, const std::vector<std::uint8_t>& bytes);
  /// Waits for `key` (at most `timeout`; default: the group's) and returns its bytes.
  /// IoError naming the key on timeout.
  std::vector<std::uint8_t> get_blob(
      const std::string& key, std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());
  /// Removes `key` (no-op when absent).
  void delete_blob(const std::string& key);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// DistTGL's gradient step synchronisation: the gradients of `parameters` (those without a
/// gradient count as zeros, as DDP's find_unused_parameters) averaged over all ranks in one
/// all-reduce. A parameter that no rank used is left without a gradient (as DDP leaves
/// globally unused parameters), so the optimizer skips it as a single process would.
/// All parameters must share one dtype and device. Returns the bytes all-reduced.
std::int64_t average_gradients(ProcessGroup& group, const std::vector<torch::Tensor>& parameters);

}  // namespace disttgl::trainer

// LocalMemoryStore: the whole memory state as in-process tensors on one device (TGL's
// MailBox with `all_on_gpu`, DistTGL's per-group shared arrays on one machine).
//
// On a CUDA device, write() uses the kernels of trainer/src/memory/cuda (compiled when
// DISTTGL_WITH_CUDA is ON): each node's last occurrence is elected with an atomicMax over
// positions, so the scatter is deterministic without sorting. Otherwise (CPU, or CUDA
// without the kernels) it deduplicates with last_occurrence() and index_copy_.
// Thread-safety: not thread-safe; one stage owns the store at a time.
#pragma once

#include <cstdint>
#include <string>

#include "disttgl/trainer/memory/memory_store.hpp"

namespace disttgl::trainer {

struct LocalMemoryStoreOptions {
  std::int64_t num_nodes = 0;     ///< N >= 1
  std::int64_t memory_dim = 100;  ///< d_mem >= 1
  std::int64_t mail_dim = 200;    ///< d_mail >= 1 (2 * d_mem for TGN/JODIE/APAN)
  std::int64_t mailbox_size = 1;  ///< >= 1: 1 for TGN/JODIE, 10 for APAN
  torch::Device device = torch::kCPU;
};

class LocalMemoryStore final : public MemoryStore {
 public:
  /// Allocates the state in its reset() form. Throws ConfigError for a size < 1 (naming
  /// the field) or a CUDA device when CUDA is not available.
  explicit LocalMemoryStore(const LocalMemoryStoreOptions& options);

  std::string backend_name() const override { return "local"; }
  std::int64_t num_nodes() const override { return options_.num_nodes; }
  std::int64_t memory_dim() const override { return options_.memory_dim; }
  std::int64_t mail_dim() const override { return options_.mail_dim; }
  std::int64_t mailbox_size() const override { return options_.mailbox_size; }
  torch::Device device() const override { return options_.device; }

  using MemoryStore::read;
  using MemoryStore::write;
  std::int64_t next_batch() const override { return next_batch_; }
  /// Deferred: get() reads, and throws InternalError unless next_batch() == batch then.
  PendingRows read_async(std::int64_t batch, const torch::Tensor& nodes) override;
  /// Applies at once (one shard per batch): batch must be next_batch() and shard 0.
  void write(std::int64_t batch, std::int32_t shard, const torch::Tensor& nodes,
             const MemoryRows& rows) override;
  void reset() override;

  /// Keys: memory, memory_ts, mail, mail_ts, mail_eid, next_mail_pos (raw ring layout),
  /// next_batch.
  void save(torch::serialize::OutputArchive& archive) const override;
  /// Throws InputError naming the key when one is missing or has another dtype/shape.
  void load(torch::serialize::InputArchive& archive) override;

  /// True when this build has the CUDA write kernels (DISTTGL_WITH_CUDA).
  static bool has_cuda_kernels();

 private:
  MemoryRows read_now(const torch::Tensor& nodes);
  void write_generic(const torch::Tensor& nodes, const MemoryRows& rows);
  void write_cuda(const torch::Tensor& nodes, const MemoryRows& rows);

  LocalMemoryStoreOptions options_;
  torch::Tensor memory_;         // [N, d_mem] f32
  torch::Tensor memory_ts_;      // [N] f64
  torch::Tensor mail_;           // [N, S, d_mail] f32, ring layout
  torch::Tensor mail_ts_;        // [N, S] f64
  torch::Tensor mail_eid_;       // [N, S] i64
  torch::Tensor next_mail_pos_;  // [N] i64: slot the next mail goes to (= oldest slot)
  torch::Tensor winner_;         // [N] i64 scratch of the CUDA path, all zero between writes
  std::int64_t next_batch_ = 0;
};

}  // namespace disttgl::trainer

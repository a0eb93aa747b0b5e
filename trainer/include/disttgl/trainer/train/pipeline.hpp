// The training loop as a pipeline of stages (disttgl.md §3.2), one way only:
//   SampleStage   events [begin, end) -> roots [src, dst, negatives] + temporal blocks
//   GatherStage   unique block nodes -> memory read issued (MemoryStore::read_async), features
//   (await)       the memory rows of the batch's logical batch number arrive
//   (compute)     TGNNModel::forward, loss, backward, optimizer step   (in trainer.cpp)
//   WriteBack     make_memory_write -> MemoryStore::write for the positive endpoints (and,
//                 with memory.deliver_to neighbors, their mails to sampled neighbours)
// Each stage takes the previous stage's output by value and knows nothing of later stages.
// BatchPrefetcher runs sample + gather up to `depth` batches ahead on a background thread
// while the caller computes; a batch's memory read is issued there and answered once the
// previous logical batch is written (by the daemon, or at await time in-process), so the
// rows of batch b+1 always include batch b's write-back.
// Thread-safety: a stage object is used from one thread at a time.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "disttgl/trainer/data/dataset.hpp"
#include "disttgl/trainer/memory/memory_store.hpp"
#include "disttgl/trainer/model/tgnn_model.hpp"
#include "disttgl/trainer/model/write_back.hpp"
#include "disttgl/trainer/sampler/negative.hpp"
#include "disttgl/trainer/sampler/sampler.hpp"

namespace disttgl::trainer {

namespace detail {
class DeviceTransfer;
struct TransferFence;
}  // namespace detail

/// Output of the sample stage for the events [begin, end) (B = end - begin).
struct SampledBatch {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t num_negatives = 0;  ///< n per positive
  /// [R = B (2 + n)] roots: src (B), dst (B), then negative k of event i at 2B + i n + k,
  /// every root at its event's time (negatives share the positive's time).
  std::vector<NodeId> roots;
  std::vector<Timestamp> root_times;
  /// Sampler blocks (innermost first); empty for models that sample no neighbours.
  std::vector<TemporalBlock> blocks;
  /// Mail delivery (memory.deliver_to neighbors; num_roots 0 otherwise): one block rooted at
  /// the 2B positive endpoints in write-back row order src_0, dst_0, src_1, ..., each at its
  /// event's time, so row[e] is the endpoint whose mail goes to neighbour e.
  TemporalBlock delivery;

  std::int64_t num_events() const { return end - begin; }
};

/// One set of negatives per positive: `count` draws of `strategy` under `seed`.
struct NegativeSet {
  NegativeStrategy strategy = NegativeStrategy::kRandom;
  std::int64_t count = 1;
  std::uint64_t seed = 0;
};

/// What a batch draws besides its positives: negative sets, laid out per event in this order
/// (event i's negatives are set 0's count, then set 1's, ...), and the neighbour sampler's
/// uniform stream (the training epoch; 0 for evaluation and replay).
struct BatchDraws {
  std::vector<NegativeSet> negatives;
  std::uint64_t sampling_stream = 0;
  std::int64_t negatives_per_event() const {
    std::int64_t n = 0;
    for (const NegativeSet& s : negatives) n += s.count;
    return n;
  }
};

class SampleStage {
 public:
  /// `sampler` may be null (jodie/apan sample no neighbours). `delivery_sampler` (one layer)
  /// samples SampledBatch::delivery; null = no delivery. All references must outlive the
  /// stage.
  SampleStage(const Dataset& dataset, const TemporalSampler* sampler,
              const NegativeSampler& negatives, const TemporalSampler* delivery_sampler = nullptr);

  /// Roots and blocks for events [begin, end) with the negatives of `draws` (deterministic in
  /// each set's (strategy, seed, event id, k)) and neighbours drawn in its sampling stream.
  /// Throws ConfigError from NegativeSampler::sample.
  SampledBatch run(std::int64_t begin, std::int64_t end, const BatchDraws& draws) const;

 private:
  const Dataset& dataset_;
  const TemporalSampler* sampler_;
  const NegativeSampler& negatives_;
  const TemporalSampler* delivery_sampler_;
};

/// Output of the gather stage: everything the model's forward reads, plus the events, on the
/// stage's device. `inputs.memory` is filled by GatherStage::await_memory from
/// `pending_memory`. On a CUDA device the tensors are being copied on the stage's side
/// stream until await_memory has made the compute stream wait for `h2d`.
struct GatheredBatch {
  ModelInputs inputs;
  std::int64_t logical_batch = 0;  ///< memory sequence number of this batch
  PendingRows pending_memory;      ///< issued read of the unique nodes' memory (+ delivery)
  /// Mail deliveries to neighbours (empty without a delivery block); await_memory fills their
  /// memory and memory_ts from the rows read for this batch.
  MailDeliveries delivery;
  /// [D] int64 CPU: row of each delivery target in pending_memory's rows, which are the U
  /// unique nodes' then the targets' that are not among them.
  torch::Tensor delivery_read_index;
  std::shared_ptr<detail::TransferFence> h2d;  ///< the copies' completion (null on the CPU)
  double h2d_seconds = 0.0;  ///< host-to-device copy time, measured only when profiling
  torch::Tensor event_ts;   ///< [B] float64
  torch::Tensor event_eid;  ///< [B] int64
  std::int64_t begin = 0;
  std::int64_t end = 0;
};

/// Feature tables the gather stage hands to the model (undefined tensors when absent).
struct FeatureTables {
  torch::Tensor edge_features;  ///< [E, d_e] float32
  torch::Tensor node_features;  ///< [N, d_v] float32
  torch::Tensor static_memory;  ///< [N, d_static] float32
};

class GatherStage {
 public:
  /// `store` may be null when the model reads no memory (static pre-training). The feature
  /// tables are moved to `device` once, here (TGL keeps them on the GPU too).
  GatherStage(MemoryStore* store, FeatureTables tables, torch::Device device);
  ~GatherStage();

  /// Deduplicates the outermost block's nodes (or the roots), issues the read of their
  /// memory rows (and of the delivery targets', plan_mail_deliveries) for `logical_batch`,
  /// and copies the blocks, roots and per-node features to
  /// the device: on CUDA from pinned host memory on a side stream, not waiting for the
  /// copies (see GatheredBatch::h2d). Safe on a prefetch thread.
  GatheredBatch run(SampledBatch batch, std::int64_t logical_batch) const;

  /// Makes the calling thread's CUDA stream wait for the batch's copies, then waits for its
  /// memory rows and places them in inputs.memory on the device (no store: no rows). Call
  /// on the compute thread, after the previous batch's memory write.
  void await_memory(GatheredBatch& batch) const;

  /// Profiling: run() waits for its copies and records GatheredBatch::h2d_seconds (costs the
  /// overlap; for stage breakdowns only).
  void set_profile(bool profile) { profile_ = profile; }

 private:
  bool profile_ = false;
  MemoryStore* store_;
  FeatureTables tables_;
  torch::Device device_;
  std::shared_ptr<detail::DeviceTransfer> transfer_;
};

/// Write-back stage: memory and new mails for the batch's positive endpoints, each node at
/// its last occurrence (make_memory_write + MemoryStore::write of batch.logical_batch),
/// preceded by batch.delivery's rows (with_deliveries). No-op
/// without a store. Outputs computed under bf16 autocast are written as float32. `shard` is
/// the mini-batch shard (DistTGL's i) this write is of.
void write_back(MemoryStore* store, const GatheredBatch& batch, const ModelOutputs& outputs,
                std::int32_t shard = 0);

/// Produces batches 0..count-1 in order, up to `depth` ahead of the consumer on a background
/// thread (depth 0: on the caller's thread inside next(), today's sequential loop).
/// Thread-safety: next() from one consumer thread; `produce` runs on the prefetch thread.
class BatchPrefetcher {
 public:
  using Produce = std::function<GatheredBatch(std::int64_t index)>;
  BatchPrefetcher(std::int64_t count, int depth, Produce produce);
  /// Stops the prefetch thread (after its current batch) and joins it.
  ~BatchPrefetcher();
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  /// The next batch; rethrows an exception of `produce` at the batch where it happened.
  GatheredBatch next();
  /// Batches produced but not yet taken (the pipeline's queue depth).
  std::int64_t queued() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Identity of a dataset's event stream for the memory daemon's HELLO: CRC-32 (zlib) of
/// src, dst and ts in the high 32 bits, the event count's low 32 bits below, so a trainer of
/// another dataset (or another import of it) is refused by a daemon already in use.
std::uint64_t dataset_fingerprint(const Dataset& dataset);

/// The dataset's feature tables as tensors (no copy of the vectors' storage is kept alive
/// beyond the dataset: the tensors are clones).
FeatureTables feature_tables(const Dataset& dataset);

}  // namespace disttgl::trainer

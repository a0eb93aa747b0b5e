// The training loop as a pipeline of stages (disttgl.md §3.2), one way only:
//   SampleStage   events [begin, end) -> roots [src, dst, negatives] + temporal blocks
//   GatherStage   unique block nodes -> memory rows (MemoryStore::read), feature tables
//   (compute)     TGNNModel::forward, loss, backward, optimizer step   (in trainer.cpp)
//   WriteBack     make_memory_write -> MemoryStore::write for the positive endpoints
// Each stage takes the previous stage's output by value and knows nothing of later stages, so
// stages can later overlap (prefetch the next batch's sample while this batch computes) and
// the memory-daemon client can stand in for the in-process store.
// Thread-safety: a stage object is used from one thread at a time.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "disttgl/trainer/data/dataset.hpp"
#include "disttgl/trainer/memory/memory_store.hpp"
#include "disttgl/trainer/model/tgnn_model.hpp"
#include "disttgl/trainer/sampler/negative.hpp"
#include "disttgl/trainer/sampler/sampler.hpp"

namespace disttgl::trainer {

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

  std::int64_t num_events() const { return end - begin; }
};

class SampleStage {
 public:
  /// `sampler` may be null (jodie/apan sample no neighbours). All references must outlive
  /// the stage.
  SampleStage(const Dataset& dataset, const TemporalSampler* sampler,
              const NegativeSampler& negatives);

  /// Roots and blocks for events [begin, end) with `num_negatives` negatives per positive
  /// drawn with `negative_seed` (deterministic in (seed, event id, k)).
  SampledBatch run(std::int64_t begin, std::int64_t end, std::int64_t num_negatives,
                   std::uint64_t negative_seed) const;

 private:
  const Dataset& dataset_;
  const TemporalSampler* sampler_;
  const NegativeSampler& negatives_;
};

/// Output of the gather stage: everything the model's forward reads, plus the events.
struct GatheredBatch {
  ModelInputs inputs;
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
  /// `store` may be null when the model reads no memory (static pre-training).
  GatherStage(MemoryStore* store, FeatureTables tables, torch::Device device);

  /// Deduplicates the outermost block's nodes (or the roots), reads their memory rows and
  /// slices the per-node feature tables.
  GatheredBatch run(SampledBatch batch) const;

 private:
  MemoryStore* store_;
  FeatureTables tables_;
  torch::Device device_;
};

/// Write-back stage: memory and new mails for the batch's positive endpoints, each node at
/// its last occurrence (make_memory_write + MemoryStore::write). No-op without a store.
void write_back(MemoryStore* store, const GatheredBatch& batch, const ModelOutputs& outputs);

/// The dataset's feature tables as tensors (no copy of the vectors' storage is kept alive
/// beyond the dataset: the tensors are clones).
FeatureTables feature_tables(const Dataset& dataset);

}  // namespace disttgl::trainer

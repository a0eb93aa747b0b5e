// The layout advisor: recommends DistTGL's (i, j, k) for a dataset and a cluster, with the
// reasons (docs/layouts.md, "Choosing a layout"). The rules follow DistTGL (Zhou et al.,
// SC'23; ../shared/reference/disttgl.md §4): memory parallelism (k) across machines, i*j
// within a machine; mini-batch parallelism (i) is bounded by the accuracy cost of a larger
// effective batch (TGL's multi-GPU configs stop at 4,000 events), and by keeping enough
// logical batches per epoch; epoch parallelism (j) takes the rest of a machine's GPUs, up to
// a cap (each slot retrains its batch j times: overfitting risk).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "disttgl/common/layout.hpp"

namespace disttgl::trainer {

struct PlanInput {
  std::int64_t train_events = 0;  ///< events in the training split (>= 1)
  std::int64_t num_nodes = 0;     ///< N
  std::int32_t machines = 1;      ///< M >= 1
  std::int32_t gpus_per_machine = 1;  ///< G >= 1
  double gpu_memory_gib = 0.0;    ///< 0: not checked
  std::int64_t batch_size = 600;  ///< events per shard (TGL's default)
  std::int64_t memory_dim = 100;
  std::int64_t mail_dim = 200;
  std::int64_t mailbox_size = 1;
  double base_lr = 1e-4;
  std::int64_t base_epochs = 100;  ///< DistTGL's E
};

struct Plan {
  ParallelLayout layout;
  double lr = 0.0;             ///< base_lr * W
  std::int64_t epochs = 0;     ///< ceil(E / (j*k))
  std::int64_t logical_batches = 0;  ///< per epoch
  std::int64_t memory_bytes_per_group = 0;  ///< one copy of node memory + mailbox
  std::vector<std::string> reasons;  ///< one sentence per decision
};

/// Largest effective batch (i * batch_size) the advisor allows (TGL's config/dist/*.yml).
inline constexpr std::int64_t kMaxEffectiveBatch = 4000;
/// Fewest logical batches per epoch per memory group the advisor allows.
inline constexpr std::int64_t kMinLogicalBatchesPerGroup = 50;
/// Largest epoch parallelism the advisor recommends.
inline constexpr std::int32_t kMaxEpochParallelism = 8;

/// Throws ConfigError naming the field for machines, GPUs, events or sizes < 1.
Plan plan_layout(const PlanInput& input);

}  // namespace disttgl::trainer

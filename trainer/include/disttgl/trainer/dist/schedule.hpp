// Which logical batch each rank trains at each iteration of an epoch under DistTGL's
// (i, j, k) layout (Zhou et al., SC'23; ../shared/reference/disttgl.md §4):
//  - mini-batch parallelism (i): logical batch b is the i consecutive batches b*i .. b*i+i-1;
//    shard s trains batch b*i+s; all shards read the memory from before b;
//  - epoch parallelism (j): logical batches are dealt round-robin to the j slots (slot u owns
//    b = u, u+j, ...); a slot trains its batch on j consecutive iterations with j different
//    negative sets (pass p = 0..j-1), writing memory on the first pass only; an epoch takes
//    B + j - 1 iterations (pipeline fill and drain);
//  - memory parallelism (k): group g walks the same sequence shifted by (k-g)/k of the
//    epoch's iterations, starting from zero memory and resetting it when it wraps to batch 0.
//    As in DistTGL's train.py (its position counters live outside the epoch loop), a group
//    does not reset at later epochs' starts: its walk, memory and held batch continue across
//    the epoch boundary, which is why a distributed checkpoint holds every group's memory.
// Where DistTGL clamps an out-of-range batch index during fill and drain (retraining batch
// 0 or B-1), a rank here is idle: it contributes zero gradients to the iteration's
// all-reduce. So is a later pass, in the first epoch, of a batch from before its group's
// mid-epoch start (DistTGL trains it on zero memory; here its read would race the write of
// the group's first batch). docs/layouts.md says why.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "disttgl/common/layout.hpp"

namespace disttgl::trainer {

/// One training iteration of one rank.
struct Iteration {
  std::int64_t logical_batch = -1;  ///< b in [0, B), or -1: idle (zero gradients)
  std::int32_t pass = 0;            ///< p in [0, j): which of the j negative sets
  bool write_memory = false;        ///< p == 0: this rank writes its shard's memory for b
  /// The group starts here from zero memory (the epoch's first iteration, or the
  /// iteration where the group wraps back to batch 0): reset before reading.
  bool reset_memory = false;
  /// This rank's first iteration on b: it reads b's memory here and reuses the rows for
  /// the later passes (DistTGL reads memory once per mini-batch).
  bool read_memory = false;
  /// Position of b in the group's memory sequence since its last reset (the daemon's
  /// logical batch number): b minus the batch at which the group (re)started. -1 when idle.
  std::int64_t memory_sequence = -1;
  /// A later pass (p > 0) at an epoch's first iteration whose first pass ran at the end of
  /// the previous epoch: the rank trains on the variants it still holds from there, or,
  /// right after a resume (nothing held), stays idle. Never set in the first epoch.
  bool carried = false;
};

/// Iterations per epoch: B + j - 1 (B >= 1 logical batches).
std::int64_t iterations_per_epoch(const ParallelLayout& layout, std::int64_t logical_batches);

/// The epoch's iterations (iterations_per_epoch of them, the same count on every rank so the
/// all-reduces line up) for the rank at `place`. `first_epoch`: the run's first epoch, where
/// every group starts from zero memory at its offset; later epochs continue each group's
/// walk (only group 0, whose offset is 0, wraps and resets at their start).
std::vector<Iteration> epoch_schedule(const ParallelLayout& layout, const RankPlace& place,
                                      std::int64_t logical_batches, bool first_epoch = true);

/// The memory sequence number memory group `group`'s daemon expects next once every rank of
/// the group has finished the epoch (its next_batch): one past the last batch written after
/// the group's last reset, 0 when it reset and wrote nothing since, -1 when the epoch
/// neither resets nor writes (the previous value stands).
std::int64_t group_next_batch(const ParallelLayout& layout, std::int32_t group,
                              std::int64_t logical_batches, bool first_epoch);

/// Logical batches of an epoch over `num_events` training events with `batch_size` events
/// per shard: ceil(num_events / (batch_size * i)).
std::int64_t logical_batches(const ParallelLayout& layout, std::int64_t num_events,
                             std::int64_t batch_size);

/// The training events [begin, end) of shard `shard` of logical batch `b` (empty, begin ==
/// end, when the last logical batch has fewer than i batches).
struct EventRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;
};
EventRange shard_events(const ParallelLayout& layout, std::int64_t b, std::int32_t shard,
                        std::int64_t num_events, std::int64_t batch_size);

}  // namespace disttgl::trainer

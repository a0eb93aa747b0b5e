#include "disttgl/trainer/dist/schedule.hpp"

#include <algorithm>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer {
namespace {

std::int64_t floor_mod(std::int64_t a, std::int64_t m) { return ((a % m) + m) % m; }

}  // namespace

std::int64_t iterations_per_epoch(const ParallelLayout& layout, std::int64_t logical_batches) {
  if (logical_batches < 1) throw InternalError("epoch schedule: no logical batches");
  return logical_batches + layout.j - 1;
}

std::vector<Iteration> epoch_schedule(const ParallelLayout& layout, const RankPlace& place,
                                      std::int64_t logical_batches, bool first_epoch) {
  const std::int64_t t_count = iterations_per_epoch(layout, logical_batches);
  // Group g starts (k - g)/k of the way through the epoch (DistTGL's stagger).
  const std::int64_t offset = floor_mod(layout.k - place.group, layout.k) * t_count / layout.k;
  std::vector<Iteration> out(static_cast<std::size_t>(t_count));
  // The group's position at its last (re)start: in a later epoch the wrap to 0 happened in
  // the previous one (or this epoch starts at 0).
  std::int64_t segment_start = 0;
  std::int64_t previous = -1;      // this rank's batch at the previous iteration
  for (std::int64_t t = 0; t < t_count; ++t) {
    const std::int64_t local = (t + offset) % t_count;  // the group's position in the epoch
    Iteration& it = out[static_cast<std::size_t>(t)];
    it.reset_memory = (first_epoch && t == 0) || local == 0;
    if (it.reset_memory) segment_start = local;
    // The batch of slot u among the j in flight (local - j + 1 .. local): b = u (mod j).
    const std::int64_t b = local - floor_mod(local - place.slot, layout.j);
    // Fill or drain, or (first epoch) a later pass of a batch from before the group's
    // mid-epoch start, whose first pass the group never ran: idle.
    if (b < 0 || b >= logical_batches || b < segment_start) {
      previous = -1;
      continue;
    }
    it.logical_batch = b;
    it.pass = static_cast<std::int32_t>(local - b);
    it.write_memory = it.pass == 0;
    it.carried = !first_epoch && t == 0 && it.pass > 0 && local != 0;
    it.read_memory = (b != previous || it.reset_memory) && !it.carried;
    it.memory_sequence = b - segment_start;
    previous = b;
  }
  return out;
}

std::int64_t group_next_batch(const ParallelLayout& layout, std::int32_t group,
                              std::int64_t logical_batches, bool first_epoch) {
  std::vector<std::vector<Iteration>> slots;
  for (std::int32_t u = 0; u < layout.j; ++u) {
    slots.push_back(epoch_schedule(layout, {group, u, 0}, logical_batches, first_epoch));
  }
  std::int64_t next = -1;
  for (std::size_t t = 0; t < slots[0].size(); ++t) {
    if (slots[0][t].reset_memory) next = 0;
    for (const auto& s : slots) {
      if (s[t].write_memory) next = s[t].memory_sequence + 1;
    }
  }
  return next;
}

std::int64_t logical_batches(const ParallelLayout& layout, std::int64_t num_events,
                             std::int64_t batch_size) {
  const std::int64_t per_logical = batch_size * layout.i;
  return (num_events + per_logical - 1) / per_logical;
}

EventRange shard_events(const ParallelLayout& layout, std::int64_t b, std::int32_t shard,
                        std::int64_t num_events, std::int64_t batch_size) {
  const std::int64_t begin = std::min((b * layout.i + shard) * batch_size, num_events);
  return {begin, std::min(begin + batch_size, num_events)};
}

}  // namespace disttgl::trainer

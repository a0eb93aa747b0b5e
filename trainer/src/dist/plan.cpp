#include "disttgl/trainer/dist/plan.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/dist/launch_contract.hpp"
#include "disttgl/trainer/dist/schedule.hpp"

namespace disttgl::trainer {
namespace {

void at_least(std::int64_t value, std::int64_t lo, const char* field) {
  if (value < lo) throw ConfigError(fmt::format("{}: must be >= {}, got {}", field, lo, value));
}

}  // namespace

Plan plan_layout(const PlanInput& in) {
  at_least(in.machines, 1, "--machines");
  at_least(in.gpus_per_machine, 1, "--gpus-per-machine");
  at_least(in.train_events, 1, "training events");
  at_least(in.num_nodes, 1, "nodes");
  at_least(in.batch_size, 1, "--batch-size");
  Plan p;
  const std::int64_t batches = (in.train_events + in.batch_size - 1) / in.batch_size;

  // k: one memory group per machine (DistTGL keeps memory traffic inside a machine), fewer
  // when the epoch is too short for k staggered walks that each start from zero memory.
  std::int32_t k = in.machines;
  while (k > 1 && batches / k < kMinLogicalBatchesPerGroup) --k;
  if (k == in.machines && k > 1) {
    p.reasons.push_back(fmt::format(
        "k = {}: one memory group per machine, so node memory never crosses machines "
        "(DistTGL applies memory parallelism across machines only)",
        k));
  } else if (in.machines > 1) {
    p.reasons.push_back(fmt::format(
        "k = {} of {} machines: {} batches per epoch leave fewer than {} per memory group with "
        "more groups (each group restarts from zero memory); the other machines stay idle",
        k, in.machines, batches, kMinLogicalBatchesPerGroup));
  } else {
    p.reasons.push_back("k = 1: one machine holds one memory group");
  }

  // i: the largest divisor of G whose effective batch stays at most kMaxEffectiveBatch and
  // keeps at least kMinLogicalBatchesPerGroup logical batches per group.
  const std::int32_t g = in.gpus_per_machine;
  std::int32_t i = 1;
  for (std::int32_t d = 1; d <= g; ++d) {
    if (g % d != 0) continue;
    const bool batch_ok = d * in.batch_size <= kMaxEffectiveBatch;
    const bool count_ok = (batches / d) / k >= kMinLogicalBatchesPerGroup;
    if (batch_ok && count_ok) i = d;
  }
  p.reasons.push_back(fmt::format(
      "i = {}: effective batch {} events (at most {}, TGL's multi-GPU batch; larger batches "
      "make memory staler and cost accuracy), {} logical batches per epoch",
      i, i * in.batch_size, kMaxEffectiveBatch, logical_batches({i, 1, 1}, in.train_events,
                                                                in.batch_size)));

  // j: the rest of the machine, capped.
  std::int32_t j = g / i;
  if (j > kMaxEpochParallelism) {
    j = kMaxEpochParallelism;
    p.reasons.push_back(fmt::format(
        "j = {}: capped (each slot trains its batch j times in a row; more risks overfitting); "
        "{} of {} GPUs per machine are used",
        j, i * j, g));
  } else {
    p.reasons.push_back(fmt::format(
        "j = {}: the rest of the machine's {} GPU{} (epoch parallelism keeps batch-{} memory "
        "semantics)",
        j, g, g == 1 ? "" : "s", in.batch_size));
  }
  p.layout = {i, j, k};
  const ScaledHyperparameters scaled = scale_for_layout(in.base_lr, in.base_epochs, p.layout);
  p.lr = scaled.lr;
  p.epochs = scaled.epochs;
  p.logical_batches = logical_batches(p.layout, in.train_events, in.batch_size);
  p.memory_bytes_per_group =
      in.num_nodes * (in.memory_dim * 4 + 8 + in.mailbox_size * (in.mail_dim * 4 + 8 + 8) + 8);
  p.reasons.push_back(fmt::format("lr = {:g} (base x W = {}), epochs = {} (ceil({} / (j*k)))",
                                  p.lr, p.layout.world_size(), p.epochs, in.base_epochs));
  if (in.gpu_memory_gib > 0) {
    const double gib = static_cast<double>(p.memory_bytes_per_group) / (1024.0 * 1024 * 1024);
    p.reasons.push_back(fmt::format(
        "one copy of node memory and mailbox is {:.3f} GiB: {} {:.0f} GiB of GPU memory", gib,
        gib <= in.gpu_memory_gib ? "fits in" : "does NOT fit in", in.gpu_memory_gib));
  }
  return p;
}

}  // namespace disttgl::trainer

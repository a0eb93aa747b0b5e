// The checkpoint form of a memory store's state, shared by every backend so that a
// checkpoint written with one (the daemon) loads into another (the in-process store).
// Keys: memory [N, d_mem] f32, memory_ts [N] f64, mail [N, S, d_mail] f32, mail_ts [N, S] f64,
// mail_eid [N, S] i64, next_mail_pos [N] i64 (raw ring layout), next_batch [1] i64.
// Thread-safety: pure functions.
#pragma once

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include <cstdint>

namespace disttgl::trainer::detail {

struct MemoryTensors {
  torch::Tensor memory, memory_ts, mail, mail_ts, mail_eid, next_mail_pos;  // CPU
  std::int64_t next_batch = 0;
};

void save_memory_tensors(torch::serialize::OutputArchive& archive, const MemoryTensors& t);

/// Reads and validates every key for a store of the given sizes before returning (no
/// partial load). Throws InputError naming a missing key, a wrong dtype/shape, or a ring
/// position outside [0, S). A missing next_batch (older checkpoints) reads as 0.
MemoryTensors load_memory_tensors(torch::serialize::InputArchive& archive, std::int64_t num_nodes,
                                  std::int64_t memory_dim, std::int64_t mail_dim,
                                  std::int64_t mailbox_size);

}  // namespace disttgl::trainer::detail

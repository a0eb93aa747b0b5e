// The write-back stage: turns a batch's model outputs into the MemoryStore write for its B
// positive events (disttgl.md §3.2 step 6). For event i = (src_i, dst_i, t_i, eid_i):
//   src_i: memory <- s'_src, memory_ts <- the time s'_src represents (the consumed mail's
//          time; DistTGL: mem_ts <- mail_ts), new mail [s'_src || s'_dst] at t_i with eid_i;
//   dst_i: memory <- s'_dst, ..., new mail [s'_dst || s'_src] at t_i with eid_i.
// Rows are interleaved (src_0, dst_0, src_1, dst_1, ...) as in TGL's update_mailbox, so
// MemoryStore::write's last-occurrence rule keeps each node's chronologically last event
// (for a self-loop, the dst row). Tensors are detached: no gradient crosses batches.
// Negatives get no write. The mail does not copy edge features (they are looked up by eid).
// Thread-safety: pure functions.
#pragma once

#include <torch/types.h>

#include "disttgl/trainer/memory/memory_store.hpp"
#include "disttgl/trainer/model/tgnn_model.hpp"

namespace disttgl::trainer {

struct MemoryWrite {
  torch::Tensor nodes;  ///< [2B] int64: src_0, dst_0, src_1, dst_1, ...
  MemoryRows rows;      ///< 2B rows with one mail slot each (MemoryStore::write's input)
};

/// unique_nodes: [U] int64; updated_memory: [U, d] float32; updated_memory_ts: [U] float64;
/// src_slot, dst_slot: [B] int64 in [0, U) (rows of the events' endpoints among the unique
/// nodes); event_ts: [B] float64; event_eid: [B] int64. Throws InternalError on mismatch.
MemoryWrite make_memory_write(const torch::Tensor& unique_nodes,
                              const torch::Tensor& updated_memory,
                              const torch::Tensor& updated_memory_ts, const torch::Tensor& src_slot,
                              const torch::Tensor& dst_slot, const torch::Tensor& event_ts,
                              const torch::Tensor& event_eid);

/// The same from a forward's inputs and outputs: src/dst slots are
/// inputs.node_index[0, B) and [B, 2B). Throws InternalError when `outputs` has no
/// updated memory (pretrain_static).
MemoryWrite make_memory_write(const ModelInputs& inputs, const ModelOutputs& outputs,
                              const torch::Tensor& event_ts, const torch::Tensor& event_eid);

}  // namespace disttgl::trainer

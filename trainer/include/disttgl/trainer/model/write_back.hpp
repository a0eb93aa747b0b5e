// The write-back stage: turns a batch's model outputs into the MemoryStore write for its B
// positive events (disttgl.md §3.2 step 6). For event i = (src_i, dst_i, t_i, eid_i):
//   src_i: memory <- s'_src, memory_ts <- the time s'_src represents (the consumed mail's
//          time; DistTGL: mem_ts <- mail_ts), new mail [s'_src || s'_dst] at t_i with eid_i;
//   dst_i: memory <- s'_dst, ..., new mail [s'_dst || s'_src] at t_i with eid_i.
// Rows are interleaved (src_0, dst_0, src_1, dst_1, ...) as in TGL's update_mailbox, so
// MemoryStore::write's last-occurrence rule keeps each node's chronologically last event
// (for a self-loop, the dst row). Tensors are detached: no gradient crosses batches.
// Negatives get no write. The mail does not copy edge features (they are looked up by eid).
// APAN's delivery to temporal neighbours (ModelConfig::deliver_to kNeighbors, TGL's
// `deliver_to: neighbors`): each endpoint's new mail is also appended to the mailboxes of its
// sampled neighbours, whose memory and memory_ts are written back unchanged (as read before
// the batch). Those rows come BEFORE the endpoint rows, so an endpoint that is also someone's
// neighbour keeps its own update. The store keeps one mail per node per write, so a node
// reached by several deliveries gets only the last one (the latest event's): a limit of the
// store contract that TGL shares (its scatter into the mailbox keeps one of them too).
// Thread-safety: pure functions.
#pragma once

#include <torch/types.h>

#include "disttgl/trainer/memory/memory_store.hpp"
#include "disttgl/trainer/model/tgnn_model.hpp"
#include "disttgl/trainer/sampler/block.hpp"

namespace disttgl::trainer {

struct MemoryWrite {
  /// [2B] int64: src_0, dst_0, src_1, dst_1, ...; with deliveries [D + 2B], the D delivery
  /// targets first.
  torch::Tensor nodes;
  MemoryRows rows;  ///< one row per node, one mail slot each (MemoryStore::write's input)
};

/// A batch's mail deliveries to temporal neighbours: D distinct nodes, none of them a
/// positive endpoint of the batch (its own row would win anyway). Delivery k gives nodes[k]
/// the new mail of endpoint row source[k] of make_memory_write (2i = src_i, 2i + 1 = dst_i).
struct MailDeliveries {
  torch::Tensor nodes;      ///< [D] int64
  torch::Tensor source;     ///< [D] int64 in [0, 2B)
  torch::Tensor memory;     ///< [D, d_mem] float32: the nodes' memory as read before the batch
  torch::Tensor memory_ts;  ///< [D] float64: their memory_ts as read before the batch

  bool empty() const { return !nodes.defined() || nodes.numel() == 0; }
};

/// Who gets which mail, from the delivery block sampled for the 2B positive endpoints in
/// make_memory_write's row order (roots src_0, dst_0, src_1, ...; row[e] is then the source
/// row): every distinct neighbour that is not itself a root, with the source of its LAST
/// edge in block order (roots are in event order, so the latest event's mail). Returns nodes
/// and source as [D] int64 CPU tensors in ascending order of that edge; memory and memory_ts
/// undefined (the gather stage reads them). Throws InternalError on a malformed block.
MailDeliveries plan_mail_deliveries(const TemporalBlock& delivery);

/// `endpoints` preceded by one row per delivery: memory and memory_ts from `deliveries`, the
/// mail, mail_ts and mail_eid of endpoints' row source[k]. All tensors on one device. Throws
/// InternalError on a shape or dtype mismatch or a source outside [0, endpoints rows).
MemoryWrite with_deliveries(const MemoryWrite& endpoints, const MailDeliveries& deliveries);

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

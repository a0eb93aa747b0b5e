#include "disttgl/trainer/model/write_back.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <unordered_set>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"

namespace disttgl::trainer {

namespace {

// [B] a, [B] b -> [2B] a_0, b_0, a_1, b_1, ... (also for [B, d] rows).
torch::Tensor interleave(const torch::Tensor& a, const torch::Tensor& b) {
  std::vector<std::int64_t> shape = a.sizes().vec();
  shape[0] *= 2;
  return torch::stack({a, b}, 1).reshape(shape);
}

}  // namespace

MemoryWrite make_memory_write(const torch::Tensor& unique_nodes,
                              const torch::Tensor& updated_memory,
                              const torch::Tensor& updated_memory_ts, const torch::Tensor& src_slot,
                              const torch::Tensor& dst_slot, const torch::Tensor& event_ts,
                              const torch::Tensor& event_eid) {
  constexpr const char* kContext = "make_memory_write";
  check_tensor(unique_nodes, kContext, "unique_nodes", torch::kLong, {kAnyDim});
  const std::int64_t u = unique_nodes.size(0);
  check_tensor(updated_memory, kContext, "updated_memory", torch::kFloat, {u, kAnyDim});
  check_tensor(updated_memory_ts, kContext, "updated_memory_ts", torch::kDouble, {u});
  check_node_ids(src_slot, u, kContext, "src_slot");
  const std::int64_t b = src_slot.size(0);
  check_node_ids(dst_slot, u, kContext, "dst_slot");
  check_tensor(dst_slot, kContext, "dst_slot", torch::kLong, {b});
  check_tensor(event_ts, kContext, "event_ts", torch::kDouble, {b});
  check_tensor(event_eid, kContext, "event_eid", torch::kLong, {b});

  const torch::Tensor memory = updated_memory.detach();
  const torch::Tensor s_src = memory.index_select(0, src_slot);
  const torch::Tensor s_dst = memory.index_select(0, dst_slot);
  MemoryWrite w;
  w.nodes =
      interleave(unique_nodes.index_select(0, src_slot), unique_nodes.index_select(0, dst_slot));
  w.rows.memory = interleave(s_src, s_dst);
  const torch::Tensor ts = updated_memory_ts.detach();
  w.rows.memory_ts = interleave(ts.index_select(0, src_slot), ts.index_select(0, dst_slot));
  w.rows.mail =
      interleave(torch::cat({s_src, s_dst}, 1), torch::cat({s_dst, s_src}, 1)).unsqueeze(1);
  w.rows.mail_ts = interleave(event_ts, event_ts).unsqueeze(1);
  w.rows.mail_eid = interleave(event_eid, event_eid).unsqueeze(1);
  return w;
}

MemoryWrite make_memory_write(const ModelInputs& inputs, const ModelOutputs& outputs,
                              const torch::Tensor& event_ts, const torch::Tensor& event_eid) {
  if (!outputs.updated_memory.defined()) {
    throw InternalError("make_memory_write: the model produced no memory (pretrain_static)");
  }
  const std::int64_t b = inputs.num_positives;
  return make_memory_write(inputs.unique_nodes, outputs.updated_memory, outputs.updated_memory_ts,
                           inputs.node_index.slice(0, 0, b), inputs.node_index.slice(0, b, 2 * b),
                           event_ts, event_eid);
}

}  // namespace disttgl::trainer

namespace disttgl::trainer {

MailDeliveries plan_mail_deliveries(const TemporalBlock& delivery) {
  const std::int64_t roots = delivery.num_roots;
  const std::int64_t edges = delivery.num_edges();
  if (roots < 0 || delivery.num_nodes() != roots + edges ||
      static_cast<std::int64_t>(delivery.row.size()) != edges) {
    throw InternalError(str_cat("plan_mail_deliveries: block of ", roots, " roots, ",
                                delivery.num_nodes(), " nodes and ", edges, " edges"));
  }
  // Endpoints keep their own row (written last); each other node keeps its last delivery,
  // found walking backwards.
  std::unordered_set<NodeId> taken(delivery.nodes.begin(), delivery.nodes.begin() + roots);
  std::vector<std::int64_t> nodes, source;
  for (std::int64_t e = edges - 1; e >= 0; --e) {
    const NodeId v = delivery.nodes[static_cast<std::size_t>(roots + e)];
    if (!taken.insert(v).second) continue;
    const std::int64_t r = delivery.row[static_cast<std::size_t>(e)];
    if (r < 0 || r >= roots) {
      throw InternalError(
          str_cat("plan_mail_deliveries: edge ", e, " has root ", r, " outside [0, ", roots, ")"));
    }
    nodes.push_back(v);
    source.push_back(r);
  }
  std::reverse(nodes.begin(), nodes.end());
  std::reverse(source.begin(), source.end());
  MailDeliveries d;
  d.nodes = torch::tensor(nodes, torch::kInt64);
  d.source = torch::tensor(source, torch::kInt64);
  return d;
}

MemoryWrite with_deliveries(const MemoryWrite& endpoints, const MailDeliveries& d) {
  constexpr const char* kContext = "with_deliveries";
  const MemoryRows& w = endpoints.rows;
  const std::int64_t n = endpoints.nodes.size(0);
  check_tensor(endpoints.nodes, kContext, "endpoints.nodes", torch::kLong, {n});
  w.check(n, 1, w.memory.size(1), w.mail.size(2), kContext);
  check_tensor(d.nodes, kContext, "deliveries.nodes", torch::kLong, {kAnyDim});
  const std::int64_t k = d.nodes.size(0);
  check_node_ids(d.source, n, kContext, "deliveries.source");
  check_tensor(d.source, kContext, "deliveries.source", torch::kLong, {k});
  check_tensor(d.memory, kContext, "deliveries.memory", torch::kFloat, {k, w.memory.size(1)});
  check_tensor(d.memory_ts, kContext, "deliveries.memory_ts", torch::kDouble, {k});
  MemoryWrite out;
  out.nodes = torch::cat({d.nodes, endpoints.nodes});
  out.rows.memory = torch::cat({d.memory.detach(), w.memory});
  out.rows.memory_ts = torch::cat({d.memory_ts.detach(), w.memory_ts});
  out.rows.mail = torch::cat({w.mail.index_select(0, d.source), w.mail});
  out.rows.mail_ts = torch::cat({w.mail_ts.index_select(0, d.source), w.mail_ts});
  out.rows.mail_eid = torch::cat({w.mail_eid.index_select(0, d.source), w.mail_eid});
  return out;
}

}  // namespace disttgl::trainer

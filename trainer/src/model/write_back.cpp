#include "disttgl/trainer/model/write_back.hpp"

#include <torch/torch.h>

#include "disttgl/common/error.hpp"
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

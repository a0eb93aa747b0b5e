#include "disttgl/trainer/model/embedding.hpp"

#include <torch/torch.h>

#include <limits>
#include <string>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"
#include "disttgl/trainer/model/gather_rows.hpp"
#include "disttgl/trainer/model/memory_updater.hpp"
#include "disttgl/trainer/model/segment_attention.hpp"

namespace disttgl::trainer {

BlockTensors to_block_tensors(const TemporalBlock& block, const torch::Device& device) {
  const std::int64_t num_edges = block.num_edges();
  const auto edges = static_cast<std::size_t>(num_edges);
  if (block.row.size() != edges || block.col.size() != edges || block.dt.size() != edges ||
      block.num_roots < 0 ||
      block.nodes.size() != static_cast<std::size_t>(block.num_roots) + edges) {
    throw InternalError(str_cat("to_block_tensors: inconsistent block: ", block.num_roots,
                                " roots, ", block.nodes.size(), " nodes, ", edges, " eid, ",
                                block.row.size(), " row, ", block.col.size(), " col, ",
                                block.dt.size(), " dt"));
  }
  for (std::size_t e = 0; e < edges; ++e) {
    if (block.col[e] != block.num_roots + static_cast<std::int64_t>(e) || block.row[e] < 0 ||
        block.row[e] >= block.num_roots) {
      throw InternalError(str_cat("to_block_tensors: edge ", e, " has row ", block.row[e], " col ",
                                  block.col[e], "; expected row in [0, ", block.num_roots,
                                  ") and col ", block.num_roots + static_cast<std::int64_t>(e)));
    }
  }
  const auto i64 = torch::TensorOptions().dtype(torch::kLong);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  // from_blob does not own the memory: clone before the block goes away.
  auto* row = const_cast<std::int64_t*>(block.row.data());
  auto* eid = const_cast<EdgeId*>(block.eid.data());
  auto* dt = const_cast<Timestamp*>(block.dt.data());
  BlockTensors out;
  out.num_roots = block.num_roots;
  out.row = torch::from_blob(row, {num_edges}, i64).clone().to(device);
  out.eid = torch::from_blob(eid, {num_edges}, i64).clone().to(device);
  out.dt = torch::from_blob(dt, {num_edges}, f64).clone().to(device);
  return out;
}

// ---- TemporalAttentionLayer ----

TemporalAttentionLayerImpl::TemporalAttentionLayerImpl(std::int64_t node_dim, std::int64_t edge_dim,
                                                       std::int64_t time_dim, std::int64_t out_dim,
                                                       std::int64_t num_heads, double dropout_p,
                                                       double attention_dropout_p)
    : node_dim_(node_dim), edge_dim_(edge_dim), out_dim_(out_dim), num_heads_(num_heads) {
  DISTTGL_CHECK(num_heads >= 1 && out_dim % num_heads == 0,
                "attention heads must divide the output dim");
  time_encoding = register_module("time_encoding", TimeEncoding(time_dim));
  w_q = register_module("w_q", torch::nn::Linear(node_dim + time_dim, out_dim));
  w_k = register_module("w_k", torch::nn::Linear(node_dim + edge_dim + time_dim, out_dim));
  w_v = register_module("w_v", torch::nn::Linear(node_dim + edge_dim + time_dim, out_dim));
  w_out = register_module("w_out", torch::nn::Linear(out_dim + node_dim, out_dim));
  layer_norm =
      register_module("layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({out_dim})));
  dropout = register_module("dropout", torch::nn::Dropout(dropout_p));
  attention_dropout = register_module("attention_dropout", torch::nn::Dropout(attention_dropout_p));
}

torch::Tensor TemporalAttentionLayerImpl::forward(const torch::Tensor& h, const BlockTensors& block,
                                                  const torch::Tensor& edge_features) {
  return forward(h, torch::Tensor(), block, edge_features);
}

torch::Tensor TemporalAttentionLayerImpl::forward(const torch::Tensor& table,
                                                  const torch::Tensor& index,
                                                  const BlockTensors& block,
                                                  const torch::Tensor& edge_features) {
  constexpr const char* kContext = "TemporalAttentionLayer::forward";
  const std::int64_t num_roots = block.num_roots;
  const std::int64_t num_edges = block.num_edges();
  if (index.defined()) {
    check_tensor(table, kContext, "table", torch::kFloat, {kAnyDim, node_dim_});
    check_tensor(index, kContext, "index", torch::kLong, {block.num_nodes()});
  } else {
    check_tensor(table, kContext, "h", torch::kFloat, {block.num_nodes(), node_dim_});
  }
  // Rows of the block's node list [roots..., neighbour of each edge...] as table rows.
  const auto node_rows = [&](const torch::Tensor& positions) {
    return gather_rows(table, index.defined() ? index.index_select(0, positions) : positions);
  };
  const torch::Tensor h_dst = index.defined() ? gather_rows(table, index.slice(0, 0, num_roots))
                                              : table.slice(0, 0, num_roots);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(table.device());
  const torch::Tensor q =
      w_q->forward(torch::cat({h_dst, time_encoding->forward(torch::zeros({num_roots}, f64))}, 1));

  torch::Tensor a = torch::zeros({num_roots, out_dim_}, table.options());
  if (num_edges > 0) {
    check_tensor(block.row, kContext, "block.row", torch::kLong, {num_edges});
    check_tensor(block.dt, kContext, "block.dt", torch::kDouble, {num_edges});
    if (edge_dim_ > 0) {
      check_tensor(edge_features, kContext, "edge_features", torch::kFloat, {num_edges, edge_dim_});
    }
    // Input-space attention (segment_attention.hpp): the neighbours' inputs x = [h_u || f_e ||
    // phi(dt_e) || 1] in a dense [roots, slots] layout; padding slots are masked out.
    const DenseSlots slots = dense_slots(block.row, num_roots);
    const std::int64_t num_slots = slots.num_slots;
    const torch::Tensor edge = slots.edge.clamp_min(0);
    std::vector<torch::Tensor> parts = {node_rows(edge + num_roots)};
    if (edge_dim_ > 0) parts.push_back(edge_features.index_select(0, edge));
    parts.push_back(time_encoding->forward(block.dt.index_select(0, edge)));
    parts.push_back(torch::ones({num_roots * num_slots, 1}, table.options()));
    const torch::Tensor x = torch::cat(parts, 1).view({num_roots, num_slots, -1});
    const std::int64_t width = x.size(2);
    const std::int64_t head_dim = out_dim_ / num_heads_;
    // [W | b] per head: [H, head_dim, C]; qk[r, h] = [W_k | b_k]_h^T q[r, h].
    const torch::Tensor wk = torch::cat({w_k->weight, w_k->bias.unsqueeze(1)}, 1)
                                 .view({num_heads_, head_dim, width});
    const torch::Tensor wv = torch::cat({w_v->weight, w_v->bias.unsqueeze(1)}, 1)
                                 .view({num_heads_, head_dim, width});
    torch::Tensor keep;
    const double p = attention_dropout->options.p();
    if (is_training() && p > 0.0) {
      keep = torch::empty({num_roots, num_slots, num_heads_}, table.options())
                 .bernoulli_(1.0 - p)
                 .div_(1.0 - p);
    }
    if (head_dim >= 4 * num_heads_) {
      // Few wide heads (TGN's 2 x 50): project the roots, not the slots.
      const torch::Tensor qk =
          torch::bmm(q.view({num_roots, num_heads_, head_dim}).transpose(0, 1), wk)
              .transpose(0, 1)
              .contiguous();                                                   // [R, H, C]
      const torch::Tensor agg = segment_attention(x, qk, slots.mask, keep);  // [R, H, C]
      a = torch::bmm(agg.transpose(0, 1), wv.transpose(1, 2))  // [H, R, head_dim]
              .transpose(0, 1)
              .reshape({num_roots, out_dim_});
    } else {
      // Many narrow heads: agg would be [R, H, C]; project each slot's K and V instead.
      const torch::Tensor xs = x.view({num_roots * num_slots, width});
      const torch::Tensor k = torch::matmul(xs, wk.view({out_dim_, width}).t())
                                  .view({num_roots, num_slots, num_heads_, head_dim});
      const torch::Tensor v = torch::matmul(xs, wv.view({out_dim_, width}).t())
                                  .view({num_roots, num_slots, num_heads_, head_dim});
      const torch::Tensor valid = slots.mask.unsqueeze(2);
      torch::Tensor logits = torch::leaky_relu(
          (k * q.view({num_roots, 1, num_heads_, head_dim})).sum(3), kAttentionLeakySlope);
      // float32 before the mask: bf16 autocast would make lowest() overflow.
      logits = logits.to(torch::kFloat)
                   .masked_fill(valid.logical_not(), std::numeric_limits<float>::lowest());
      torch::Tensor att = torch::softmax(logits, 1) * valid.to(logits.scalar_type());
      if (keep.defined()) att = att * keep;
      a = (att.unsqueeze(3) * v).sum(1).reshape({num_roots, out_dim_});
    }
  }
  return layer_norm->forward(
      torch::relu(dropout->forward(w_out->forward(torch::cat({a, h_dst}, 1)))));
}

// ---- AttentionEmbedding ----

AttentionEmbeddingImpl::AttentionEmbeddingImpl(std::int64_t num_layers, std::int64_t input_dim,
                                               std::int64_t edge_dim, std::int64_t time_dim,
                                               std::int64_t out_dim, std::int64_t num_heads,
                                               double dropout_p, double attention_dropout_p)
    : edge_dim_(edge_dim) {
  DISTTGL_CHECK(num_layers >= 1, "attention embedding needs at least one layer");
  for (std::int64_t i = 0; i < num_layers; ++i) {
    layers_.push_back(register_module(
        "layer" + std::to_string(i),
        TemporalAttentionLayer(i == 0 ? input_dim : out_dim, edge_dim, time_dim, out_dim, num_heads,
                               dropout_p, attention_dropout_p)));
  }
}

torch::Tensor AttentionEmbeddingImpl::forward(const torch::Tensor& h,
                                              const std::vector<BlockTensors>& blocks,
                                              const torch::Tensor& edge_table) {
  return forward(h, torch::Tensor(), blocks, edge_table);
}

torch::Tensor AttentionEmbeddingImpl::forward(const torch::Tensor& table,
                                              const torch::Tensor& index,
                                              const std::vector<BlockTensors>& blocks,
                                              const torch::Tensor& edge_table) {
  const auto num_layers = static_cast<std::int64_t>(layers_.size());
  if (static_cast<std::int64_t>(blocks.size()) != num_layers) {
    throw InternalError(str_cat("AttentionEmbedding::forward: ", blocks.size(), " blocks for ",
                                num_layers, " layers"));
  }
  for (std::size_t l = 1; l < blocks.size(); ++l) {
    if (blocks[l].num_roots != blocks[l - 1].num_nodes()) {
      throw InternalError(str_cat("AttentionEmbedding::forward: blocks[", l, "] has ",
                                  blocks[l].num_roots, " roots but blocks[", l - 1, "] has ",
                                  blocks[l - 1].num_nodes(), " nodes"));
    }
  }
  torch::Tensor x = table;
  for (std::int64_t i = 0; i < num_layers; ++i) {
    const BlockTensors& block = blocks[static_cast<std::size_t>(num_layers - 1 - i)];
    const torch::Tensor ef =
        edge_dim_ > 0 ? lookup_edge_features(edge_table, block.eid) : torch::Tensor();
    x = layers_[static_cast<std::size_t>(i)]->forward(x, i == 0 ? index : torch::Tensor(), block,
                                                      ef);
  }
  return x;
}

// ---- IdentityEmbedding, JodieTimeProjection ----

IdentityEmbeddingImpl::IdentityEmbeddingImpl(std::int64_t dim) {
  layer_norm =
      register_module("layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
}

torch::Tensor IdentityEmbeddingImpl::forward(const torch::Tensor& h) {
  return layer_norm->forward(h);
}

JodieTimeProjectionImpl::JodieTimeProjectionImpl(std::int64_t dim) {
  time_linear = register_module("time_linear", torch::nn::Linear(1, dim));
  // JODIE's NormalLinear: N(0, 1/sqrt(fan_in)) = N(0, 1) for the 1-wide input.
  torch::NoGradGuard no_grad;
  time_linear->weight.normal_(0.0, 1.0);
  time_linear->bias.normal_(0.0, 1.0);
}

torch::Tensor JodieTimeProjectionImpl::forward(const torch::Tensor& h,
                                               const torch::Tensor& memory_ts,
                                               const torch::Tensor& t) {
  constexpr const char* kContext = "JodieTimeProjection::forward";
  const std::int64_t n = h.size(0);
  check_tensor(memory_ts, kContext, "memory_ts", torch::kDouble, {n});
  check_tensor(t, kContext, "t", torch::kDouble, {n});
  const torch::Tensor diff = ((t - memory_ts) / (t + 1.0)).to(torch::kFloat).unsqueeze(1);
  return h * (1.0 + time_linear->forward(diff));
}

}  // namespace disttgl::trainer

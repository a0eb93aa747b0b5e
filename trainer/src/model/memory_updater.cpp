#include "disttgl/trainer/model/memory_updater.hpp"

#include <torch/torch.h>

#include <limits>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"

namespace disttgl::trainer {

torch::Tensor lookup_edge_features(const torch::Tensor& table, const torch::Tensor& eid) {
  if (!table.defined() || table.size(-1) == 0) return {};
  check_tensor(table, "lookup_edge_features", "table", torch::kFloat, {kAnyDim, kAnyDim});
  if (!eid.defined() || eid.scalar_type() != torch::kLong) {
    check_tensor(eid, "lookup_edge_features", "eid", torch::kLong, {kAnyDim});
  }
  const torch::Tensor flat = eid.reshape({-1});
  if (flat.numel() > 0) {
    const std::int64_t lo = flat.min().item<std::int64_t>();
    const std::int64_t hi = flat.max().item<std::int64_t>();
    if (lo < -1 || hi >= table.size(0)) {
      throw InternalError(str_cat("lookup_edge_features: event id ", lo < -1 ? lo : hi,
                                  " outside [-1, ", table.size(0), ")"));
    }
  }
  const torch::Tensor present = flat >= 0;
  const torch::Tensor rows = table.index_select(0, flat.clamp_min(0));
  std::vector<std::int64_t> shape = eid.sizes().vec();
  shape.push_back(table.size(1));
  return (rows * present.unsqueeze(1).to(rows.scalar_type())).view(shape);
}

torch::Tensor has_mail(const MemoryRows& rows) { return rows.mail_eid.select(1, -1) >= 0; }

torch::Tensor updated_memory_ts(const MemoryRows& rows) {
  return torch::where(has_mail(rows), rows.mail_ts.select(1, -1), rows.memory_ts);
}

torch::Tensor mail_input(const MemoryRows& rows, const torch::Tensor& edge_features,
                         std::int64_t edge_dim, TimeEncoding& time_encoding) {
  const std::int64_t n = rows.size();
  const std::int64_t slots = rows.slots();
  std::vector<torch::Tensor> parts = {rows.mail};
  if (edge_dim > 0) {
    check_tensor(edge_features, "mail_input", "edge_features", torch::kFloat, {kAnyDim, edge_dim});
    parts.push_back(lookup_edge_features(edge_features, rows.mail_eid));
  }
  const torch::Tensor dt = rows.mail_ts - rows.memory_ts.unsqueeze(1);  // DistTGL's dt
  parts.push_back(time_encoding->forward(dt.reshape({-1})).view({n, slots, -1}));
  return torch::cat(parts, 2);
}

namespace {

void check_rows(const MemoryRows& rows, const MemoryUpdaterDims& dims, const char* context) {
  rows.check(rows.size(), rows.slots(), dims.memory_dim, dims.mail_dim, context);
  if (rows.slots() < 1) throw InternalError(str_cat(context, ": rows have no mail slot"));
}

// GRU and RNN updaters: the newest mail's input through the cell; nodes without mail keep
// their memory.
template <typename Cell>
torch::Tensor recurrent_update(const MemoryRows& rows, const torch::Tensor& edge_features,
                               const MemoryUpdaterDims& dims, TimeEncoding& time_encoding,
                               Cell& cell, const char* context) {
  check_rows(rows, dims, context);
  const torch::Tensor x =
      mail_input(rows, edge_features, dims.edge_dim, time_encoding).select(1, -1);
  const torch::Tensor updated = cell->forward(x, rows.memory);
  return torch::where(has_mail(rows).unsqueeze(1), updated, rows.memory);
}

}  // namespace

GruMemoryUpdaterImpl::GruMemoryUpdaterImpl(const MemoryUpdaterDims& dims) : dims_(dims) {
  time_encoding = register_module("time_encoding", TimeEncoding(dims.time_dim));
  cell = register_module("cell", torch::nn::GRUCell(dims.input_dim(), dims.memory_dim));
}

torch::Tensor GruMemoryUpdaterImpl::forward(const MemoryRows& rows,
                                            const torch::Tensor& edge_features) {
  return recurrent_update(rows, edge_features, dims_, time_encoding, cell,
                          "GruMemoryUpdater::forward");
}

RnnMemoryUpdaterImpl::RnnMemoryUpdaterImpl(const MemoryUpdaterDims& dims) : dims_(dims) {
  time_encoding = register_module("time_encoding", TimeEncoding(dims.time_dim));
  cell = register_module("cell", torch::nn::RNNCell(dims.input_dim(), dims.memory_dim));
}

torch::Tensor RnnMemoryUpdaterImpl::forward(const MemoryRows& rows,
                                            const torch::Tensor& edge_features) {
  return recurrent_update(rows, edge_features, dims_, time_encoding, cell,
                          "RnnMemoryUpdater::forward");
}

AttentionMemoryUpdaterImpl::AttentionMemoryUpdaterImpl(const MemoryUpdaterDims& dims,
                                                       std::int64_t num_heads, double dropout_p,
                                                       double attention_dropout_p)
    : dims_(dims), num_heads_(num_heads) {
  DISTTGL_CHECK(num_heads >= 1 && dims.memory_dim % num_heads == 0,
                "APAN heads must divide memory_dim");
  time_encoding = register_module("time_encoding", TimeEncoding(dims.time_dim));
  w_q = register_module("w_q", torch::nn::Linear(dims.memory_dim, dims.memory_dim));
  w_k = register_module("w_k", torch::nn::Linear(dims.input_dim(), dims.memory_dim));
  w_v = register_module("w_v", torch::nn::Linear(dims.input_dim(), dims.memory_dim));
  mlp = register_module("mlp", torch::nn::Linear(dims.memory_dim, dims.memory_dim));
  layer_norm = register_module(
      "layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dims.memory_dim})));
  dropout = register_module("dropout", torch::nn::Dropout(dropout_p));
  attention_dropout = register_module("attention_dropout", torch::nn::Dropout(attention_dropout_p));
}

torch::Tensor AttentionMemoryUpdaterImpl::forward(const MemoryRows& rows,
                                                  const torch::Tensor& edge_features) {
  check_rows(rows, dims_, "AttentionMemoryUpdater::forward");
  const std::int64_t n = rows.size();
  const std::int64_t slots = rows.slots();
  const torch::Tensor x = mail_input(rows, edge_features, dims_.edge_dim, time_encoding);
  const torch::Tensor q = w_q->forward(rows.memory).view({n, 1, num_heads_, -1});
  const torch::Tensor k = w_k->forward(x).view({n, slots, num_heads_, -1});
  const torch::Tensor v = w_v->forward(x).view({n, slots, num_heads_, -1});
  torch::Tensor logits = torch::leaky_relu((q * k).sum(3), 0.2);  // [n, slots, heads]
  // Empty slots get the lowest finite logit: excluded when the node has any mail, and no
  // NaN (all -inf) for a node without mail, whose result is masked out below anyway.
  const torch::Tensor empty = (rows.mail_eid < 0).unsqueeze(2);
  // float32 first: under bf16 autocast lowest() would not fit the logits' dtype.
  logits = logits.to(torch::kFloat).masked_fill(empty, std::numeric_limits<float>::lowest());
  torch::Tensor att = torch::softmax(logits, 1);
  att = attention_dropout->forward(att);
  const torch::Tensor a = (att.unsqueeze(3) * v).sum(1).reshape({n, dims_.memory_dim});
  const torch::Tensor updated =
      torch::relu(dropout->forward(mlp->forward(layer_norm->forward(a + rows.memory))));
  return torch::where(has_mail(rows).unsqueeze(1), updated, rows.memory);
}

}  // namespace disttgl::trainer

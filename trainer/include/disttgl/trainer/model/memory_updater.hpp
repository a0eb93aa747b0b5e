// Memory updaters: s' = UPD(s, mailbox) for the rows read from a MemoryStore
// (disttgl.md §3.2 step 3, TGL memorys.py GRU/RNN/TransformerMemoryUpdater).
//
// Input of one mail (all three updaters):
//   x = [mail (d_mail) || f_e(mail_eid) (d_e; absent when d_e = 0) || phi(dt) (d_time)]
//   with dt = mail_ts - memory_ts, DistTGL's definition (its memorys.py uses
//   srcdata['mail_ts'] - srcdata['mem_ts']); TGL uses t_node - mem_ts, the time of the node's
//   appearance in the batch, which is not unique once nodes are deduplicated.
// Edge features come from a table [E(+1), d_e] indexed by mail_eid; an empty slot
// (mail_eid == -1) gets a zero vector, like DistTGL's appended zero row.
//
// Nodes without any mail keep their memory bit-for-bit (masked). TGL/DistTGL instead run
// the cell on the zero mail, which moves a never-updated memory away from 0.
//
//   GruMemoryUpdater (TGN):   s' = GRUCell(x_newest, s)
//   RnnMemoryUpdater (JODIE): s' = RNNCell(x_newest, s)  (tanh)
//   AttentionMemoryUpdater (APAN): per node, Q = W_q s (heads of d_mem/H), K, V = W_k x, W_v x
//     over the mailbox slots, logits LeakyReLU_0.2(Q.K) with no 1/sqrt(d) scaling, softmax
//     over the node's non-empty slots (TGL also attends to empty zero slots), attention
//     dropout, a = sum att V; s' = ReLU(Dropout(W_mlp LayerNorm(a + s))).
// Recurrent updaters use the newest mail (slot S-1 of the chronological rows).
// Thread-safety: as torch::nn::Module.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/rnn.h>
#include <torch/types.h>

#include <cstdint>

#include "disttgl/trainer/memory/memory_store.hpp"
#include "disttgl/trainer/model/time_encoding.hpp"

namespace disttgl::trainer {

/// Rows of `table` ([E, d_e] float32) for `eid` (any shape, int64, -1 = none): shape
/// eid.sizes() + [d_e], zero where eid == -1. Returns an undefined tensor when `table` is
/// undefined or d_e == 0. Throws InternalError for an id >= E or < -1.
torch::Tensor lookup_edge_features(const torch::Tensor& table, const torch::Tensor& eid);

/// Time each node's updated memory represents: the newest mail's mail_ts where the node has a
/// mail, else its memory_ts. [n] float64. This is the memory_ts the write-back stores
/// (DistTGL: mem_ts <- mail_ts).
torch::Tensor updated_memory_ts(const MemoryRows& rows);

/// True per node when its newest slot holds a mail: [n] bool.
torch::Tensor has_mail(const MemoryRows& rows);

/// Common interface of the updaters.
class MemoryUpdaterImpl : public torch::nn::Module {
 public:
  /// rows: n rows as read from the store (slots >= 1, d_mem, d_mail as constructed);
  /// edge_features: [E, d_e] float32 table, undefined when d_e == 0.
  /// Returns s' [n, d_mem] float32 (differentiable w.r.t. the parameters).
  virtual torch::Tensor forward(const MemoryRows& rows, const torch::Tensor& edge_features) = 0;
};

/// The per-slot input x of every mail: [n, slots, d_mail + d_e + d_time].
torch::Tensor mail_input(const MemoryRows& rows, const torch::Tensor& edge_features,
                         std::int64_t edge_dim, TimeEncoding& time_encoding);

struct MemoryUpdaterDims {
  std::int64_t memory_dim = 100;
  std::int64_t mail_dim = 200;
  std::int64_t edge_dim = 0;
  std::int64_t time_dim = 100;
  /// Width of x.
  std::int64_t input_dim() const { return mail_dim + edge_dim + time_dim; }
};

class GruMemoryUpdaterImpl : public MemoryUpdaterImpl {
 public:
  explicit GruMemoryUpdaterImpl(const MemoryUpdaterDims& dims);
  torch::Tensor forward(const MemoryRows& rows, const torch::Tensor& edge_features) override;

  TimeEncoding time_encoding{nullptr};
  torch::nn::GRUCell cell{nullptr};

 private:
  MemoryUpdaterDims dims_;
};

class RnnMemoryUpdaterImpl : public MemoryUpdaterImpl {
 public:
  explicit RnnMemoryUpdaterImpl(const MemoryUpdaterDims& dims);
  torch::Tensor forward(const MemoryRows& rows, const torch::Tensor& edge_features) override;

  TimeEncoding time_encoding{nullptr};
  torch::nn::RNNCell cell{nullptr};

 private:
  MemoryUpdaterDims dims_;
};

class AttentionMemoryUpdaterImpl : public MemoryUpdaterImpl {
 public:
  /// num_heads must divide dims.memory_dim (InternalError otherwise).
  AttentionMemoryUpdaterImpl(const MemoryUpdaterDims& dims, std::int64_t num_heads, double dropout,
                             double attention_dropout);
  torch::Tensor forward(const MemoryRows& rows, const torch::Tensor& edge_features) override;

  TimeEncoding time_encoding{nullptr};
  torch::nn::Linear w_q{nullptr};
  torch::nn::Linear w_k{nullptr};
  torch::nn::Linear w_v{nullptr};
  torch::nn::Linear mlp{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Dropout attention_dropout{nullptr};

 private:
  MemoryUpdaterDims dims_;
  std::int64_t num_heads_;
};

}  // namespace disttgl::trainer

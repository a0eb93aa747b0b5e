// Embedding modules z = EMB(h, sampled neighbourhood) of the M-TGNN (disttgl.md §3.4, §6):
//
//  * TemporalAttentionLayer (TGN/TGAT; TGL and DistTGL layers.py TransfomerAttentionLayer):
//    for each root v with sampled edges e = (u -> v) at dt_e = t_v - t_e,
//      Q = W_q [h_v || phi(0)],  K = W_k [h_u || f_e || phi(dt_e)],  V = W_v [h_u || f_e ||
//      phi(dt_e)]
//    split into H heads; logits LeakyReLU_0.2(sum Q.K) per head with NO 1/sqrt(d) scaling;
//    softmax over v's incoming edges (a root without neighbours gets a = 0); attention
//    dropout; a = sum att V (heads concatenated); z = LayerNorm(ReLU(Dropout(W_out [a || h_v]))).
//    Computed in input space (segment_attention.hpp): the roots' queries are mapped through
//    W_k^T and the values' weighted sum through W_v once per root, so no [E, out] K or V is
//    formed; the result is the same function up to float rounding.
//  * AttentionEmbedding: L such layers over L sampled blocks.
//  * IdentityEmbedding (APAN, JODIE): z = LayerNorm(h) (TGL IdentityNormLayer).
//  * JodieTimeProjection (JODIE): z = h * (1 + W ((t - memory_ts) / (t + 1))) with
//    W = Linear(1 -> d) initialised N(0, 1) (JODIE's NormalLinear).
//
// Block layout: TGL's TemporalGraphBlock as produced by TemporalSampler (block.hpp): node list
// [roots..., one entry per sampled edge...], edges grouped by root, col[e] = num_roots + e.
// So the features of a block's nodes are one tensor h [num_roots + num_edges, d] whose first
// num_roots rows are the roots and whose row num_roots + e is the neighbour of edge e.
// Thread-safety: as torch::nn::Module.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "disttgl/trainer/model/time_encoding.hpp"
#include "disttgl/trainer/sampler/block.hpp"

namespace disttgl::trainer {

/// One sampled layer as tensors (see to_block_tensors).
struct BlockTensors {
  std::int64_t num_roots = 0;
  torch::Tensor row;  ///< [E] int64 in [0, num_roots): the root of each sampled edge
  torch::Tensor dt;   ///< [E] float64: root time minus event time (> 0)
  torch::Tensor eid;  ///< [E] int64: event id, the row of the edge feature table

  std::int64_t num_edges() const { return row.defined() ? row.size(0) : 0; }
  /// Roots plus one node per sampled edge.
  std::int64_t num_nodes() const { return num_roots + num_edges(); }
};

/// Copies a TemporalBlock's edge arrays into tensors on `device`. Throws InternalError when
/// the arrays disagree in length or the block is not in the layout above
/// (col[e] != num_roots + e, row[e] outside [0, num_roots)).
BlockTensors to_block_tensors(const TemporalBlock& block, const torch::Device& device);

class TemporalAttentionLayerImpl : public torch::nn::Module {
 public:
  /// out_dim % num_heads == 0 (InternalError otherwise); edge_dim may be 0.
  TemporalAttentionLayerImpl(std::int64_t node_dim, std::int64_t edge_dim, std::int64_t time_dim,
                             std::int64_t out_dim, std::int64_t num_heads, double dropout,
                             double attention_dropout);

  /// h: [block.num_nodes(), node_dim] float32 (roots first, then the neighbour of each edge);
  /// edge_features: [block.num_edges(), edge_dim] float32, ignored when edge_dim == 0.
  /// Returns z [block.num_roots, out_dim] float32.
  torch::Tensor forward(const torch::Tensor& h, const BlockTensors& block,
                        const torch::Tensor& edge_features);

  /// The same with the block nodes' features given as rows of a table: node i of the block
  /// has table[index[i]]. table: [n, node_dim] float32; index: [block.num_nodes()] int64 in
  /// [0, n). Saves materialising (and back-propagating through) h = table[index].
  torch::Tensor forward(const torch::Tensor& table, const torch::Tensor& index,
                        const BlockTensors& block, const torch::Tensor& edge_features);

  TimeEncoding time_encoding{nullptr};
  torch::nn::Linear w_q{nullptr};
  torch::nn::Linear w_k{nullptr};
  torch::nn::Linear w_v{nullptr};
  torch::nn::Linear w_out{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Dropout attention_dropout{nullptr};

 private:
  std::int64_t node_dim_;
  std::int64_t edge_dim_;
  std::int64_t out_dim_;
  std::int64_t num_heads_;
};
TORCH_MODULE(TemporalAttentionLayer);

class AttentionEmbeddingImpl : public torch::nn::Module {
 public:
  /// Layer 0 maps input_dim -> out_dim, later layers out_dim -> out_dim.
  AttentionEmbeddingImpl(std::int64_t num_layers, std::int64_t input_dim, std::int64_t edge_dim,
                         std::int64_t time_dim, std::int64_t out_dim, std::int64_t num_heads,
                         double dropout, double attention_dropout);

  /// blocks: L blocks in the sampler's order, the innermost first: blocks[0] is rooted at
  /// the batch roots and blocks[l + 1] at every node of blocks[l]
  /// (blocks[l + 1].num_roots == blocks[l].num_nodes()).
  /// h: [blocks[L-1].num_nodes(), input_dim] float32, the inputs of the outermost block's nodes.
  /// edge_table: [E, edge_dim] float32 indexed by the blocks' eid (ignored if edge_dim == 0).
  /// Layer i consumes blocks[L-1-i]. Returns z [blocks[0].num_roots, out_dim] float32.
  torch::Tensor forward(const torch::Tensor& h, const std::vector<BlockTensors>& blocks,
                        const torch::Tensor& edge_table);

  /// The same with the outermost block's inputs given as table[index] (see
  /// TemporalAttentionLayer's indexed forward); index: [blocks[L-1].num_nodes()] int64.
  torch::Tensor forward(const torch::Tensor& table, const torch::Tensor& index,
                        const std::vector<BlockTensors>& blocks, const torch::Tensor& edge_table);

  std::int64_t num_layers() const { return static_cast<std::int64_t>(layers_.size()); }
  TemporalAttentionLayer layer(std::int64_t i) const {
    return layers_.at(static_cast<std::size_t>(i));
  }

 private:
  std::vector<TemporalAttentionLayer> layers_;
  std::int64_t edge_dim_;
};
TORCH_MODULE(AttentionEmbedding);

class IdentityEmbeddingImpl : public torch::nn::Module {
 public:
  explicit IdentityEmbeddingImpl(std::int64_t dim);
  /// h: [n, dim] float32 -> LayerNorm(h) [n, dim].
  torch::Tensor forward(const torch::Tensor& h);

  torch::nn::LayerNorm layer_norm{nullptr};
};
TORCH_MODULE(IdentityEmbedding);

class JodieTimeProjectionImpl : public torch::nn::Module {
 public:
  explicit JodieTimeProjectionImpl(std::int64_t dim);
  /// h: [n, dim] float32; memory_ts, t: [n] float64 (the memory's time and the query time).
  /// Returns h * (1 + W ((t - memory_ts) / (t + 1))) [n, dim] float32.
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& memory_ts,
                        const torch::Tensor& t);

  torch::nn::Linear time_linear{nullptr};
};
TORCH_MODULE(JodieTimeProjection);

}  // namespace disttgl::trainer

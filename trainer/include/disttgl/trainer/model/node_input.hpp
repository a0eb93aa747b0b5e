// Node input of the embedding: h = s' + node-feature and static-memory terms
// (disttgl.md §3.2 step 4 and §3.6), and the pre-training variant of the memory.
//
//  * NodeInput: h = s' (+ Linear(d_v -> d)(x_v), or + x_v when d_v == d: TGL's
//    combine_node_feature) (+ Linear(d_static -> d)(static): DistTGL's static node memory,
//    memorys.py L151-158, always through a Linear).
//  * StaticMemoryEmbedding: a trainable Embedding(N, d) that REPLACES the GRU memory when
//    pre-training the static node memory (DistTGL issue #3: "a learned embedding table to
//    replace the node memory"); its weight is later saved as the static table.
// Thread-safety: as torch::nn::Module.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace disttgl::trainer {

class NodeInputImpl : public torch::nn::Module {
 public:
  /// node_feature_dim / static_dim == 0 disable that term. `zero_static_map` starts the
  /// static term's Linear at zero (a given table: the model starts as the dynamic-only one);
  /// a joint table starts at zero itself and needs the default init here, or neither moves.
  NodeInputImpl(std::int64_t memory_dim, std::int64_t node_feature_dim, std::int64_t static_dim,
                bool zero_static_map = true);

  /// s: [n, memory_dim] float32; node_features: [n, node_feature_dim] float32 (required iff
  /// node_feature_dim > 0); static_memory: [n, static_dim] float32 (required iff
  /// static_dim > 0). Undefined tensors for disabled terms. Returns h [n, memory_dim].
  torch::Tensor forward(const torch::Tensor& s, const torch::Tensor& node_features,
                        const torch::Tensor& static_memory);

  torch::nn::Linear node_feature_map{nullptr};  ///< null when d_v is 0 or equals d
  torch::nn::Linear static_map{nullptr};        ///< null when static_dim is 0

 private:
  std::int64_t memory_dim_;
  std::int64_t node_feature_dim_;
  std::int64_t static_dim_;
};
TORCH_MODULE(NodeInput);

class StaticMemoryEmbeddingImpl : public torch::nn::Module {
 public:
  StaticMemoryEmbeddingImpl(std::int64_t num_nodes, std::int64_t dim);
  /// nodes: [n] int64 in [0, num_nodes) -> [n, dim] float32 rows of the table.
  torch::Tensor forward(const torch::Tensor& nodes);
  /// The table [num_nodes, dim] (the pre-trained static memory to save).
  torch::Tensor table() const { return embedding->weight; }

  torch::nn::Embedding embedding{nullptr};
};
TORCH_MODULE(StaticMemoryEmbedding);

}  // namespace disttgl::trainer

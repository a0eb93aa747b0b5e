#include "disttgl/trainer/model/node_input.hpp"

#include <torch/torch.h>

#include "disttgl/trainer/memory/tensor_check.hpp"

namespace disttgl::trainer {

NodeInputImpl::NodeInputImpl(std::int64_t memory_dim, std::int64_t node_feature_dim,
                             std::int64_t static_dim, bool zero_static_map)
    : memory_dim_(memory_dim), node_feature_dim_(node_feature_dim), static_dim_(static_dim) {
  if (node_feature_dim > 0 && node_feature_dim != memory_dim) {
    node_feature_map =
        register_module("node_feature_map", torch::nn::Linear(node_feature_dim, memory_dim));
  }
  if (static_dim > 0) {
    static_map = register_module("static_map", torch::nn::Linear(static_dim, memory_dim));
  }
  if (static_dim > 0 && zero_static_map) {
    // Zero weights and bias: the model starts as the dynamic-only one and takes from the static
    // node memory only what lowers the loss (docs/accuracy.md, static node memory).
    torch::NoGradGuard no_grad;
    static_map->weight.zero_();
    static_map->bias.zero_();
  }
}

torch::Tensor NodeInputImpl::forward(const torch::Tensor& s, const torch::Tensor& node_features,
                                     const torch::Tensor& static_memory) {
  constexpr const char* kContext = "NodeInput::forward";
  check_tensor(s, kContext, "s", torch::kFloat, {kAnyDim, memory_dim_});
  const std::int64_t n = s.size(0);
  torch::Tensor h = s;
  if (node_feature_dim_ > 0) {
    check_tensor(node_features, kContext, "node_features", torch::kFloat, {n, node_feature_dim_});
    h = h + (node_feature_map ? node_feature_map->forward(node_features) : node_features);
  }
  if (static_dim_ > 0) {
    check_tensor(static_memory, kContext, "static_memory", torch::kFloat, {n, static_dim_});
    h = h + static_map->forward(static_memory);
  }
  return h;
}

StaticMemoryEmbeddingImpl::StaticMemoryEmbeddingImpl(std::int64_t num_nodes, std::int64_t dim) {
  embedding = register_module("embedding", torch::nn::Embedding(num_nodes, dim));
}

torch::Tensor StaticMemoryEmbeddingImpl::forward(const torch::Tensor& nodes) {
  check_node_ids(nodes, embedding->options.num_embeddings(), "StaticMemoryEmbedding::forward");
  return embedding->forward(nodes);
}

}  // namespace disttgl::trainer

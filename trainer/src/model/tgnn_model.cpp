#include "disttgl/trainer/model/tgnn_model.hpp"

#include <torch/torch.h>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"
#include "disttgl/trainer/model/gather_rows.hpp"

namespace disttgl::trainer {

std::pair<torch::Tensor, torch::Tensor> unique_with_index(const torch::Tensor& nodes) {
  check_tensor(nodes, "unique_with_index", "nodes", torch::kLong, {kAnyDim});
  auto [unique, inverse, counts] =
      torch::_unique2(nodes, /*sorted=*/true, /*return_inverse=*/true, /*return_counts=*/false);
  return {unique, inverse};
}

TGNNModelImpl::TGNNModelImpl(const ModelConfig& config) : config_(config) {
  config.validate();
  const MemoryUpdaterDims dims{config.memory_dim, config.mail_dim(), config.edge_feature_dim,
                               config.time_dim};
  if (config.pretrain_static) {
    static_embedding = register_module("static_embedding",
                                       StaticMemoryEmbedding(config.num_nodes, config.memory_dim));
  } else {
    switch (config.kind) {
      case ModelKind::kTgn:
        memory_updater =
            register_module("memory_updater", std::make_shared<GruMemoryUpdaterImpl>(dims));
        break;
      case ModelKind::kJodie:
        memory_updater =
            register_module("memory_updater", std::make_shared<RnnMemoryUpdaterImpl>(dims));
        break;
      case ModelKind::kApan:
        memory_updater = register_module(
            "memory_updater",
            std::make_shared<AttentionMemoryUpdaterImpl>(dims, config.memory_heads, config.dropout,
                                                         config.attention_dropout));
        break;
    }
  }
  if (config.joint_static) {
    static_embedding = register_module(
        "static_embedding", StaticMemoryEmbedding(config.num_nodes, config.static_memory_dim));
    // Zero rows: the model starts as the dynamic-only one and a node's row moves only with
    // gradients from the events it takes part in.
    torch::NoGradGuard no_grad;
    static_embedding->embedding->weight.zero_();
  }
  const bool with_static = config.use_static || config.joint_static;
  if (with_static && config.num_nodes > 0) {
    static_known = register_buffer("static_known", torch::ones({config.num_nodes}));
  }
  node_input =
      register_module("node_input", NodeInput(config.memory_dim, config.node_feature_dim,
                                              with_static ? config.static_memory_dim : 0,
                                              !config.joint_static));
  if (config.kind == ModelKind::kTgn) {
    attention =
        register_module("attention", AttentionEmbedding(config.num_layers, config.memory_dim,
                                                        config.edge_feature_dim, config.time_dim,
                                                        config.embedding_dim, config.num_heads,
                                                        config.dropout, config.attention_dropout));
  } else {
    identity = register_module("identity", IdentityEmbedding(config.memory_dim));
    if (config.kind == ModelKind::kJodie) {
      jodie_projection =
          register_module("jodie_projection", JodieTimeProjection(config.memory_dim));
    }
  }
  predictor = register_module("predictor", EdgePredictor(config.output_dim()));
}

void TGNNModelImpl::set_static_known(const std::vector<std::uint8_t>& known) {
  if (!static_known.defined()) return;
  if (static_cast<std::int64_t>(known.size()) != static_known.size(0)) {
    throw InternalError(str_cat("set_static_known: ", known.size(), " flags for ",
                                static_known.size(0), " nodes"));
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor flags =
      torch::from_blob(const_cast<std::uint8_t*>(known.data()),
                       {static_cast<std::int64_t>(known.size())}, torch::kUInt8)
          .to(torch::kFloat32);
  static_known.copy_(flags);
}

void TGNNModelImpl::check_inputs(const ModelInputs& in) const {
  constexpr const char* kContext = "TGNNModel::forward";
  const ModelConfig& c = config_;
  const std::int64_t b = in.num_positives;
  const std::int64_t n = in.num_negatives;
  if (b < 1 || n < 0) {
    throw InternalError(
        str_cat(kContext, ": num_positives ", b, " / num_negatives ", n, " out of range"));
  }
  const std::int64_t num_roots = b * (2 + n);
  check_tensor(in.unique_nodes, kContext, "inputs.unique_nodes", torch::kLong, {kAnyDim});
  const std::int64_t u = in.unique_nodes.size(0);
  if (!c.pretrain_static) {
    in.memory.check(u, c.mailbox_size, c.memory_dim, c.mail_dim(), kContext);
  }
  const std::int64_t expected_layers = c.kind == ModelKind::kTgn ? c.num_layers : 0;
  if (static_cast<std::int64_t>(in.blocks.size()) != expected_layers) {
    throw InternalError(str_cat(kContext, ": ", in.blocks.size(), " blocks given, the ",
                                to_string(c.kind), " model needs ", expected_layers));
  }
  if (!in.blocks.empty() && in.blocks.front().num_roots != num_roots) {
    throw InternalError(str_cat(kContext, ": blocks[0] has ", in.blocks.front().num_roots,
                                " roots, expected B * (2 + n) = ", num_roots));
  }
  const std::int64_t m = in.blocks.empty() ? num_roots : in.blocks.back().num_nodes();
  check_node_ids(in.node_index, u, kContext, "inputs.node_index");
  check_tensor(in.node_index, kContext, "inputs.node_index", torch::kLong, {m});
  if (c.kind == ModelKind::kJodie) {
    check_tensor(in.root_times, kContext, "inputs.root_times", torch::kDouble, {num_roots});
  }
  if (c.edge_feature_dim > 0) {
    check_tensor(in.edge_features, kContext, "inputs.edge_features", torch::kFloat,
                 {kAnyDim, c.edge_feature_dim});
  }
  if (c.node_feature_dim > 0) {
    check_tensor(in.node_features, kContext, "inputs.node_features", torch::kFloat,
                 {u, c.node_feature_dim});
  }
  if (c.use_static) {
    check_tensor(in.static_memory, kContext, "inputs.static_memory", torch::kFloat,
                 {u, c.static_memory_dim});
  }
}

ModelOutputs TGNNModelImpl::forward(const ModelInputs& in) {
  check_inputs(in);
  const std::int64_t b = in.num_positives;
  const std::int64_t num_roots = b * (2 + in.num_negatives);
  ModelOutputs out;
  torch::Tensor s;
  if (config_.pretrain_static) {
    s = static_embedding->forward(in.unique_nodes);
  } else {
    s = memory_updater->forward(in.memory, in.edge_features);
    out.updated_memory = s;
    out.updated_memory_ts = updated_memory_ts(in.memory);
  }
  torch::Tensor static_memory;
  if (config_.joint_static || config_.use_static) {
    const torch::Tensor rows =
        config_.joint_static ? static_embedding->forward(in.unique_nodes) : in.static_memory;
    static_memory = static_known.defined()
                        ? rows * static_known.index_select(0, in.unique_nodes).unsqueeze(1)
                        : rows;
    if (is_training() && config_.static_dropout > 0.0) {
      const double keep = 1.0 - config_.static_dropout;
      const torch::Tensor mask =
          torch::bernoulli(torch::full({static_memory.size(0), 1}, keep, static_memory.options()));
      static_memory = static_memory * mask / keep;
    }
  }
  const torch::Tensor h_unique = node_input->forward(s, in.node_features, static_memory);
  const torch::Tensor root_index = in.node_index.slice(0, 0, num_roots);
  switch (config_.kind) {
    case ModelKind::kTgn:
      out.embeddings = attention->forward(h_unique, in.node_index, in.blocks, in.edge_features);
      break;
    case ModelKind::kJodie: {
      out.embeddings = jodie_projection->forward(identity->forward(gather_rows(h_unique, root_index)),
                                                 out.updated_memory_ts.index_select(0, root_index),
                                                 in.root_times);
      break;
    }
    case ModelKind::kApan:
      out.embeddings = identity->forward(gather_rows(h_unique, root_index));
      break;
  }
  LinkLogits logits = predictor->forward(out.embeddings, b);
  out.pos_logits = logits.pos;
  out.neg_logits = logits.neg;
  return out;
}

}  // namespace disttgl::trainer

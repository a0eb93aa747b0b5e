#include "disttgl/trainer/model/model_config.hpp"

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"

namespace disttgl::trainer {

std::string_view to_string(ModelKind kind) {
  switch (kind) {
    case ModelKind::kTgn:
      return "tgn";
    case ModelKind::kJodie:
      return "jodie";
    case ModelKind::kApan:
      return "apan";
  }
  return "unknown";
}

ModelKind parse_model_kind(std::string_view name) {
  if (name == "tgn") return ModelKind::kTgn;
  if (name == "jodie") return ModelKind::kJodie;
  if (name == "apan") return ModelKind::kApan;
  throw ConfigError(
      str_cat("model.kind: unknown model '", name, "' (expected tgn, jodie or apan)"));
}

std::string_view to_string(DeliverTo to) {
  return to == DeliverTo::kNeighbors ? "neighbors" : "self";
}

std::string_view to_string(LossKind kind) {
  switch (kind) {
    case LossKind::kBinaryCrossEntropy:
      return "bce";
    case LossKind::kSoftmaxCrossEntropy:
      return "softmax_ce";
  }
  return "unknown";
}

LossKind parse_loss_kind(std::string_view name) {
  if (name == "bce") return LossKind::kBinaryCrossEntropy;
  if (name == "softmax_ce") return LossKind::kSoftmaxCrossEntropy;
  throw ConfigError(str_cat("train.loss: unknown loss '", name, "' (expected bce or softmax_ce)"));
}

ModelConfig ModelConfig::defaults(ModelKind kind) {
  ModelConfig c;
  c.kind = kind;
  switch (kind) {
    case ModelKind::kTgn:
      break;
    case ModelKind::kJodie:
      c.num_layers = 0;
      c.fanouts.clear();
      c.dropout = 0.1;
      c.attention_dropout = 0.1;
      break;
    case ModelKind::kApan:
      c.num_layers = 0;
      c.fanouts.clear();
      c.mailbox_size = 10;
      c.dropout = 0.1;
      c.attention_dropout = 0.1;
      break;
  }
  return c;
}

namespace {

void require(bool ok, std::string_view field, const std::string& why) {
  if (!ok) throw ConfigError(str_cat("model.", field, ": ", why));
}

void require_positive(std::int64_t value, std::string_view field) {
  require(value >= 1, field, str_cat("must be >= 1, got ", value));
}

void require_non_negative(std::int64_t value, std::string_view field) {
  require(value >= 0, field, str_cat("must be >= 0, got ", value));
}

void require_probability(double value, std::string_view field) {
  require(value >= 0.0 && value < 1.0, field, str_cat("must be in [0, 1), got ", value));
}

}  // namespace

void ModelConfig::validate() const {
  require_positive(memory_dim, "memory_dim");
  require_positive(time_dim, "time_dim");
  require_positive(embedding_dim, "embedding_dim");
  require_probability(dropout, "dropout");
  require_probability(attention_dropout, "attention_dropout");
  require_positive(mailbox_size, "mailbox_size");
  require_non_negative(edge_feature_dim, "edge_feature_dim");
  require_non_negative(node_feature_dim, "node_feature_dim");
  require_non_negative(static_memory_dim, "static_memory_dim");
  if (kind == ModelKind::kTgn) {
    require_positive(num_layers, "num_layers");
    require_positive(num_heads, "num_heads");
    require(embedding_dim % num_heads == 0, "num_heads",
            str_cat(num_heads, " heads do not divide embedding_dim ", embedding_dim));
  } else {
    require(num_layers == 0, "num_layers",
            str_cat(to_string(kind), " uses the identity embedding, so num_layers must be 0, got ",
                    num_layers));
  }
  require(static_cast<std::int64_t>(fanouts.size()) == num_layers, "fanouts",
          str_cat("has ", fanouts.size(), " entries for ", num_layers, " layers"));
  for (const int f : fanouts) require(f >= 1, "fanouts", str_cat("entry ", f, " is < 1"));
  if (kind == ModelKind::kApan) {
    require_positive(memory_heads, "memory_heads");
    require(memory_dim % memory_heads == 0, "memory_heads",
            str_cat(memory_heads, " heads do not divide memory_dim ", memory_dim));
  }
  require(deliver_to == DeliverTo::kSelf || kind == ModelKind::kApan, "deliver_to",
          str_cat("neighbors is only supported for kind apan, got ", to_string(kind)));
  if (deliver_to == DeliverTo::kNeighbors) require_positive(deliver_fanout, "deliver_fanout");
  if (use_static) {
    require(static_memory_dim >= 1, "static_memory_dim", "must be >= 1 when use_static is set");
  }
  require_probability(static_dropout, "static_dropout");
  if (joint_static) {
    require(!use_static && !pretrain_static, "joint_static",
            "cannot be combined with a static memory file or pre-training");
    require(static_memory_dim >= 1, "static_memory_dim", "must be >= 1 when joint_static is set");
    require(num_nodes >= 1, "num_nodes", "must be >= 1 when joint_static is set");
  }
  if (pretrain_static) {
    require(kind == ModelKind::kTgn, "pretrain_static", "is only supported for kind tgn");
    require(!use_static, "pretrain_static", "cannot be combined with use_static");
    require_positive(num_nodes, "num_nodes");
  }
}

}  // namespace disttgl::trainer

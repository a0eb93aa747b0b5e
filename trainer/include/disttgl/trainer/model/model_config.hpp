// Hyperparameters of the M-TGNN model (TGNNModel) and the loss selector. Torch-free, so
// config parsing does not need LibTorch headers.
//
// Per-kind defaults follow TGL's config/*.yml table (disttgl.md §6) and DistTGL's
// get_config.py for TGN:
//   tgn:   GRU memory, 1 temporal attention layer (2 heads, recent-10 sampling), mailbox 1,
//          dropout 0.2 / attention dropout 0.2.
//   jodie: RNN memory, identity embedding + JODIE time projection, no sampling, mailbox 1.
//   apan:  attention-over-mailbox memory (2 heads), identity embedding, mailbox 10,
//          dropout 0.1 / 0.1. TGL's APAN also delivers mails to sampled neighbours
//          (`deliver_to: neighbors`, configs/apan.yaml); that is `deliver_to` below, which
//          defaults to self for every kind so that configs and checkpoints written before it
//          keep their meaning.
// Dimensions default to 100 everywhere (memory, time encoding, embedding).
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace disttgl::trainer {

enum class ModelKind { kTgn, kJodie, kApan };

/// "tgn", "jodie", "apan".
std::string_view to_string(ModelKind kind);
/// Inverse of to_string; throws ConfigError("model.kind: unknown model 'x' (expected tgn,
/// jodie or apan)").
ModelKind parse_model_kind(std::string_view name);

/// Who receives a positive endpoint's new mail after a batch (TGL's memory.deliver_to):
/// kSelf the endpoint only; kNeighbors also its `deliver_fanout` sampled temporal neighbours
/// (APAN only; see pipeline.hpp for the exact write).
enum class DeliverTo { kSelf, kNeighbors };

/// "self", "neighbors".
std::string_view to_string(DeliverTo to);

/// Link-prediction loss (loss.hpp). kBinaryCrossEntropy is TGL's BCE-with-logits, positives
/// against 1 and negatives against 0; kSoftmaxCrossEntropy is DistTGL's cross entropy over
/// [pos, neg_1..neg_n] with target index 0 (disttgl.md §3.5).
enum class LossKind { kBinaryCrossEntropy, kSoftmaxCrossEntropy };

/// "bce", "softmax_ce".
std::string_view to_string(LossKind kind);
/// Inverse of to_string; throws ConfigError naming the key "train.loss".
LossKind parse_loss_kind(std::string_view name);

struct ModelConfig {
  ModelKind kind = ModelKind::kTgn;
  std::int64_t memory_dim = 100;     ///< d_mem; mails are 2 * memory_dim wide
  std::int64_t time_dim = 100;       ///< width of every time encoding
  std::int64_t embedding_dim = 100;  ///< attention output width (tgn); identity kinds use d_mem
  double dropout = 0.2;
  double attention_dropout = 0.2;
  std::int64_t num_layers = 1;      ///< temporal attention layers (tgn >= 1; jodie/apan 0)
  std::int64_t num_heads = 2;       ///< heads of each attention layer
  std::int64_t memory_heads = 2;    ///< heads of APAN's mailbox attention
  std::vector<int> fanouts = {10};  ///< neighbours sampled per layer (one entry per layer)
  std::int64_t mailbox_size = 1;    ///< mails kept per node (APAN 10)
  DeliverTo deliver_to = DeliverTo::kSelf;  ///< kNeighbors only for kind apan
  /// Temporal neighbours sampled per positive endpoint for kNeighbors (TGL's APAN: recent 10;
  /// apan has no GNN, so this is not a `fanouts` entry). Ignored for kSelf.
  int deliver_fanout = 10;
  std::int64_t edge_feature_dim = 0;
  std::int64_t node_feature_dim = 0;
  std::int64_t static_memory_dim = 0;  ///< width of DistTGL's static node memory table
  bool use_static = false;             ///< h = s' + Linear(static) (disttgl.md §3.6)
  /// Static-memory pre-training: a trainable Embedding(num_nodes, memory_dim) replaces the
  /// GRU memory (tgn only; disttgl.md §3.6 "how to reproduce", unverified recipe).
  bool pretrain_static = false;
  /// DistTGL's static node memory learnt jointly with the model (YAML memory.static: joint):
  /// a per-node Embedding(num_nodes, static_memory_dim), zero-initialised and combined as
  /// use_static's table is; rows of nodes without a training event stay zero (docs/accuracy.md
  /// "static node memory" for why this replaces the pre-trained table by default).
  bool joint_static = false;
  /// Training only: each node's static term is dropped with this probability (the rest scaled
  /// by 1 / (1 - p)), so the model cannot lean on a per-node table alone (YAML
  /// memory.static_dropout).
  double static_dropout = 0.0;
  std::int64_t num_nodes = 0;  ///< required when pretrain_static or joint_static

  /// The defaults of `kind` listed in the file comment.
  static ModelConfig defaults(ModelKind kind);
  /// Throws ConfigError naming the first bad field as "model.<field>: <why>".
  void validate() const;
  std::int64_t mail_dim() const { return 2 * memory_dim; }
  /// Width of the embeddings z fed to the edge predictor.
  std::int64_t output_dim() const { return kind == ModelKind::kTgn ? embedding_dim : memory_dim; }
};

}  // namespace disttgl::trainer

// TGNNModel: the compute stage of the memory-based TGNN (TGN, JODIE, APAN) assembled from a
// ModelConfig, for a training loop built as  sample -> gather -> compute -> write back.
//
// One forward (disttgl.md §3.2):
//   1. s' = memory updater(memory rows of the U unique nodes, edge features)
//      (pretrain_static: s' = Embedding(unique_nodes) instead);
//   2. h_u = NodeInput(s', node features, static memory)                     [U, d]
//   3. h = h_u[node_index]: the input of every node of the outermost block      [M, d]
//   4. z = embedding: tgn  AttentionEmbedding over the blocks,
//                     jodie JodieTimeProjection(IdentityEmbedding(h[:R]), memory_ts', t_root),
//                     apan  IdentityEmbedding(h[:R])                            [R, d_out]
//   5. logits = EdgePredictor(z, B).
// The batch's own events never influence its predictions: the memory rows are those read
// before the batch (they hold only mails of earlier batches), the sampler only returns
// strictly earlier events, and the batch's new mails leave through make_memory_write
// (write_back.hpp) after the forward.
// Thread-safety: as torch::nn::Module.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "disttgl/trainer/memory/memory_store.hpp"
#include "disttgl/trainer/model/edge_predictor.hpp"
#include "disttgl/trainer/model/embedding.hpp"
#include "disttgl/trainer/model/memory_updater.hpp"
#include "disttgl/trainer/model/model_config.hpp"
#include "disttgl/trainer/model/node_input.hpp"

namespace disttgl::trainer {

/// Everything one forward consumes, already gathered on the model's device.
/// Roots: R = B * (2 + n) = [src (B), dst (B), negatives (B*n, negative k of event i at
/// 2B + i*n + k)], all at their event's time.
struct ModelInputs {
  std::int64_t num_positives = 0;  ///< B >= 1
  std::int64_t num_negatives = 0;  ///< n per positive (>= 0)
  /// [U] int64: the distinct node ids of the outermost block's node list (or of the roots
  /// when there are no blocks), e.g. from unique_with_index().
  torch::Tensor unique_nodes;
  /// The U nodes' rows as read from the MemoryStore before this batch (slots ==
  /// mailbox_size). Unused (may be empty) when pretrain_static.
  MemoryRows memory;
  /// [M] int64 in [0, U): unique slot of every node of blocks.back() (M = its num_nodes()),
  /// or of the R roots when blocks is empty. Its first R entries are the roots, because
  /// every block's node list starts with its roots.
  torch::Tensor node_index;
  /// tgn: config.num_layers blocks, innermost first (see AttentionEmbedding); else empty.
  std::vector<BlockTensors> blocks;
  /// [R] float64 root times; required for jodie, ignored otherwise.
  torch::Tensor root_times;
  /// [E, d_e] float32 edge feature table indexed by event id (blocks' eid and mail_eid);
  /// required iff edge_feature_dim > 0.
  torch::Tensor edge_features;
  /// [U, d_v] float32 node features of the unique nodes; required iff node_feature_dim > 0.
  torch::Tensor node_features;
  /// [U, d_static] float32 static node memory of the unique nodes; required iff use_static.
  torch::Tensor static_memory;
};

struct ModelOutputs {
  torch::Tensor pos_logits;  ///< [B] float32
  torch::Tensor neg_logits;  ///< [B, n] float32
  /// [U, d_mem] float32 s', the memory after consuming the mails it was read with (attached
  /// to the autograd graph); undefined when pretrain_static.
  torch::Tensor updated_memory;
  /// [U] float64 time represented by updated_memory (updated_memory_ts()); undefined when
  /// pretrain_static.
  torch::Tensor updated_memory_ts;
  torch::Tensor embeddings;  ///< [R, d_out] float32 z of the roots
};

/// Distinct values of `nodes` ([m] int64) and the position of each node among them:
/// {unique [U] sorted ascending, index [m] with unique[index[i]] == nodes[i]}.
std::pair<torch::Tensor, torch::Tensor> unique_with_index(const torch::Tensor& nodes);

class TGNNModelImpl : public torch::nn::Module {
 public:
  /// Validates the config (ConfigError) and builds the modules.
  explicit TGNNModelImpl(const ModelConfig& config);

  /// Throws InternalError naming the tensor when an input does not match the documented
  /// shapes/dtypes or the config.
  ModelOutputs forward(const ModelInputs& inputs);

  const ModelConfig& config() const { return config_; }

  /// Submodules (null where the config does not use them).
  std::shared_ptr<MemoryUpdaterImpl> memory_updater;
  StaticMemoryEmbedding static_embedding{nullptr};
  /// [num_nodes] float32 buffer, 1 for nodes with a training event: the static node memory
  /// (a table given in ModelInputs::static_memory, or the joint one) is multiplied by it, so
  /// a node absent from the training split has no learnt static state, only the dynamic
  /// memory. All ones until set_static_known(); saved in checkpoints.
  torch::Tensor static_known;
  /// Sets static_known from [num_nodes] 0/1 values (the training split's nodes). Throws
  /// InternalError on a wrong length.
  void set_static_known(const std::vector<std::uint8_t>& known);
  NodeInput node_input{nullptr};
  AttentionEmbedding attention{nullptr};
  IdentityEmbedding identity{nullptr};
  JodieTimeProjection jodie_projection{nullptr};
  EdgePredictor predictor{nullptr};

 private:
  void check_inputs(const ModelInputs& in) const;

  ModelConfig config_;
};
TORCH_MODULE(TGNNModel);

}  // namespace disttgl::trainer

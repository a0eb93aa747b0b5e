// Training configuration: the YAML files under configs/ (tgn.yaml, jodie.yaml, apan.yaml) with
// TGL's defaults. The model kind picks the memory updater (tgn GRU, jodie RNN, apan attention
// over the mailbox) and the embedding (tgn temporal attention, jodie time projection, apan
// identity); ModelConfig::defaults(kind) gives the rest, and the file overrides it (batch 600, Adam
// lr 1e-4, dims 100, dropout 0.2; disttgl.md §6). Parsing is strict: an unknown key or an
// out-of-range value is a ConfigError naming the key path
// ("configs/tgn.yaml: memory.dim: must be >= 1, got 0").
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "disttgl/trainer/model/model_config.hpp"

namespace disttgl::trainer {

struct SamplingConfig {
  std::string strategy = "recent";  ///< "recent" or "uniform" temporal neighbours
};

struct OptimConfig {
  std::int64_t batch_size = 600;
  std::int64_t epochs = 10;
  double lr = 1e-4;
  LossKind loss = LossKind::kBinaryCrossEntropy;
  std::int64_t train_negatives = 1;  ///< negatives per positive in training
  std::int64_t patience = 3;         ///< early stop after this many epochs without a better
                                     ///< validation metric; 0 = never
  std::string select_metric = "ap";  ///< "ap" or "mrr": which validation metric picks the best
};

struct EvalConfig {
  std::int64_t mrr_negatives = 49;  ///< DistTGL's fixed evaluation negatives per positive
  std::uint64_t negative_seed = 2;  ///< evaluation negatives are fixed by this seed
  /// Rank validation positives against all mrr_negatives every epoch. false scores validation
  /// with its first negative only (the AP/AUC pair: 3 roots per event instead of 51 with 49
  /// negatives, about 17x less work) and logs val MRR as null; test always gets MRR. Needs
  /// select_metric ap.
  bool validation_mrr = true;
};

struct TrainConfig {
  std::string source;  ///< file the config came from (for messages)
  ModelConfig model;   ///< dataset-dependent fields (feature dims, num_nodes) are filled later
  SamplingConfig sampling;
  OptimConfig optim;
  EvalConfig eval;
};

/// Parses a YAML config file. Throws ConfigError naming the file and key on an unknown key,
/// a wrong type or an out-of-range value, and InputError when the file cannot be read.
TrainConfig load_config(const std::string& path);

/// Parses YAML text; `source` names it in messages. Same errors as load_config.
TrainConfig parse_config(const std::string& yaml_text, const std::string& source);

/// The canonical YAML form of `config` (every key, defaults included).
std::string to_yaml(const TrainConfig& config);

}  // namespace disttgl::trainer

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

#include "disttgl/trainer/sampler/negative.hpp"
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
  /// Negatives of validation (which picks the best epoch) and of test's headline AP, AUC and
  /// MRR: random, historical or inductive (Poursafaei et al., NeurIPS 2022; negative.hpp).
  /// Test also reports every strategy's AP and AUC (summary.json "test.negatives").
  NegativeStrategy negative_strategy = NegativeStrategy::kRandom;
};

/// Where and how the compute runs (YAML section `runtime`; the CLI's --device, --precision
/// and --deterministic override it).
struct RuntimeConfig {
  /// "auto" (the first visible GPU if any, else the CPU), "cpu", "cuda" or "cuda:N".
  /// Checked against the machine when the trainer starts (resolve_device in device.hpp).
  std::string device = "auto";
  /// "fp32" (default) or "bf16": bf16 autocast of the forward and loss; parameters, optimizer
  /// state and node memory stay float32.
  std::string precision = "fp32";
  /// Deterministic kernels only (torch's setDeterministicAlgorithms): bit-reproducible runs
  /// on one GPU at some speed cost. The CPU path is deterministic either way.
  bool deterministic = false;
};

struct TrainConfig {
  std::string source;  ///< file the config came from (for messages)
  ModelConfig model;   ///< dataset-dependent fields (feature dims, num_nodes) are filled later
  SamplingConfig sampling;
  OptimConfig optim;
  EvalConfig eval;
  RuntimeConfig runtime;
};

/// True for "auto", "cpu", "cuda" and "cuda:N" (N in 0..99, no leading zeros).
bool is_device_syntax(const std::string& device);

/// Checks the syntax of a device string ("auto", "cpu", "cuda", "cuda:N" with N >= 0);
/// throws ConfigError "FIELD: unknown device 'X' (expected auto, cpu, cuda or cuda:N)".
void check_device_syntax(const std::string& device, const std::string& field);

/// Parses a YAML config file. Throws ConfigError naming the file and key on an unknown key,
/// a wrong type or an out-of-range value, and InputError when the file cannot be read.
TrainConfig load_config(const std::string& path);

/// Parses YAML text; `source` names it in messages. Same errors as load_config.
TrainConfig parse_config(const std::string& yaml_text, const std::string& source);

/// The canonical YAML form of `config` (every key, defaults included).
std::string to_yaml(const TrainConfig& config);

}  // namespace disttgl::trainer

// Checkpoint files of the trainer: one torch archive with nested archives "model",
// "optimizer", "memory" and scalar entries for the epoch counters, the CPU RNG state and the
// config (YAML text). Private to the train library.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "disttgl/trainer/memory/memory_store.hpp"

namespace disttgl::trainer::detail {

inline constexpr const char* kCheckpointFormat = "disttgl-checkpoint-1";

struct CheckpointMeta {
  std::int64_t epoch = 0;       ///< epochs completed
  std::int64_t best_epoch = 0;  ///< 0 = none yet
  double best_metric = -1.0;
  std::int64_t stale_epochs = 0;  ///< epochs since the best one
  std::int64_t num_nodes = 0;
  std::int64_t num_events = 0;
  std::string config_yaml;
};

/// Writes atomically (temp file + rename). Throws IoError.
void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const MemoryStore* memory,
                     const CheckpointMeta& meta);

/// Reads only the metadata (to build the model before loading it). Throws InputError
/// "FILE: not a disttgl checkpoint (...)" when unreadable.
CheckpointMeta read_checkpoint_meta(const std::string& path);

/// Loads model, optimizer (if not null), memory (if not null) and the CPU RNG state.
/// Throws InputError naming the file when a part is missing or does not fit.
void load_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, MemoryStore* memory, bool restore_rng);

}  // namespace disttgl::trainer::detail

// Checkpoint files of the trainer: one torch archive with nested archives "model",
// "optimizer", "memory" and scalar entries for the epoch counters, the CPU RNG state ("rng"),
// the CUDA RNG state of a GPU run ("rng_cuda") and the config (YAML text). Tensors keep the
// device they were saved from; loading maps them to the loading run's device, so a file
// written on a GPU loads on a CPU-only machine and back. Private to the train library.
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
  /// The static node memory the model was trained with: shape and CRC-32 of its float32
  /// bytes; rows 0 = none. `static_memory_recorded` is false for checkpoints written before
  /// these fields existed (then nothing is checked).
  std::int64_t static_memory_rows = 0;
  std::int64_t static_memory_dim = 0;
  std::int64_t static_memory_crc32 = 0;
  bool static_memory_recorded = true;
};

/// Fills the static_memory_* fields of `meta` from `table` ([N, d] float32, or undefined for
/// none).
void record_static_memory(CheckpointMeta& meta, const torch::Tensor& table);

/// Refuses a static node memory that differs from the one `checkpoint` was trained with
/// (`saved`): missing, unexpected, or another table. `given` is the run's meta (filled by
/// record_static_memory), `given_file` the --static-memory path ("" for none).
/// Throws InputError naming the checkpoint and the flag.
void check_static_memory(const CheckpointMeta& saved, const CheckpointMeta& given,
                         const std::string& checkpoint, const std::string& given_file);

/// Writes atomically (temp file + rename); `device` is the run's (its CUDA RNG state is
/// saved when it is a GPU). Throws IoError.
void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const MemoryStore* memory,
                     const CheckpointMeta& meta, const torch::Device& device);

/// Reads only the metadata (to build the model before loading it). Throws InputError
/// "FILE: not a disttgl checkpoint (...)" when unreadable.
CheckpointMeta read_checkpoint_meta(const std::string& path);

/// Loads model, optimizer (if not null), memory (if not null) and, with restore_rng, the
/// CPU RNG state and, on a GPU with a GPU-written file, the CUDA one; every tensor is mapped
/// to `device` (the model's). Throws InputError naming the file when a part is missing or
/// does not fit.
void load_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, MemoryStore* memory, bool restore_rng,
                     const torch::Device& device);

}  // namespace disttgl::trainer::detail

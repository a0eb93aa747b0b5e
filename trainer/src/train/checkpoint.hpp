// Checkpoint files of the trainer: one torch archive with nested archives "model",
// "optimizer", "memory" and scalar entries for the epoch counters, the CPU RNG state ("rng"),
// the CUDA RNG state of a GPU run ("rng_cuda") and the config (YAML text). Tensors keep the
// device they were saved from; loading maps them to the loading run's device, so a file
// written on a GPU loads on a CPU-only machine and back. Private to the train library.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

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
/// `group_memory`: a distributed run's node memory, one memory_to_bytes() per memory group
/// (entries "group_memory_count" and "group_memory_G").
void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const MemoryStore* memory,
                     const CheckpointMeta& meta, const torch::Device& device,
                     const std::vector<std::vector<std::uint8_t>>& group_memory = {});

/// A memory store's whole state (MemoryStore::save) as the bytes of a torch archive.
std::vector<std::uint8_t> memory_to_bytes(const MemoryStore& memory);

/// Restores `memory` from memory_to_bytes() output; InputError naming `label` when the bytes
/// are damaged or for other dimensions.
void memory_from_bytes(MemoryStore& memory, const std::vector<std::uint8_t>& bytes,
                       const std::string& label);

/// Memory group `group`'s bytes from a distributed checkpoint of `groups` memory groups
/// (`bytes`, or the file at `path` when null). InputError naming `path` when the checkpoint
/// holds another number of groups (another layout's k) or none.
std::vector<std::uint8_t> read_group_memory(const std::string& path, std::int32_t group,
                                            std::int32_t groups,
                                            const std::vector<std::uint8_t>* bytes = nullptr);

/// Reads only the metadata (to build the model before loading it). Throws InputError
/// "FILE: not a disttgl checkpoint (...)" when unreadable.
/// With `bytes`, the checkpoint is those bytes (a file's contents sent by another rank) and
/// `path` only names it in errors; the same holds for load_checkpoint.
CheckpointMeta read_checkpoint_meta(const std::string& path,
                                    const std::vector<std::uint8_t>* bytes = nullptr);

/// Loads model, optimizer (if not null), memory (if not null) and, with restore_rng, the
/// CPU RNG state and, on a GPU with a GPU-written file, the CUDA one; every tensor is mapped
/// to `device` (the model's). Throws InputError naming the file when a part is missing or
/// does not fit.
void load_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, MemoryStore* memory, bool restore_rng,
                     const torch::Device& device,
                     const std::vector<std::uint8_t>* bytes = nullptr);

}  // namespace disttgl::trainer::detail

// The one place that chooses a MemoryStore backend: the in-process store (default) or a
// memory daemon (`train --memory-daemon ADDRESS`). The training loop asks this factory and
// never names a backend itself.
// Thread-safety: pure function.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "disttgl/trainer/memory/memory_store.hpp"

namespace disttgl::trainer {

struct MemoryBackendOptions {
  /// Empty: in-process LocalMemoryStore. Else a daemon address, "HOST:PORT" or "unix:PATH".
  std::string daemon_address;
  std::int64_t num_nodes = 0;
  std::int64_t memory_dim = 100;
  std::int64_t mail_dim = 200;
  std::int64_t mailbox_size = 1;
  torch::Device device = torch::kCPU;  ///< where read() returns rows
  // Daemon only.
  std::chrono::milliseconds timeout{60000};  ///< every call, connecting included
  /// The HELLO identity (docs/memory-daemon-protocol.md): job, memory group, rank within the
  /// group, DistTGL layout, and the dataset (dataset_fingerprint in pipeline.hpp).
  std::string job = "disttgl";
  std::int32_t memory_group = 0;
  std::int32_t rank = 0;
  std::int32_t layout_i = 1, layout_j = 1, layout_k = 1;
  std::uint64_t dataset_fingerprint = 0;
  /// On a "unix:" address, move rows through a shared-memory segment the daemon owns (the
  /// socket then carries only control frames). Slots hold a read of every node (capped at
  /// 256 MiB; bigger reads and writes use the socket).
  bool shared_memory = true;
};

/// Builds the backend. Throws ConfigError for bad sizes (naming the field), ConfigError for a
/// daemon address that is not HOST:PORT or unix:PATH, and whatever DaemonMemoryStore's
/// constructor throws (MemoryBackendError when the daemon is unreachable).
std::unique_ptr<MemoryStore> make_memory_store(const MemoryBackendOptions& options);

}  // namespace disttgl::trainer

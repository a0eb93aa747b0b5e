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
  std::chrono::milliseconds timeout{60000};  ///< every daemon call (seconds on the CLI)
  std::int64_t num_nodes = 0;
  std::int64_t memory_dim = 100;
  std::int64_t mail_dim = 200;
  std::int64_t mailbox_size = 1;
  torch::Device device = torch::kCPU;
  std::string job = "disttgl";
  std::int32_t memory_group = 0;
  std::int32_t rank = 0;
  std::uint64_t dataset_fingerprint = 0;
  bool shared_memory = true;  ///< DaemonMemoryStoreOptions::shared_memory
};

/// Builds the backend. Throws ConfigError for bad sizes (naming the field), ConfigError for a
/// daemon address that is not HOST:PORT or unix:PATH, and whatever DaemonMemoryStore's
/// constructor throws (MemoryBackendError when the daemon is unreachable).
std::unique_ptr<MemoryStore> make_memory_store(const MemoryBackendOptions& options);

}  // namespace disttgl::trainer

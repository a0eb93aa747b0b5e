// DaemonMemoryStore: the MemoryStore backend whose state lives in a `disttgl-memory-daemon`
// process (memory-daemon/, docs/memory-daemon-protocol.md), reached over TCP ("HOST:PORT")
// or a Unix-domain socket ("unix:PATH"). The daemon serialises the reads and writes of every
// rank of one memory group in logical-batch order (disttgl.md §5), so read_async() can be
// sent a whole batch ahead: the daemon answers it right after the previous batch's write.
//
// Rows read arrive as one reply buffer, or in a shared-memory slot (Unix socket), that the
// returned tensors view without a copy (CPU); on a CUDA device they are copied over.
// Checkpoints use the keys of every backend (memory_store.hpp), taken from an inline snapshot
// of the daemon's state.
//
// Errors: an unreachable daemon, a broken connection, a reply missing for longer than
// `timeout`, or a refusal that another client of the group caused (a batch out of order, a
// READ aborted by a RESET) throw MemoryBackendError ("memory daemon ADDRESS: ..."); a HELLO
// the daemon refuses (other dimensions, dataset fingerprint, job or layout) throws
// ConfigError naming the field; a corrupt snapshot InputError; other refusals are bugs:
// InternalError.
// Thread-safety: as MemoryStore (read_async from a prefetch thread is fine).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "disttgl/common/error.hpp"
#include "disttgl/memory_daemon/protocol.hpp"
#include "disttgl/trainer/memory/memory_backend.hpp"
#include "disttgl/trainer/memory/memory_store.hpp"

namespace disttgl::memory_daemon {
class DaemonClient;
}

namespace disttgl::trainer {

/// The memory backend is unreachable or stopped answering (exit code 74, like other I/O
/// failures that are not the input's fault).
class MemoryBackendError : public IoError {
 public:
  using IoError::IoError;
};

class DaemonMemoryStore final : public MemoryStore {
 public:
  /// Connects to options.daemon_address and says HELLO. Throws MemoryBackendError /
  /// ConfigError as above.
  explicit DaemonMemoryStore(const MemoryBackendOptions& options);
  ~DaemonMemoryStore() override;

  std::string backend_name() const override;  ///< "daemon ADDRESS"
  std::int64_t num_nodes() const override { return options_.num_nodes; }
  std::int64_t memory_dim() const override { return options_.memory_dim; }
  std::int64_t mail_dim() const override { return options_.mail_dim; }
  std::int64_t mailbox_size() const override { return options_.mailbox_size; }
  torch::Device device() const override { return options_.device; }

  using MemoryStore::read;
  using MemoryStore::write;
  std::int64_t next_batch() const override { return next_batch_; }
  std::int32_t shards_per_batch() const override { return options_.layout_i; }
  PendingRows read_async(std::int64_t batch, const torch::Tensor& nodes) override;
  void write(std::int64_t batch, std::int32_t shard, const torch::Tensor& nodes,
             const MemoryRows& rows) override;
  /// A barrier of the memory group's i*j ranks (the daemon's RESET).
  void reset() override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  /// "shared memory", "socket", or "socket (shared memory refused: WHY)".
  std::string transport() const;
  /// Bytes this store sent to / received from the daemon (frame headers included).
  std::uint64_t bytes_sent() const;
  std::uint64_t bytes_received() const;

 private:
  memory_daemon::Dimensions dims() const;

  MemoryBackendOptions options_;
  std::unique_ptr<memory_daemon::DaemonClient> client_;
  std::int64_t next_batch_ = 0;
};

}  // namespace disttgl::trainer

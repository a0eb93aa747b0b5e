// DaemonClient: one connection to a `disttgl-memory-daemon` (TCP "HOST:PORT" or
// "unix:PATH"), with several requests in flight. Torch-free; the trainer's DaemonMemoryStore
// wraps it.
//
// All socket I/O runs on the client's own Boost.Asio thread; callers block on a future with a
// deadline. Every call takes the client's timeout: when it passes, or the connection breaks,
// the call throws ClientError naming the daemon's address, every other waiting call fails the
// same way, and the client is unusable afterwards (a trainer exits; it never hangs).
// An ERROR reply throws ProtocolError with the daemon's code and message (the connection stays
// usable unless the daemon closed it).
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "disttgl/memory_daemon/protocol.hpp"

namespace disttgl::memory_daemon {

/// The daemon is unreachable, closed the connection, or did not answer in time.
class ClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A reply payload and the rows it holds (READ_OK), or a lease on the shared-memory slot
/// that holds them (READ_SHM); either keeps the rows' bytes alive.
struct ReadResult {
  std::vector<std::byte> payload;
  std::shared_ptr<void> slot_lease;  ///< returns the slot to the client when released
  RowsView rows;                     ///< views into payload or the slot
};

/// The shared-memory data plane (Unix-domain connections only; ignored over TCP): rows move
/// through a segment the daemon owns, the socket carries only control frames. A read or write
/// that does not fit a slot, or a read when every read slot is leased, goes over the socket.
struct SharedMemoryOptions {
  bool enabled = false;
  std::uint64_t slot_bytes = 0;  ///< size of each slot
  std::uint32_t read_slots = 4;  ///< reads in flight or held by the caller at once
};

class DaemonClient {
 public:
  /// Connects to `address` ("HOST:PORT", "[IPv6]:PORT" or "unix:PATH") within `timeout`.
  /// Throws ClientError("memory daemon ADDRESS: ...") when it cannot, std::invalid_argument
  /// for an address of another form.
  /// With `shm.enabled` on a "unix:" address the client asks for a shared-memory segment
  /// first; if the daemon refuses, it carries on over the socket (shared_memory() says which).
  DaemonClient(const std::string& address, std::chrono::milliseconds timeout,
               const SharedMemoryOptions& shm = {});
  ~DaemonClient();
  DaemonClient(const DaemonClient&) = delete;
  DaemonClient& operator=(const DaemonClient&) = delete;

  const std::string& address() const;
  std::chrono::milliseconds timeout() const;

  /// Handshake; must precede READ/WRITE/RESET/SNAPSHOT/RESTORE. Fixes the dimensions used
  /// to decode rows (the reply's, which equal the request's non-zero ones).
  HelloOk hello(const Hello& hello);

  /// Sends READ(batch, nodes) now and returns a future of its rows (the daemon answers once
  /// every write of batches < `batch` is applied). get() throws ClientError after the
  /// timeout (counted from get()'s call) or ProtocolError for an ERROR reply.
  class PendingRead {
   public:
    PendingRead() = default;
    ReadResult get();

   private:
    friend class DaemonClient;
    std::future<ReadResult> future_;
  };
  PendingRead read_async(std::int64_t batch, const std::vector<std::int64_t>& nodes);

  /// WRITE of shard `shard` of logical batch `batch`; returns the daemon's next_batch.
  std::int64_t write(std::int64_t batch, std::int32_t shard, const std::vector<std::int64_t>& nodes,
                     const RowsView& rows);
  /// Barrier of every rank of the memory group, then zero state; returns next_batch (0).
  std::int64_t reset();
  /// The whole state as snapshot bytes (memory_state.hpp format).
  std::vector<std::byte> snapshot();
  /// The daemon writes its snapshot to `path` on its own file system; returns bytes written.
  std::uint64_t snapshot_to_file(const std::string& path);
  /// Replaces the daemon's state; returns the restored next_batch.
  std::int64_t restore(const std::vector<std::byte>& snapshot_bytes);
  std::int64_t restore_from_file(const std::string& path);
  /// STATS as JSON text.
  std::string stats();
  /// Asks the daemon to stop (it replies first).
  void shutdown();

  /// True when rows move through shared memory; else why not ("" before any attempt).
  bool shared_memory() const;
  const std::string& shared_memory_status() const;

  /// Bytes sent and received so far: frames on the connection (headers included) plus the
  /// rows moved through the shared-memory segment.
  std::uint64_t bytes_sent() const;
  std::uint64_t bytes_received() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace disttgl::memory_daemon

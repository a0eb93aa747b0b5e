// MemoryGroup: the node memory and mailbox of one memory group and DistTGL's rules for
// touching it (disttgl.md §4-5): writes are applied in strict logical-batch order, the i
// shard writes of a batch as one step, reads wait for their batch's turn, and RESET is a
// barrier of every rank of the group.
//
// Requests that can be answered at once return their reply payload or throw ProtocolError
// (the caller sends ERROR); a state-changing request either applies whole or throws before
// anything changed. READ and RESET may park: they reply later through their ReplyTo, from a
// WRITE that completes a batch, a RESET/RESTORE, a timer, or shutdown.
// Thread-safety: none needed; the daemon calls it from its one io_context thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "connection.hpp"
#include "disttgl/memory_daemon/memory_state.hpp"
#include "disttgl/metrics/daemon_metrics.hpp"

namespace disttgl::memory_daemon {

/// What the command line fixed; the rest is fixed by the first HELLO.
struct GroupOptions {
  std::optional<Dimensions> dims;
  std::optional<std::string> job;
  std::optional<std::int32_t> memory_group;
  std::optional<Layout> layout;
  /// How long a READ waits for its batch and a RESET for the other ranks (seconds).
  double wait_timeout_s = 60.0;
  /// Largest reply payload (bytes); a READ whose rows would not fit is refused.
  std::uint64_t max_payload_bytes = kDefaultMaxPayloadBytes;
  /// Sent in HELLO_OK and STATS.
  std::string daemon_version;
  /// Prometheus gauges of what the group holds and who waits (--metrics-port); null: off.
  metrics::DaemonMetrics* metrics = nullptr;
};

class MemoryGroup {
 public:
  /// Throws std::invalid_argument (bad dimensions) or std::bad_alloc.
  MemoryGroup(asio::io_context& io, GroupOptions options);

  /// Checks a HELLO against what is fixed and fixes what is not (see
  /// docs/memory-daemon-protocol.md). Throws ProtocolError(kMismatch) naming the field and
  /// both values; nothing is fixed then.
  HelloOk hello(const Hello& hello);

  /// READ: answers now (batch == next_batch), parks until its batch's turn (batch >
  /// next_batch, with the wait timeout), or throws (past batch, ids out of range). The
  /// payload is kept while parked. The READ payload starts at `offset` (READ_SHM's slot
  /// prefix); with a `target` the rows go to its shared-memory slot and the reply is
  /// READ_SHM_OK (the byte count) instead of READ_OK.
  void read(const ReplyTo& to, std::vector<std::byte> payload, std::size_t offset = 0,
            std::optional<ShmTarget> target = std::nullopt);
  /// WRITE of one shard; returns the WRITE_OK next_batch. Buffers the shard until all i
  /// shards of the batch arrived, then applies them as one write and answers waiting READs.
  std::int64_t write(std::vector<std::byte> payload);
  /// RESET from `rank`: joins the barrier; completes (state zeroed, next_batch 0, every
  /// waiting RESET answered) once every rank of the group asked.
  void reset(const ReplyTo& to, std::int32_t rank);
  /// SNAPSHOT: returns the SNAPSHOT_OK payload (inline bytes or written to a file).
  std::vector<std::byte> snapshot(std::span<const std::byte> payload);
  /// RESTORE: validates, replaces the state; returns the restored next_batch.
  std::int64_t restore(std::span<const std::byte> payload);
  /// Restores snapshot bytes at start (--restore); takes the dimensions from the snapshot if
  /// none are fixed. Throws ProtocolError(kBadSnapshot).
  void restore_bytes(std::span<const std::byte> bytes, const std::string& source);

  /// Forgets the parked READs and waiting RESETs of a closed connection; returns how many.
  std::size_t drop_connection(std::uint64_t conn_id);
  /// Fails every parked READ and waiting RESET (shutdown).
  void abort_waiting(ErrorCode code, const std::string& why);

  bool has_state() const { return state_.has_value(); }
  const MemoryState& state() const { return *state_; }
  std::int64_t next_batch() const { return next_batch_; }
  /// The group's part of STATS (everything but traffic and connections).
  void add_stats(nlohmann::json& out) const;
  /// Sets the Prometheus gauges (nodes, state bytes, waiting requests, next batch) to the
  /// current values; the server calls it after every event that may change them.
  void publish() const;

 private:
  struct BufferedShard {
    std::vector<std::byte> payload;  // owns the bytes `request` points into
    WriteRequest request;
  };
  struct Waiter {
    ReplyTo to;
    std::int64_t batch = 0;          // READ: the batch it waits for
    std::int32_t rank = 0;           // RESET: the asking rank
    std::vector<std::byte> payload;  // READ: owns the node ids
    std::span<const std::int64_t> nodes;
    std::optional<ShmTarget> target;  // READ_SHM: where the rows go
    std::unique_ptr<asio::steady_timer> timer;
  };

  std::int32_t world() const;  // i * j ranks of the group
  const Dimensions& dims_or_throw(MsgType request) const;
  void answer_read(const ReplyTo& to, std::span<const std::int64_t> nodes,
                   const std::optional<ShmTarget>& target);
  void apply_batch();
  void answer_ready_reads();
  void fail_reads(ErrorCode code, const std::string& why);
  void complete_reset();
  void on_read_timeout(std::uint64_t key);
  void on_reset_timeout(std::uint64_t key);
  std::unique_ptr<asio::steady_timer> start_timer(std::uint64_t key, bool is_read);
  std::string shards_text() const;
  std::string timeout_text() const;
  // Replaces the state and next_batch (RESTORE); drops shards, aborts parked READs.
  void adopt(std::optional<MemoryState> fresh, std::int64_t next_batch, const std::string& why);

  asio::io_context& io_;
  GroupOptions options_;
  std::optional<MemoryState> state_;  // empty until the dimensions are known
  std::optional<std::uint64_t> fingerprint_;
  std::int64_t next_batch_ = 0;
  std::vector<std::optional<BufferedShard>> shards_;  // of next_batch_, indexed by shard
  std::map<std::uint64_t, Waiter> reads_;             // parked READs by arrival
  std::map<std::uint64_t, Waiter> resets_;            // waiting RESETs by arrival
  std::uint64_t next_key_ = 0;
};

}  // namespace disttgl::memory_daemon

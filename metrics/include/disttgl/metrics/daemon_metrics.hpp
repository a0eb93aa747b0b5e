// The memory daemon's Prometheus metrics (issue 11): requests by operation and outcome,
// request latency by operation, traffic, what the daemon holds and who waits on it. Every
// series carries the constant labels job, role ("memory-daemon"), memory_group and layout.
// The operation label takes one of kDaemonOps (an unknown message type counts as "unknown"),
// so no label is unbounded.
// Thread-safety: every method may be called from any thread; the daemon calls them from its
// one io_context thread while the metrics server's thread serialises them.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "disttgl/metrics/labels.hpp"

namespace disttgl::metrics {

/// The values of the `op` label: the daemon's request types (docs/memory-daemon-protocol.md)
/// in lower case, then "unknown".
inline constexpr std::array<std::string_view, 12> kDaemonOps = {
    "hello",    "read",    "read_shm", "write",    "write_shm",  "reset",
    "snapshot", "restore", "stats",    "shutdown", "attach_shm", "unknown"};

class DaemonMetrics {
 public:
  /// Registers the daemon's families in `registry` (which must outlive this object).
  DaemonMetrics(prometheus::Registry& registry, const ProcessLabels& labels,
                const std::string& version);

  /// The index in kDaemonOps of a request type name such as "READ_SHM" (case-insensitive);
  /// that of "unknown" for anything else.
  static std::size_t op_index(std::string_view type_name);

  /// One answered request: `ok` false for an ERROR reply; `seconds` (negative: not timed) from its
  /// last byte arriving to its reply being queued (a READ parked for its batch turn included).
  void record_request(std::size_t op, bool ok, double seconds);
  void add_bytes_in(std::uint64_t bytes);   ///< request bytes received (socket and shared memory)
  void add_bytes_out(std::uint64_t bytes);  ///< reply bytes sent (socket and shared memory)
  /// What the daemon holds: nodes of its memory state and the state's size in bytes.
  void set_state(std::int64_t nodes, std::uint64_t state_bytes);
  void set_waiting_requests(std::size_t requests);    ///< parked READs and waiting RESETs
  void set_connected_trainers(std::size_t trainers);  ///< connections past HELLO
  void set_next_batch(std::int64_t batch);            ///< the next logical batch it will apply

 private:
  struct Outcomes {
    prometheus::Counter* ok = nullptr;
    prometheus::Counter* error = nullptr;
  };
  std::array<Outcomes, kDaemonOps.size()> requests_{};
  std::array<prometheus::Histogram*, kDaemonOps.size()> latency_{};
  prometheus::Counter* bytes_in_;
  prometheus::Counter* bytes_out_;
  prometheus::Gauge* nodes_;
  prometheus::Gauge* state_bytes_;
  prometheus::Gauge* waiting_;
  prometheus::Gauge* trainers_;
  prometheus::Gauge* next_batch_;
};

}  // namespace disttgl::metrics

// One client connection of the memory daemon: reads frames (24-byte header, then the payload)
// and hands each whole frame to its owner; queues replies and writes them one at a time, in
// order, each as a header + payload buffer sequence (no concatenation copy).
//
// Everything runs on the daemon's single io_context thread: no locks. A frame that has begun
// but does not finish within the frame timeout closes the connection (a client that sends half
// a frame and stops holds no thread and blocks no one; it only loses its connection).
// Header errors (bad magic, bad version, oversized length) are answered with ERROR and close
// the connection: the byte stream can no longer be trusted to be framed.
#pragma once

// clang-format off
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded
#include <boost/asio.hpp>
// clang-format on

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "disttgl/memory_daemon/protocol.hpp"
#include "disttgl/metrics/daemon_metrics.hpp"
#include "shared_segment.hpp"

namespace disttgl::memory_daemon {

namespace asio = boost::asio;

/// Per-request-type counts of ok and error replies, and bytes on the wire, for STATS.
struct TrafficCounters {
  struct Outcome {
    std::uint64_t ok = 0;
    std::uint64_t error = 0;
  };
  std::map<std::string, Outcome> requests;  ///< keyed by type_name of the request
  std::uint64_t bytes_in = 0;   ///< frame bytes received (headers included) + WRITE_SHM rows
  std::uint64_t bytes_out = 0;  ///< frame bytes sent (headers included) + READ_SHM rows
  /// The Prometheus side of the same counts (--metrics-port); null when off.
  metrics::DaemonMetrics* metrics = nullptr;

  /// One answered request; `seconds` from its arrival to its reply (negative: not timed,
  /// e.g. a frame refused before it was a request).
  void record(MsgType request, bool ok, double seconds = -1);
  void add_in(std::uint64_t bytes);
  void add_out(std::uint64_t bytes);
};

class Connection;

/// What a connection reports to the server that owns it.
class ConnectionOwner {
 public:
  /// A whole frame arrived. `payload` is handed over (a parked READ keeps it).
  virtual void on_frame(const std::shared_ptr<Connection>& conn, const FrameHeader& header,
                        std::vector<std::byte> payload) = 0;
  /// The connection closed (peer gone, error, or the daemon closed it); called once.
  virtual void on_closed(Connection& conn, const std::string& reason) = 0;

 protected:
  ~ConnectionOwner() = default;
};

/// Where the reply of one request goes. Holds the connection weakly: if the client left
/// before the reply is ready (a parked READ), the reply is dropped.
struct ReplyTo {
  std::weak_ptr<Connection> conn;
  std::uint64_t conn_id = 0;
  MsgType request = MsgType::kError;
  std::uint64_t request_id = 0;
  TrafficCounters* counters = nullptr;
  /// When the request's last byte arrived (its latency runs from here to the reply).
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();

  /// The client is still connected.
  bool alive() const;
  /// Sends `reply` (the request's *Ok type) with `payload` and counts an ok reply.
  void ok(MsgType reply, std::vector<std::byte> payload) const;
  /// Sends ERROR(code, message) and counts an error reply.
  void error(ErrorCode code, const std::string& message) const;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Socket = asio::generic::stream_protocol::socket;

  /// `peer` names the client in logs ("tcp 127.0.0.1:5000" or "unix"). `frame_timeout`
  /// bounds the time between the first and last byte of one frame.
  Connection(Socket socket, std::uint64_t id, std::string peer, ConnectionOwner& owner,
             TrafficCounters& counters, std::uint64_t max_payload_bytes,
             std::chrono::steady_clock::duration frame_timeout);

  /// Starts reading frames.
  void start();
  /// Queues one frame for sending; frames leave in the order queued. No-op once closed.
  void send(MsgType type, std::uint64_t request_id, std::vector<std::byte> payload);
  /// Sends one frame now with `fd` attached (SCM_RIGHTS), for ATTACH_SHM_OK. Only while no
  /// other frame is queued (the client waits for this reply before anything else); throws
  /// ProtocolError(kMalformed) otherwise and closes the connection if the send fails.
  void send_with_fd(MsgType type, std::uint64_t request_id, const std::vector<std::byte>& payload,
                    int fd);
  bool is_unix() const { return peer_.rfind("unix", 0) == 0; }
  /// Stops reading; sends what is queued, then closes (closes now if nothing is queued).
  void close_after_flush(const std::string& reason);
  /// Closes now; queued replies are dropped. Idempotent.
  void close(const std::string& reason);
  /// Stops reading further frames (daemon shutdown); the queue still drains.
  void stop_reading();

  std::uint64_t id() const { return id_; }
  const std::string& peer() const { return peer_; }
  bool closed() const { return closed_; }
  /// "connection 3 (tcp 127.0.0.1:5000, rank 1)" for log lines.
  std::string describe() const;

  // Session state, set by the server's HELLO handling.
  bool hello_done = false;
  std::int32_t rank = -1;
  std::shared_ptr<SharedSegment> shm;  ///< after ATTACH_SHM

 private:
  void read_header();
  void on_header_bytes(const boost::system::error_code& ec, std::size_t n);
  void read_payload();
  void on_payload_bytes(const boost::system::error_code& ec, std::size_t n);
  void on_read_error(const boost::system::error_code& ec);
  void on_bad_header(const ProtocolError& error);
  void arm_frame_timer();
  void write_next();

  struct OutFrame {
    std::array<std::byte, kHeaderBytes> header{};
    std::vector<std::byte> payload;
  };

  Socket socket_;
  std::uint64_t id_;
  std::string peer_;
  ConnectionOwner& owner_;
  TrafficCounters& counters_;
  std::uint64_t max_payload_bytes_;
  std::chrono::steady_clock::duration frame_timeout_;
  asio::steady_timer frame_timer_;

  std::array<std::byte, kHeaderBytes> header_bytes_{};
  std::size_t header_got_ = 0;
  FrameHeader header_;
  std::vector<std::byte> payload_;
  std::uint64_t payload_got_ = 0;
  std::uint64_t frame_serial_ = 0;  // tells a stale frame-timer expiry from the current one
  bool in_frame_ = false;

  std::deque<OutFrame> queue_;
  bool writing_ = false;
  bool reading_ = false;
  bool closing_ = false;
  bool closed_ = false;
  std::string closing_reason_;
};

}  // namespace disttgl::memory_daemon

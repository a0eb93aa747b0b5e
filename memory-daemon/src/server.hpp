// The memory daemon's service: TCP and Unix-domain acceptors, the connections, and dispatch
// of each request to the MemoryGroup, all on ONE io_context thread (no locks, no spinning:
// waiting requests are parked and resumed by the event that completes them).
//
// Lifecycle: run() restores (--restore), binds, writes the port file, then serves until
// SIGTERM/SIGINT or a SHUTDOWN request; then waiting requests get kShuttingDown, the exit
// snapshot is written, queued replies are flushed (at most 5 s) and the Unix socket file is
// removed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "connection.hpp"
#include "memory_group.hpp"

namespace disttgl::memory_daemon {

struct ServerOptions {
  std::string listen;     ///< "HOST:PORT" ("[V6]:PORT"); empty: no TCP listener
  std::string unix_path;  ///< Unix-domain socket path; empty: none
  GroupOptions group;
  std::uint64_t max_frame_bytes = kDefaultMaxPayloadBytes;  ///< largest accepted payload
  std::string snapshot_on_exit;                             ///< written at a clean stop
  std::string restore;                                      ///< snapshot file read at start
  std::string port_file;  ///< receives the bound TCP port ("PORT\n"), atomically
};

class Server final : public ConnectionOwner {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Serves until stopped. Returns the exit code: 0, or 74 when the exit snapshot could not
  /// be written. Throws disttgl::ConfigError (exit 2: bad --listen, a --restore snapshot
  /// that does not fit) or disttgl::IoError (exit 74: cannot bind, naming the address;
  /// cannot read --restore or write --port-file).
  int run();

  void on_frame(const std::shared_ptr<Connection>& conn, const FrameHeader& header,
                std::vector<std::byte> payload) override;
  void on_closed(Connection& conn, const std::string& reason) override;

 private:
  void restore_at_start();
  void bind_tcp();
  void bind_unix();
  void write_port_file();
  void accept_tcp();
  void accept_unix();
  void retry_accept(bool tcp);
  void add_connection(Connection::Socket socket, const std::string& peer);
  // ATTACH_SHM: creates the connection's segment and sends its descriptor (Unix only).
  void attach_shared_memory(const std::shared_ptr<Connection>& conn, const FrameHeader& header,
                            std::span<const std::byte> payload);
  void dispatch(const std::shared_ptr<Connection>& conn, const FrameHeader& header,
                std::vector<std::byte> payload, const ReplyTo& to);
  std::string stats_json() const;
  void publish() const;  // the Prometheus gauges, after an event that may change them
  void stop(const std::string& why);

  ServerOptions options_;
  asio::io_context io_;  // declared first: destroyed after every timer and socket below
  asio::signal_set signals_;
  std::optional<asio::ip::tcp::acceptor> tcp_;
  std::optional<asio::local::stream_protocol::acceptor> unix_;
  asio::steady_timer accept_retry_;
  asio::steady_timer drain_timer_;
  TrafficCounters counters_;
  MemoryGroup group_;
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections_;
  std::uint64_t next_conn_id_ = 0;
  bool unix_bound_ = false;
  bool stopping_ = false;
  int exit_code_ = 0;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace disttgl::memory_daemon

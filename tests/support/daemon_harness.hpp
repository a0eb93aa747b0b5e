// Test harness for the memory daemon: a real `disttgl-memory-daemon` process on real sockets
// (started with --listen 127.0.0.1:0 --port-file and --unix in its own mkdtemp directory,
// always killed in the destructor), raw POSIX connections for hand-made frames, and row
// builders with values that identify (node, batch, position).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "disttgl/memory_daemon/client.hpp"
#include "disttgl/memory_daemon/protocol.hpp"

namespace disttgl::memory_daemon::test {

/// The daemon binary's path (from CMake).
std::string daemon_bin();

/// A running daemon. The constructor waits (at most 10 s) for its port file and fails the
/// test (via an exception) if it exits first.
class DaemonProcess {
 public:
  /// `args` come after --listen/--port-file/--unix (which the harness chooses).
  explicit DaemonProcess(const std::vector<std::string>& args, bool with_unix = true);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  int port() const { return port_; }
  std::string tcp_address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string unix_address() const { return "unix:" + unix_path_; }
  const std::string& unix_path() const { return unix_path_; }
  /// The daemon's own scratch directory (removed by the destructor).
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }
  /// Everything the daemon wrote to stderr so far.
  std::string log() const;
  /// Sends `signal` and waits (at most 10 s) for the exit; returns the exit code, or
  /// 128 + signal when it died of one.
  int stop(int signal);
  /// Waits (at most `timeout`) for the process to exit by itself; the exit code or -1.
  int wait_exit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
  std::string unix_path_;
};

/// Runs the daemon binary with `args` to completion (at most `timeout`); exit code and the
/// combined stdout+stderr.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult run_daemon(const std::vector<std::string>& args, std::chrono::seconds timeout);

/// A plain blocking socket for hand-made (also malformed) frames.
class RawConnection {
 public:
  static RawConnection tcp(int port);
  static RawConnection unix_socket(const std::string& path);
  ~RawConnection();
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&&) = delete;
  RawConnection(const RawConnection&) = delete;

  void send_bytes(const std::vector<std::byte>& bytes);
  /// A frame with a correct header unless the fields are overridden.
  void send_frame(MsgType type, std::uint64_t request_id, const std::vector<std::byte>& payload);
  static std::vector<std::byte> header(MsgType type, std::uint64_t request_id,
                                       std::uint64_t payload_bytes, std::uint32_t magic = kMagic,
                                       std::uint16_t version = kVersion);

  struct Frame {
    FrameHeader header;
    std::vector<std::byte> payload;
  };
  /// The next frame; nullopt when the daemon closed the connection. Throws
  /// std::runtime_error after `timeout` without a whole frame.
  std::optional<Frame> receive(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// True when the daemon closes the connection within `timeout` (bytes before EOF are
  /// discarded).
  bool closed_by_peer(std::chrono::milliseconds timeout);
  void close();

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  int fd_ = -1;
};

/// Reads an ERROR reply (failing the test if it is something else).
ErrorReply expect_error(const std::optional<RawConnection::Frame>& frame, std::uint64_t request_id);

// ---- rows with recognisable values ----------------------------------------------------

/// Owned rows (slots 1) for a WRITE; views via view().
struct OwnedRows {
  std::vector<float> memory;
  std::vector<double> memory_ts;
  std::vector<float> mail;
  std::vector<double> mail_ts;
  std::vector<std::int64_t> mail_eid;
  RowsView view() const;
};

/// Row i of a write of `batch`: memory = batch*1000 + tag*100 + i + k/8 for component k;
/// memory_ts = batch*10 + i; mail = -(memory) analogue; mail_eid = batch*1000 + tag*100 + i.
OwnedRows make_rows(std::size_t n, const Dimensions& dims, std::int64_t batch, int tag);

/// Default trainer HELLO for the test daemons.
Hello make_hello(const Dimensions& dims, std::int32_t rank = 0, Layout layout = {},
                 const std::string& job = "test-job", std::uint64_t fingerprint = 0xABCDEF);

/// STATS through a fresh connection, parsed.
nlohmann::json stats(const std::string& address);

/// Polls STATS until `pred` holds (at most `timeout`); returns the last STATS.
template <typename Pred>
nlohmann::json wait_for_stats(const std::string& address, Pred pred,
                              std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  nlohmann::json s = stats(address);
  while (!pred(s) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s = stats(address);
  }
  return s;
}

// ---- client processes ------------------------------------------------------------------

/// What a forked client process reports back: ok, or the failure message, and the times
/// (monotonic_seconds) of its last request and reply.
struct ChildReport {
  int ok = 0;
  double t_sent = 0;
  double t_reply = 0;
  char message[512] = {};
};

/// A forked client process. Fork before the test process starts any thread (a DaemonClient
/// starts one).
class Child {
 public:
  /// Forks; the child runs `body(report)` and reports (a thrown exception becomes ok = 0
  /// with its message), then _exit(0)s.
  static Child start(const std::function<void(ChildReport&)>& body);
  Child(Child&& other) noexcept;
  ~Child();
  /// Lets the child continue from wait_for_go().
  void go();
  /// The child's report (at most `timeout`); ok = 0 with a message when none came.
  ChildReport join(std::chrono::seconds timeout = std::chrono::seconds(30));
  /// Sends `signal` and reaps the child.
  void kill(int signal);
  pid_t pid() const { return pid_; }

 private:
  Child() = default;
  pid_t pid_ = -1;
  int report_fd_ = -1;
  int go_fd_ = -1;
};

/// In a child: blocks until the parent calls Child::go().
void wait_for_go();

/// In a child: throws std::runtime_error(message) unless `ok`.
void check(bool ok, const std::string& message);

/// Seconds on CLOCK_MONOTONIC (comparable across processes on one machine).
double monotonic_seconds();

std::vector<std::byte> read_whole_file(const std::string& path);

}  // namespace disttgl::memory_daemon::test

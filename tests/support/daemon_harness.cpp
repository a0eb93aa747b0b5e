#include "daemon_harness.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace disttgl::memory_daemon::test {

namespace {

std::string make_temp_dir() {
  std::string tmpl = "/tmp/disttgl-daemon-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  return tmpl;
}

// Spawns argv with stdout and stderr appended to `log_path`.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

// waitpid with a deadline; the exit code (128 + signal for a signal) or -1 on timeout.
int wait_for(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

}  // namespace

std::string daemon_bin() { return DISTTGL_DAEMON_BIN; }

DaemonProcess::DaemonProcess(const std::vector<std::string>& args, bool with_unix) {
  dir_ = make_temp_dir();
  unix_path_ = with_unix ? dir_ + "/daemon.sock" : "";
  const std::string port_file = dir_ + "/port";
  std::vector<std::string> argv{daemon_bin(), "--listen", "127.0.0.1:0", "--port-file", port_file};
  if (with_unix) {
    argv.push_back("--unix");
    argv.push_back(unix_path_);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(argv, dir_ + "/daemon.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string failure;
  while (failure.empty()) {
    const std::string text = read_text(port_file);
    if (!text.empty() && text.back() == '\n') {
      port_ = std::stoi(text);
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      failure = "the daemon exited before listening:\n" + log();
    } else if (std::chrono::steady_clock::now() >= deadline) {
      failure = "the daemon wrote no port file within 10 s:\n" + log();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // The destructor does not run for a constructor that throws: clean up here.
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_for(pid_, std::chrono::seconds(10));
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  throw std::runtime_error(failure);
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_for(pid_, std::chrono::seconds(10));
  }
  if (::testing::Test::HasFailure())
    std::fprintf(stderr, "---- daemon log ----\n%s\n", log().c_str());
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string DaemonProcess::log() const { return read_text(dir_ + "/daemon.log"); }

int DaemonProcess::stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  const int code = wait_for(pid_, std::chrono::seconds(10));
  if (code >= 0) pid_ = -1;
  return code;
}

int DaemonProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const int code = wait_for(pid_, timeout);
  if (code >= 0) pid_ = -1;
  return code;
}

CommandResult run_daemon(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  const std::string dir = make_temp_dir();
  std::vector<std::string> argv{daemon_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult result;
  const pid_t pid = spawn(argv, dir + "/out.log");
  result.exit_code = wait_for(pid, timeout);
  if (result.exit_code < 0) {
    ::kill(pid, SIGKILL);
    wait_for(pid, std::chrono::seconds(5));
  }
  result.output = read_text(dir + "/out.log");
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return result;
}

// ---- RawConnection ----

RawConnection RawConnection::tcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("connect: ") + std::strerror(err));
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return RawConnection(fd);
}

RawConnection RawConnection::unix_socket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("connect ") + path + ": " + std::strerror(err));
  }
  return RawConnection(fd);
}

RawConnection::~RawConnection() { close(); }

RawConnection::RawConnection(RawConnection&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawConnection::send_bytes(const std::vector<std::byte>& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
}

std::vector<std::byte> RawConnection::header(MsgType type, std::uint64_t request_id,
                                             std::uint64_t payload_bytes, std::uint32_t magic,
                                             std::uint16_t version) {
  FrameHeader h;
  h.magic = magic;
  h.version = version;
  h.type = type;
  h.request_id = request_id;
  h.payload_bytes = payload_bytes;
  std::vector<std::byte> out(kHeaderBytes);
  encode_header(h, out.data());
  return out;
}

void RawConnection::send_frame(MsgType type, std::uint64_t request_id,
                               const std::vector<std::byte>& payload) {
  std::vector<std::byte> frame = header(type, request_id, payload.size());
  frame.insert(frame.end(), payload.begin(), payload.end());
  send_bytes(frame);
}

std::optional<RawConnection::Frame> RawConnection::receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Reads exactly `n` bytes; false on EOF.
  const auto read_exact = [&](std::byte* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw std::runtime_error("no whole reply frame in time");
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t r = ::recv(fd_, out + done, n - done, 0);
      if (r == 0) return false;
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == ECONNRESET) return false;
        throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
      }
      done += static_cast<std::size_t>(r);
    }
    return true;
  };
  std::vector<std::byte> head(kHeaderBytes);
  if (!read_exact(head.data(), head.size())) return std::nullopt;
  Frame f;
  f.header = decode_header(head, std::uint64_t{1} << 34);
  f.payload.resize(f.header.payload_bytes);
  if (!read_exact(f.payload.data(), f.payload.size())) return std::nullopt;
  return f;
}

bool RawConnection::closed_by_peer(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::byte buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(1, left.count()))) <= 0) continue;
    const ssize_t r = ::recv(fd_, buf, sizeof(buf), 0);
    if (r == 0 || (r < 0 && errno == ECONNRESET)) return true;
  }
  return false;
}

ErrorReply expect_error(const std::optional<RawConnection::Frame>& frame,
                        std::uint64_t request_id) {
  if (!frame) throw std::runtime_error("expected an ERROR reply, the connection closed");
  EXPECT_EQ(frame->header.type, MsgType::kError);
  EXPECT_EQ(frame->header.request_id, request_id);
  if (frame->header.type != MsgType::kError) return {};
  return decode_error(frame->payload);
}

// ---- rows ----

RowsView OwnedRows::view() const {
  RowsView v;
  v.n = static_cast<std::int64_t>(memory_ts.size());
  v.slots = 1;
  v.memory = memory;
  v.memory_ts = memory_ts;
  v.mail = mail;
  v.mail_ts = mail_ts;
  v.mail_eid = mail_eid;
  return v;
}

OwnedRows make_rows(std::size_t n, const Dimensions& dims, std::int64_t batch, int tag) {
  OwnedRows r;
  const auto dm = static_cast<std::size_t>(dims.memory_dim);
  const auto dl = static_cast<std::size_t>(dims.mail_dim);
  for (std::size_t i = 0; i < n; ++i) {
    const double base = static_cast<double>(batch * 1000 + tag * 100) + static_cast<double>(i);
    for (std::size_t k = 0; k < dm; ++k) {
      r.memory.push_back(static_cast<float>(base + static_cast<double>(k) / 8.0));
    }
    for (std::size_t k = 0; k < dl; ++k) {
      r.mail.push_back(static_cast<float>(-base - static_cast<double>(k) / 8.0));
    }
    r.memory_ts.push_back(static_cast<double>(batch * 10) + static_cast<double>(i));
    r.mail_ts.push_back(static_cast<double>(batch * 10) + static_cast<double>(i) + 0.5);
    r.mail_eid.push_back(batch * 1000 + tag * 100 + static_cast<std::int64_t>(i));
  }
  return r;
}

Hello make_hello(const Dimensions& dims, std::int32_t rank, Layout layout, const std::string& job,
                 std::uint64_t fingerprint) {
  Hello h;
  h.job = job;
  h.memory_group = 0;
  h.rank = rank;
  h.layout = layout;
  h.dims = dims;
  h.dataset_fingerprint = fingerprint;
  return h;
}

nlohmann::json stats(const std::string& address) {
  DaemonClient client(address, std::chrono::seconds(10));
  return nlohmann::json::parse(client.stats());
}

// ---- Child ----

namespace {
int g_go_fd = -1;  // in a child: the read end of its go pipe
}  // namespace

Child Child::start(const std::function<void(ChildReport&)>& body) {
  int report[2];
  int go[2];
  if (::pipe(report) != 0 || ::pipe(go) != 0) throw std::runtime_error("pipe failed");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(report[0]);
    ::close(go[1]);
    g_go_fd = go[0];
    ChildReport r;
    try {
      body(r);
      r.ok = 1;
    } catch (const std::exception& e) {
      r.ok = 0;
      std::snprintf(r.message, sizeof(r.message), "%s", e.what());
    }
    [[maybe_unused]] const ssize_t n = ::write(report[1], &r, sizeof(r));
    ::_exit(0);
  }
  ::close(report[1]);
  ::close(go[0]);
  Child c;
  c.pid_ = pid;
  c.report_fd_ = report[0];
  c.go_fd_ = go[1];
  return c;
}

Child::Child(Child&& other) noexcept
    : pid_(other.pid_), report_fd_(other.report_fd_), go_fd_(other.go_fd_) {
  other.pid_ = -1;
  other.report_fd_ = -1;
  other.go_fd_ = -1;
}

Child::~Child() {
  if (pid_ > 0) kill(SIGKILL);
  if (report_fd_ >= 0) ::close(report_fd_);
  if (go_fd_ >= 0) ::close(go_fd_);
}

void Child::go() {
  const char byte = 'g';
  [[maybe_unused]] const ssize_t n = ::write(go_fd_, &byte, 1);
}

ChildReport Child::join(std::chrono::seconds timeout) {
  ChildReport r;
  pollfd p{report_fd_, POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(timeout.count() * 1000));
  if (ready <= 0 || ::read(report_fd_, &r, sizeof(r)) != static_cast<ssize_t>(sizeof(r))) {
    r = ChildReport{};
    std::snprintf(r.message, sizeof(r.message), "child %d sent no report", static_cast<int>(pid_));
  }
  if (pid_ > 0) {
    if (wait_for(pid_, std::chrono::seconds(10)) < 0) ::kill(pid_, SIGKILL);
    wait_for(pid_, std::chrono::seconds(5));
    pid_ = -1;
  }
  return r;
}

void Child::kill(int signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, signal);
  wait_for(pid_, std::chrono::seconds(10));
  pid_ = -1;
}

void wait_for_go() {
  char byte = 0;
  if (::read(g_go_fd, &byte, 1) != 1) throw std::runtime_error("the parent never said go");
}

void check(bool ok, const std::string& message) {
  if (!ok) throw std::runtime_error(message);
}

double monotonic_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::vector<std::byte> read_whole_file(const std::string& path) {
  const std::string text = read_text(path);
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  return {p, p + text.size()};
}

}  // namespace disttgl::memory_daemon::test

// A real `disttgl-memory-daemon` process for tests: started with fork/exec on a free loopback
// port (--listen 127.0.0.1:0 --port-file) and a Unix socket in a fresh temporary directory,
// stopped (SIGTERM, then SIGKILL after 5 s) and cleaned up by the destructor.
// Needs DISTTGL_DAEMON_BIN (the binary's path) defined by the test target.
// Thread-safety: one owner.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace disttgl::testing {

class DaemonProcess {
 public:
  /// Starts the daemon with `args` after the listen/port-file/unix flags and waits (up to
  /// 10 s) until it has written its port. Throws std::runtime_error if it exits first.
  explicit DaemonProcess(const std::vector<std::string>& args = {}) {
    char tmpl[] = "/tmp/disttgl-daemon-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const std::string port_file = dir_ + "/port";
    std::vector<std::string> argv_s = {DISTTGL_DAEMON_BIN, "--listen",        "127.0.0.1:0",
                                       "--port-file",      port_file,         "--unix",
                                       dir_ + "/daemon.sock"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string log = dir_ + "/daemon.log";
      std::FILE* f = std::freopen(log.c_str(), "w", stderr);
      (void)f;
      std::vector<char*> argv;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(port_file);
      int port = 0;
      if (in >> port && port > 0) {
        port_ = port;
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("memory daemon exited at start: " + log_text());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("memory daemon did not write its port within 10 s: " + log_text());
  }

  ~DaemonProcess() {
    stop(SIGTERM);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  std::string tcp_address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string unix_address() const { return "unix:" + dir_ + "/daemon.sock"; }
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }

  /// Sends `sig` and waits for the exit (SIGKILL after 5 s); returns the wait status, or -1
  /// when the process was already reaped.
  int stop(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  /// The daemon's stderr so far.
  std::string log_text() const {
    std::ifstream in(dir_ + "/daemon.log");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace disttgl::testing

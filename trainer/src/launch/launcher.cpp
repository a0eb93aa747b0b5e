#include "disttgl/trainer/launch/launcher.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "disttgl/common/error.hpp"

extern char** environ;

namespace disttgl::trainer {
namespace {

using Clock = std::chrono::steady_clock;

struct Child {
  const ProcessSpec* spec = nullptr;
  pid_t pid = -1;
  int out_fd = -1;  // read end of the child's stdout+stderr
  std::string partial;
  bool exited = false;
  int code = 0;     // exit code, or 128 + signal
  std::string how;  // "exit code N" or "signal N"
};

void write_lines(Child& c, const char* data, std::size_t n, std::ostream& out, bool flush) {
  c.partial.append(data, n);
  std::size_t start = 0;
  for (std::size_t nl; (nl = c.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    out << '[' << c.spec->label << "] " << std::string_view(c.partial).substr(start, nl - start)
        << '\n';
  }
  c.partial.erase(0, start);
  if (flush && !c.partial.empty()) {
    out << '[' << c.spec->label << "] " << c.partial << '\n';
    c.partial.clear();
  }
  out.flush();
}

pid_t spawn(const ProcessSpec& spec, int& out_fd, const sigset_t& old_mask) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw IoError(fmt::format("launch: pipe: {}", std::strerror(errno)));
  // Build argv/envp before fork: the child may only call async-signal-safe functions.
  std::vector<std::string> env_strings;
  // The caller's own DISTTGL_* (an exported test value, a pod's contract) must not reach the
  // children: getenv returns the first match, so an inherited DISTTGL_RANK would win.
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "DISTTGL_", 8) != 0) env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  std::vector<std::string> args = spec.argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string exec_failed =
      fmt::format("launch: cannot execute {} (missing, or not executable)\n", spec.argv.at(0));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw IoError(fmt::format("launch: fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);  // a terminal's Ctrl-C reaches the launcher, which forwards it
    // A launcher killed outright (SIGKILL) takes its processes with it: no orphan daemon.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // it died before prctl
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    (void)!::write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
    ::_exit(127);
  }
  ::close(fds[1]);
  out_fd = fds[0];
  return pid;
}

}  // namespace

LaunchOutcome run_processes(const std::vector<ProcessSpec>& processes, std::ostream& out,
                            std::chrono::milliseconds grace,
                            std::chrono::milliseconds start_timeout, const ProcessHooks& hooks) {
  // SIGCHLD and the stop signals arrive through a signalfd in the poll loop: nothing spins.
  sigset_t mask, old_mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) sigaddset(&mask, s);
  ::sigprocmask(SIG_BLOCK, &mask, &old_mask);
  const int sig_fd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  std::vector<Child> children(processes.size());
  LaunchOutcome outcome;
  bool stopping = false;
  Clock::time_point kill_at{};
  const auto stop_all = [&](int sig) {
    for (auto& c : children) {
      if (c.pid > 0 && !c.exited) ::kill(c.pid, sig);
    }
  };
  // Trainers stop first; the daemons go once no trainer is left (below), so no trainer sees
  // its daemon vanish and blames it.
  const auto stop_workers = [&](int sig) {
    for (auto& c : children) {
      if (c.pid > 0 && !c.exited && !c.spec->daemon) ::kill(c.pid, sig);
    }
  };
  const auto begin_stop = [&](const std::string& failed, int code, const std::string& message,
                              int sig) {
    if (stopping) return;
    stopping = true;
    outcome.exit_code = code == 0 ? 1 : code;
    outcome.failed = failed;
    outcome.message = message;
    stop_workers(sig);
    kill_at = Clock::now() + grace;
  };
  // A child that has exited: its exit code, or 128 + its signal.
  const auto reap = [&](Child& c) {
    int status = 0;
    if (c.pid <= 0 || c.exited || ::waitpid(c.pid, &status, WNOHANG) != c.pid) return false;
    c.exited = true;
    c.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    c.how = WIFEXITED(status) ? fmt::format("exit code {}", c.code)
                              : fmt::format("signal {}", WTERMSIG(status));
    return true;
  };

  // Start: daemons first; a process that waits for a file (its daemon's socket) polls for it.
  for (std::size_t i = 0; i < processes.size() && !stopping; ++i) {
    const ProcessSpec& spec = processes[i];
    if (!spec.wait_for_file.empty()) {
      const auto deadline = Clock::now() + start_timeout;
      struct stat st {};
      const Child* dead = nullptr;  // a process already started that exited meanwhile
      while (::stat(spec.wait_for_file.c_str(), &st) != 0 && Clock::now() < deadline &&
             dead == nullptr) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // start-up only
        for (std::size_t k = 0; k < i; ++k) {
          if (!reap(children[k])) continue;
          dead = &children[k];
          if (hooks.exited) hooks.exited(*dead->spec, dead->code, false);
        }
      }
      if (dead != nullptr) {
        begin_stop(dead->spec->label, dead->code == 0 ? 1 : dead->code,
                   fmt::format("{} failed ({}) while starting; stopped the others",
                               dead->spec->label, dead->how),
                   SIGTERM);
        break;
      }
      if (::stat(spec.wait_for_file.c_str(), &st) != 0) {
        begin_stop(spec.label, 1,
                   fmt::format("{}: {} did not appear within {} s", spec.label, spec.wait_for_file,
                               std::chrono::duration<double>(start_timeout).count()),
                   SIGTERM);
        break;
      }
    }
    children[i].spec = &spec;
    children[i].pid = spawn(spec, children[i].out_fd, old_mask);
    if (hooks.started) hooks.started(spec);
  }

  const auto workers_left = [&] {
    int n = 0;
    for (const auto& c : children) n += (c.pid > 0 && !c.exited && !c.spec->daemon) ? 1 : 0;
    return n;
  };
  const auto alive = [&] {
    int n = 0;
    for (const auto& c : children) n += (c.pid > 0 && !c.exited) ? 1 : 0;
    return n;
  };
  const auto outputs_open = [&] {
    for (const auto& c : children) {
      if (c.out_fd >= 0) return true;
    }
    return false;
  };
  bool daemons_stopped = false;
  char buffer[1 << 16];
  while (alive() > 0 || outputs_open()) {
    if (workers_left() == 0 && !daemons_stopped) {
      stop_all(SIGTERM);  // no trainer left: the daemons' job is over
      daemons_stopped = true;
      kill_at = Clock::now() + grace;
    }
    std::vector<pollfd> fds{{sig_fd, POLLIN, 0}};
    std::vector<Child*> owners{nullptr};
    for (auto& c : children) {
      if (c.out_fd >= 0) {
        fds.push_back({c.out_fd, POLLIN, 0});
        owners.push_back(&c);
      }
    }
    int timeout_ms = -1;
    if (stopping || daemons_stopped) {
      timeout_ms = static_cast<int>(std::max<std::int64_t>(
          0,
          std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - Clock::now()).count()));
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) break;
    if ((stopping || daemons_stopped) && Clock::now() >= kill_at) {
      if (workers_left() > 0) {
        stop_workers(SIGKILL);  // the grace is over; the daemons then get theirs
        kill_at = Clock::now() + std::chrono::milliseconds(100);  // reaped by then
      } else {
        stop_all(SIGKILL);
      }
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Child& c = *owners[i];
      const ssize_t n = ::read(c.out_fd, buffer, sizeof buffer);
      if (n > 0) {
        write_lines(c, buffer, static_cast<std::size_t>(n), out, false);
      } else {
        write_lines(c, buffer, 0, out, true);
        ::close(c.out_fd);
        c.out_fd = -1;
      }
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      while (::read(sig_fd, &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGCHLD) continue;  // reaped below
        const int sig = static_cast<int>(info.ssi_signo);
        // Forwarded as it came: the trainers finish their batch on the first and stop at
        // once on a second, as they do under a terminal.
        if (stopping) {
          stop_workers(sig);
        } else {
          begin_stop("", 128 + sig, fmt::format("stopped by signal {}", sig), sig);
        }
        break;
      }
    }
    for (auto& c : children) {
      if (!reap(c)) continue;
      const bool expected_daemon_stop = c.spec->daemon && (daemons_stopped || stopping);
      if (hooks.exited) hooks.exited(*c.spec, c.code, c.code == 0 || expected_daemon_stop);
      if (c.code != 0 && !expected_daemon_stop) {
        begin_stop(c.spec->label, c.code,
                   fmt::format("{} failed ({}); stopped the others", c.spec->label, c.how),
                   SIGTERM);
      } else if (c.spec->daemon && !daemons_stopped && !stopping) {
        begin_stop(c.spec->label, 1,
                   fmt::format("{} exited before the trainers finished", c.spec->label), SIGTERM);
      }
    }
  }
  for (auto& c : children) {
    if (c.out_fd >= 0) ::close(c.out_fd);
  }
  ::close(sig_fd);
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  return outcome;
}

}  // namespace disttgl::trainer

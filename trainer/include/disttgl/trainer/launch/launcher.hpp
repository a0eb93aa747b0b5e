// Runs a distributed job's processes on one machine: the memory daemons, then the trainers,
// each with its own environment (the launch contract), every output line prefixed with the
// process's label ("[rank 3] ..."), signals forwarded, and one failure ending everything:
// when a trainer exits non-zero or dies, or a daemon dies before the trainers are done, the
// others get SIGTERM, then SIGKILL after `grace`, and the launch returns non-zero naming the
// first failure. No process outlives the launch.
// Thread-safety: one launch per process (it installs SIGINT/SIGTERM/SIGHUP handlers).
#pragma once

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace disttgl::trainer {

struct ProcessSpec {
  std::string label;                                     ///< output prefix: "rank 0", "daemon 1"
  std::vector<std::string> argv;                         ///< argv[0] is the program (a path)
  std::vector<std::pair<std::string, std::string>> env;  ///< added to the launcher's own
  /// A daemon: must stay up until the workers finish; then it is stopped with SIGTERM.
  bool daemon = false;
  /// Started only when this file exists (a daemon's socket), checked up to start_timeout.
  std::string wait_for_file;
};

/// What the caller learns while processes run (the launcher's metrics); either may be empty.
struct ProcessHooks {
  std::function<void(const ProcessSpec&)> started;
  /// `ok`: it exited 0, or it was a daemon stopped because the trainers were done.
  std::function<void(const ProcessSpec&, int exit_code, bool ok)> exited;
};

struct LaunchOutcome {
  int exit_code = 0;    ///< 0, or the first failure's code (128+signal when killed)
  std::string failed;   ///< label of the first process that failed ("" when none)
  std::string message;  ///< one line for the user
};

/// Starts `processes` in order (a process with wait_for_file waits for that file first),
/// streams their output to `out` line by line with "[label] " prefixes, and waits. Returns
/// when every worker has exited (daemons are then stopped) or after a failure has ended
/// everything. SIGINT/SIGTERM to the launcher are forwarded to every child.
LaunchOutcome run_processes(const std::vector<ProcessSpec>& processes, std::ostream& out,
                            std::chrono::milliseconds grace = std::chrono::seconds(10),
                            std::chrono::milliseconds start_timeout = std::chrono::seconds(30),
                            const ProcessHooks& hooks = {});

}  // namespace disttgl::trainer

// Helpers for tests that run the real disttgl-trainer binary (DISTTGL_TRAINER_BIN, defined
// for every test by disttgl_test): a per-process scratch path under /tmp, reading a file
// whole, and one run of the CLI with its exit code and output.
// Header-only: each test target already carries the binary's path as a definition.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

namespace disttgl::test {

/// /tmp/disttgl_PREFIX_PID_NAME, removed if it exists (nothing is created).
inline std::filesystem::path temp_path(const std::string& prefix, const std::string& name) {
  auto p = std::filesystem::path("/tmp") /
           ("disttgl_" + prefix + "_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(p);
  return p;
}

/// The whole file ("" when it cannot be read).
inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Runs `disttgl-trainer ARGS` to completion; returns {exit code (-1 if killed), stdout and
/// stderr together}. `prefix` names the scratch log.
inline std::pair<int, std::string> run_trainer(const std::string& args,
                                               const std::string& prefix) {
  const auto log = temp_path(prefix, "cli_log");
  const std::string cmd =
      std::string(DISTTGL_TRAINER_BIN) + " " + args + " > " + log.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  std::string text = read_text(log);
  std::filesystem::remove(log);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

}  // namespace disttgl::test

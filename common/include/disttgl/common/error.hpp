// Error types shared by every disttgl binary.
//
// Synchronous code throws; `main` catches `disttgl::Error`, prints its one-line message and
// exits with `exit_code()`. Bad user input (files, configs, CR fields) is an `InputError` or
// `ConfigError` and exits with code 2; bugs are `InternalError` (exit 70).
// Thread-safety: the types are plain values.
#pragma once

#include <stdexcept>
#include <string>

namespace disttgl {

/// Exit code for bad user input (malformed file, bad flag or config value).
inline constexpr int kExitBadInput = 2;
/// Exit code for I/O failures that are not the input's fault (disk full, permission).
inline constexpr int kExitIo = 74;
/// Exit code for internal errors (a broken invariant: a bug).
inline constexpr int kExitInternal = 70;

/// Base of all disttgl errors. `what()` is the full one-line message.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  /// Process exit code `main` uses for this error.
  virtual int exit_code() const noexcept { return kExitInternal; }
};

/// Bad input data: the message starts with `FILE:LINE: ` when a line is known, else `FILE: `.
class InputError : public Error {
 public:
  explicit InputError(const std::string& message) : Error(message) {}
  /// Builds "FILE:LINE: what" (line >= 1) or "FILE: what" (line <= 0).
  InputError(const std::string& file, long line, const std::string& what);
  int exit_code() const noexcept override { return kExitBadInput; }
};

/// Bad configuration or command-line value; the message names the key or flag.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message) : Error(message) {}
  int exit_code() const noexcept override { return kExitBadInput; }
};

/// An I/O failure writing outputs (not the input's fault).
class IoError : public Error {
 public:
  explicit IoError(const std::string& message) : Error(message) {}
  int exit_code() const noexcept override { return kExitIo; }
};

/// A broken internal invariant (a bug), raised by DISTTGL_CHECK with `file:line`.
class InternalError : public Error {
 public:
  explicit InternalError(const std::string& message) : Error(message) {}
};

namespace detail {
[[noreturn]] void throw_check_failure(const char* expr, const char* file, int line,
                                      const std::string& message);
}  // namespace detail

}  // namespace disttgl

/// Checks an internal invariant; throws disttgl::InternalError naming file:line on failure.
#define DISTTGL_CHECK(cond, message)                                                           \
  do {                                                                                         \
    if (!(cond)) ::disttgl::detail::throw_check_failure(#cond, __FILE__, __LINE__, (message)); \
  } while (false)

// Stop requests from SIGINT, SIGTERM and SIGHUP, honoured at safe points.
//
// Long loops (training batches, evaluation) poll `throw_if_stop_requested()` between units of
// work, so a Ctrl-C or a pod's SIGTERM unwinds through the normal error path: temporary
// outputs are removed and completed files (written atomically) stay consistent. The first
// signal prints one line to stderr; a second signal of any of the three terminates at once.
// Thread-safety: the flag is a lock-free atomic; the handlers are async-signal-safe.
#pragma once

#include <string>

#include "disttgl/common/error.hpp"

namespace disttgl {

/// The run was stopped by a signal; exit code 128 + signal number (130 for SIGINT, 143 for
/// SIGTERM, 129 for SIGHUP), as a shell reports a process killed by that signal.
class Interrupted : public Error {
 public:
  explicit Interrupted(int signal_number);
  int exit_code() const noexcept override { return 128 + signal_number_; }
  int signal_number() const noexcept { return signal_number_; }

 private:
  int signal_number_;
};

/// Installs the one-shot SIGINT/SIGTERM/SIGHUP handlers that record a stop request.
/// Idempotent.
void install_stop_handlers();

/// The signal number of the first stop request, or 0 when none arrived.
int stop_signal() noexcept;

/// Throws Interrupted when a stop was requested; cheap enough to call once per batch.
void throw_if_stop_requested();

}  // namespace disttgl

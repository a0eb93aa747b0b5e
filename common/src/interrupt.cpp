#include "disttgl/common/interrupt.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace disttgl {
namespace {

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};  // HUP: a closed terminal or SSH

std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the handler needs a lock-free flag");

extern "C" void on_stop_signal(int sig) {
  int none = 0;
  g_stop_signal.compare_exchange_strong(none, sig);
  // write(2) is async-signal-safe; a long batch would otherwise look like an ignored Ctrl-C.
  static const char kMessage[] =
      "\ndisttgl: stop requested; finishing the current batch (a second signal stops at once)\n";
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  // One-shot for all stop signals (SA_RESETHAND resets only the one that arrived): a second
  // one kills at once. sigaction is async-signal-safe.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (const int s : kStopSignals) sigaction(s, &dfl, nullptr);
}

}  // namespace

Interrupted::Interrupted(int signal_number)
    : Error(std::string("interrupted by ") + (signal_number == SIGINT    ? "SIGINT"
                                              : signal_number == SIGTERM ? "SIGTERM"
                                              : signal_number == SIGHUP  ? "SIGHUP"
                                                                         : "a signal")),
      signal_number_(signal_number) {}

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // SA_RESETHAND closes the window before the handler resets the other signal too.
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  for (const int s : kStopSignals) sigaction(s, &sa, nullptr);
}

int stop_signal() noexcept { return g_stop_signal.load(std::memory_order_relaxed); }

void throw_if_stop_requested() {
  if (const int sig = stop_signal(); sig != 0) throw Interrupted(sig);
}

}  // namespace disttgl

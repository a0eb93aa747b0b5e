#include "disttgl/trainer/train/progress.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace disttgl::trainer {

ProgressLine::ProgressLine(std::string label, std::int64_t total_batches, double log_every_seconds)
    : label_(std::move(label)),
      total_batches_(total_batches < 1 ? 1 : total_batches),
      log_every_seconds_(log_every_seconds),
      tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

double ProgressLine::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressLine::update(std::int64_t batch, std::int64_t events, double loss) {
  const auto now = std::chrono::steady_clock::now();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  const bool last = batch >= total_batches_;
  // A terminal gets ~5 redraws a second; a log gets one line per interval.
  if (!last && since_print < (tty_ ? 0.2 : log_every_seconds_)) return;
  last_print_ = now;
  const double elapsed = elapsed_seconds();
  const double rate = elapsed > 0 ? static_cast<double>(events) / elapsed : 0.0;
  const double eta =
      batch > 0 ? elapsed * static_cast<double>(total_batches_ - batch) / static_cast<double>(batch)
                : 0.0;
  const auto text = fmt::format("{} batch {}/{} | {:.0f} events/s | loss {:.4f} | ETA {:.0f} s",
                                label_, batch, total_batches_, rate, loss, eta);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    open_ = true;
  } else if (!last) {
    spdlog::info("{}", text);
  }
}

void ProgressLine::finish() {
  if (tty_ && open_) {
    std::fputc('\n', stderr);
    open_ = false;
  }
}

ProgressLine::~ProgressLine() { finish(); }

}  // namespace disttgl::trainer

// Progress reporting for long loops: a live, rewritten line (epoch, batch, events/s, loss, ETA)
// when stderr is a terminal; plain log lines every `log_every_seconds` otherwise (CI logs,
// files). Thread-safety: one reporter per loop, used from the loop's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace disttgl::trainer {

class ProgressLine {
 public:
  /// `label` prefixes every line ("epoch 3/10 train"); `total_batches` >= 1 sets the ETA.
  ProgressLine(std::string label, std::int64_t total_batches, double log_every_seconds = 10.0);
  /// Reports that `batch` (1-based) finished, `events` events in total so far, current loss.
  void update(std::int64_t batch, std::int64_t events, double loss);
  /// Ends the line (a newline on a terminal). Safe to call twice.
  void finish();
  ~ProgressLine();

  /// Seconds since construction.
  double elapsed_seconds() const;

 private:
  std::string label_;
  std::int64_t total_batches_;
  double log_every_seconds_;
  bool tty_;
  bool open_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

}  // namespace disttgl::trainer

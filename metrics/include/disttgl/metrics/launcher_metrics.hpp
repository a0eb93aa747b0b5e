// The launcher's Prometheus metrics (`disttgl-trainer launch`): how many of its trainers and
// memory daemons run against how many it started, and how they exited. Series carry the
// constant labels job, role ("launcher") and layout; `child` is "trainer" or "memory-daemon".
// Thread-safety: every method may be called from any thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

#include "disttgl/metrics/labels.hpp"

namespace disttgl::metrics {

class LauncherMetrics {
 public:
  /// Registers the launcher's families in `registry` (which must outlive this object), with
  /// the desired counts of each kind of child.
  LauncherMetrics(prometheus::Registry& registry, const ProcessLabels& labels,
                  const std::string& version, int desired_trainers, int desired_daemons);

  /// A child started (`daemon`: a memory daemon, else a trainer).
  void started(bool daemon);
  /// A child exited; `success` when it exited 0 or was a daemon stopped at the end.
  void exited(bool daemon, bool success);

 private:
  struct Kind {
    prometheus::Gauge* running = nullptr;
    prometheus::Counter* success = nullptr;
    prometheus::Counter* failure = nullptr;
  };
  Kind& kind(bool daemon) { return daemon ? daemons_ : trainers_; }
  Kind trainers_, daemons_;
};

}  // namespace disttgl::metrics

// The trainer's Prometheus metrics (issue 11): names follow Prometheus conventions (base
// units, _total counters, _seconds, _bytes) under the disttgl_ prefix; every series carries
// the constant labels job, role ("trainer"), rank, memory_group and layout, and no label
// takes unbounded values (stages are a fixed set).
// Thread-safety: every method may be called from any thread (prometheus-cpp metrics are
// atomic); the prefetch thread observes sample/gather while the compute thread does the rest.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <string>

#include "disttgl/metrics/labels.hpp"

namespace disttgl::metrics {

/// Stages of one training iteration (the `stage` label of the iteration histogram).
enum class Stage : int {
  kSample,      ///< temporal neighbour sampling and negatives
  kGather,      ///< features, blocks and the memory read request (with host-to-device)
  kWait,        ///< the compute thread waiting for the prefetched batch
  kMemoryRead,  ///< waiting for the memory rows (the daemon's round trip)
  kForward,
  kBackward,
  kAllreduce,  ///< the gradient all-reduce (distributed runs)
  kOptimizer,
  kMemoryWrite,  ///< the memory and mailbox write-back
};
inline constexpr int kStageCount = 9;

/// The label value of `stage`, e.g. "memory_read".
const char* stage_name(Stage stage);

class TrainerMetrics {
 public:
  /// Registers the trainer's families in `registry` (which must outlive this object).
  /// `version`, `torch_version` and `device` label disttgl_build_info.
  TrainerMetrics(prometheus::Registry& registry, const ProcessLabels& labels,
                 const std::string& version, const std::string& torch_version,
                 const std::string& device);

  void add_events(std::int64_t events);  ///< positive events trained
  void add_iteration();                  ///< one optimizer step
  void observe(Stage stage, double seconds);
  void set_epoch(std::int64_t epoch);
  void set_loss(double loss);
  /// NaN MRR: not computed (left unchanged). Only rank 0 exposes validation (elsewhere a no-op).
  void set_validation(double ap, double mrr);
  /// Bytes this trainer sent to / received from its memory daemon (socket and shared
  /// memory both count).
  void add_memory_traffic(std::int64_t sent_bytes, std::int64_t received_bytes);
  void add_allreduce_bytes(std::int64_t bytes);
  void set_queue_depth(std::int64_t batches);  ///< prefetched batches waiting
  void add_evaluation_batch();                 ///< one batch of validation/test evaluation

 private:
  prometheus::Counter* events_;
  prometheus::Counter* iterations_;
  std::array<prometheus::Histogram*, kStageCount> stages_{};
  prometheus::Gauge* epoch_;
  prometheus::Gauge* loss_;
  prometheus::Gauge* val_ap_ = nullptr;  // rank 0 only
  prometheus::Gauge* val_mrr_ = nullptr;
  prometheus::Counter* memory_sent_;
  prometheus::Counter* memory_received_;
  prometheus::Counter* allreduce_;
  prometheus::Gauge* queue_depth_;
  prometheus::Counter* evaluation_batches_;
};

}  // namespace disttgl::metrics

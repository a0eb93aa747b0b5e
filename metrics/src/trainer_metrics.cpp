#include "disttgl/metrics/trainer_metrics.hpp"

#include <cmath>
#include <limits>

namespace disttgl::metrics {
namespace {

// Iteration stages span 10 us (a cached gather) to tens of seconds (a daemon waiting out
// another rank): exponential buckets, factor 4.
prometheus::Histogram::BucketBoundaries stage_buckets() {
  return exponential_buckets(1e-5, 4, 100);
}

}  // namespace

const char* stage_name(Stage stage) {
  static constexpr std::array<const char*, kStageCount> kNames = {
      "sample",   "gather",    "wait",      "memory_read", "forward",
      "backward", "allreduce", "optimizer", "memory_write"};
  return kNames[static_cast<std::size_t>(stage)];
}

TrainerMetrics::TrainerMetrics(prometheus::Registry& registry, const ProcessLabels& labels,
                               const std::string& version, const std::string& torch_version,
                               const std::string& device) {
  const prometheus::Labels c = constant_labels(labels);
  const auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Labels(c).Register(registry).Add({});
  };
  const auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Labels(c).Register(registry).Add({});
  };
  events_ = counter("disttgl_events_trained_total", "Positive events trained (each pass counts).");
  iterations_ = counter("disttgl_iterations_total", "Training iterations (optimizer steps).");
  auto& stages = prometheus::BuildHistogram()
                     .Name("disttgl_iteration_stage_seconds")
                     .Help("Time of each stage of a training iteration.")
                     .Labels(c)
                     .Register(registry);
  for (int s = 0; s < kStageCount; ++s) {
    stages_[static_cast<std::size_t>(s)] =
        &stages.Add({{"stage", stage_name(static_cast<Stage>(s))}}, stage_buckets());
  }
  epoch_ = gauge("disttgl_epoch", "Current training epoch (1-based).");
  // NaN until there is a value: a 0 would read as a real loss or AP.
  const double none = std::numeric_limits<double>::quiet_NaN();
  loss_ = gauge("disttgl_loss",
                "Training loss of a recent iteration (the single-process loop reads it every "
                "16 iterations; NaN before the first).");
  loss_->Set(none);
  // Only rank 0 validates (a distributed run validates on rank 0's replica).
  if (labels.rank <= 0) {
    val_ap_ = gauge("disttgl_validation_ap",
                    "Validation average precision of the last epoch (NaN before the first).");
    val_mrr_ = gauge("disttgl_validation_mrr",
                     "Validation mean reciprocal rank of the last epoch (NaN when not computed).");
    val_ap_->Set(none);
    val_mrr_->Set(none);
  }
  auto& traffic = prometheus::BuildCounter()
                      .Name("disttgl_memory_traffic_bytes_total")
                      .Help("Bytes between this trainer and its memory daemon, by direction.")
                      .Labels(c)
                      .Register(registry);
  memory_sent_ = &traffic.Add({{"direction", "to_daemon"}});
  memory_received_ = &traffic.Add({{"direction", "from_daemon"}});
  allreduce_ = counter("disttgl_allreduce_bytes_total", "Bytes all-reduced (gradients).");
  queue_depth_ = gauge("disttgl_pipeline_queue_depth", "Prefetched batches waiting.");
  evaluation_batches_ =
      counter("disttgl_evaluation_batches_total",
              "Batches of validation and test evaluation (each reads and writes memory).");
  register_build_info(registry, labels, version,
                      {{"torch_version", torch_version}, {"device", device}});
}

void TrainerMetrics::add_events(std::int64_t events) {
  events_->Increment(static_cast<double>(events));
}
void TrainerMetrics::add_iteration() { iterations_->Increment(); }
void TrainerMetrics::observe(Stage stage, double seconds) {
  stages_[static_cast<std::size_t>(stage)]->Observe(seconds);
}
void TrainerMetrics::set_epoch(std::int64_t epoch) { epoch_->Set(static_cast<double>(epoch)); }
void TrainerMetrics::set_loss(double loss) { loss_->Set(loss); }
void TrainerMetrics::set_validation(double ap, double mrr) {
  if (val_ap_ == nullptr) return;  // a rank that does not validate
  val_ap_->Set(ap);
  if (!std::isnan(mrr)) val_mrr_->Set(mrr);
}
void TrainerMetrics::add_memory_traffic(std::int64_t sent_bytes, std::int64_t received_bytes) {
  memory_sent_->Increment(static_cast<double>(sent_bytes));
  memory_received_->Increment(static_cast<double>(received_bytes));
}
void TrainerMetrics::add_allreduce_bytes(std::int64_t bytes) {
  allreduce_->Increment(static_cast<double>(bytes));
}
void TrainerMetrics::add_evaluation_batch() { evaluation_batches_->Increment(); }
void TrainerMetrics::set_queue_depth(std::int64_t batches) {
  queue_depth_->Set(static_cast<double>(batches));
}

}  // namespace disttgl::metrics

// The trainer's metric families as Prometheus scrapes them: names, labels and values, and
// `promtool check metrics` with no errors or lint warnings.
#include "disttgl/metrics/trainer_metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "disttgl/metrics/server.hpp"
#include "scrape.hpp"

namespace disttgl::metrics {
namespace {

TEST(TrainerMetrics, EveryFamilyIsExposedWithItsLabelsAndPassesPromtool) {
  auto registry = std::make_shared<prometheus::Registry>();
  ProcessLabels labels;
  labels.job = "wiki";
  labels.rank = 3;
  labels.memory_group = 1;
  labels.layout = "i=1,j=2,k=2";
  TrainerMetrics m(*registry, labels, "0.1.0", "2.11.0", "cpu");
  m.add_events(600);
  m.add_events(600);
  m.add_iteration();
  for (int s = 0; s < kStageCount; ++s) m.observe(static_cast<Stage>(s), 0.003);
  m.set_epoch(2);
  m.set_loss(0.75);
  m.set_validation(0.85, std::nan(""));
  m.set_validation(0.86, 0.41);
  m.add_memory_traffic(1000, 2500);
  m.add_allreduce_bytes(887700);
  m.set_queue_depth(1);
  m.add_evaluation_batch();
  m.add_evaluation_batch();
  MetricsOptions o;
  o.address = "127.0.0.1";
  o.port = -1;
  MetricsServer server(o, registry);
  const std::string text = scrape(server.port());
  const std::string l =
      "job=\"wiki\",layout=\"i=1,j=2,k=2\",memory_group=\"1\",rank=\"3\",role=\"trainer\"";
  for (const std::string& line : {
           "disttgl_events_trained_total{" + l + "} 1200",
           "disttgl_iterations_total{" + l + "} 1",
           "disttgl_epoch{" + l + "} 2",
           "disttgl_loss{" + l + "} 0.75",
           // prometheus-cpp writes the constant labels first, then the family's own.
           "disttgl_memory_traffic_bytes_total{" + l + ",direction=\"to_daemon\"} 1000",
           "disttgl_memory_traffic_bytes_total{" + l + ",direction=\"from_daemon\"} 2500",
           "disttgl_allreduce_bytes_total{" + l + "} 887700",
           "disttgl_pipeline_queue_depth{" + l + "} 1",
           "disttgl_evaluation_batches_total{" + l + "} 2",
       }) {
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << line << "\n" << text;
  }
  for (int s = 0; s < kStageCount; ++s) {
    const std::string count = std::string("disttgl_iteration_stage_seconds_count{") + l +
                              ",stage=\"" + stage_name(static_cast<Stage>(s)) + "\"} 1\n";
    EXPECT_NE(text.find(count), std::string::npos) << count;
  }
  EXPECT_NE(text.find("disttgl_build_info{device=\"cpu\","), std::string::npos) << text;
  // Only rank 0 validates: rank 3 exposes no validation gauges at all (not a misleading 0).
  EXPECT_EQ(text.find("disttgl_validation_"), std::string::npos) << text;
  const auto [code, lint] = promtool(text);
  EXPECT_EQ(code, 0) << lint;
  EXPECT_EQ(lint, "") << lint;
}

// Rank 0's validation and the loss read NaN until they have a value (a 0 would look real);
// a NaN MRR (validation without MRR) leaves the last MRR as it was.
TEST(TrainerMetrics, RankZeroValidationAndLossAreNanUntilSet) {
  auto registry = std::make_shared<prometheus::Registry>();
  ProcessLabels labels;
  labels.job = "wiki";
  TrainerMetrics m(*registry, labels, "0.1.0", "2.11.0", "cpu");
  MetricsOptions o;
  o.address = "127.0.0.1";
  o.port = -1;
  MetricsServer server(o, registry);
  const std::string l =
      "job=\"wiki\",layout=\"i=1,j=1,k=1\",memory_group=\"0\",rank=\"0\",role=\"trainer\"";
  std::string text = scrape(server.port());
  for (const char* name : {"disttgl_validation_ap", "disttgl_validation_mrr", "disttgl_loss"}) {
    EXPECT_NE(text.find(std::string(name) + "{" + l + "} Nan\n"), std::string::npos) << text;
  }
  m.set_validation(0.86, 0.41);
  m.set_validation(0.87, std::nan(""));
  text = scrape(server.port());
  EXPECT_NE(text.find("disttgl_validation_ap{" + l + "} 0.87\n"), std::string::npos) << text;
  EXPECT_NE(text.find("disttgl_validation_mrr{" + l + "} 0.41\n"), std::string::npos) << text;
  const auto [code, lint] = promtool(text);
  EXPECT_EQ(code, 0) << lint;
  EXPECT_EQ(lint, "") << lint;
}

}  // namespace
}  // namespace disttgl::metrics

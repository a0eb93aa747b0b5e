// The memory daemon's and the launcher's metric families as Prometheus scrapes them, their
// bounded labels (an unknown request type is "unknown"; a daemon has no rank label) and
// `promtool check metrics` with no errors or lint warnings.
#include <gtest/gtest.h>

#include <string>

#include "disttgl/metrics/daemon_metrics.hpp"
#include "disttgl/metrics/launcher_metrics.hpp"
#include "disttgl/metrics/server.hpp"
#include "scrape.hpp"

namespace disttgl::metrics {
namespace {

std::string serve_and_scrape(std::shared_ptr<prometheus::Registry> registry) {
  MetricsOptions o;
  o.address = "127.0.0.1";
  o.port = -1;
  MetricsServer server(o, std::move(registry));
  return scrape(server.port());
}

void expect_lines(const std::string& text, const std::vector<std::string>& lines) {
  for (const std::string& line : lines) {
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << line << "\n" << text;
  }
}

TEST(DaemonMetrics, OpIndexIsCaseInsensitiveAndBounded) {
  EXPECT_EQ(kDaemonOps[DaemonMetrics::op_index("READ_SHM")], "read_shm");
  EXPECT_EQ(kDaemonOps[DaemonMetrics::op_index("write")], "write");
  EXPECT_EQ(kDaemonOps[DaemonMetrics::op_index("HELLO_OK")], "unknown");
  EXPECT_EQ(kDaemonOps[DaemonMetrics::op_index("0x7f01")], "unknown");
  EXPECT_EQ(kDaemonOps[DaemonMetrics::op_index("")], "unknown");
}

TEST(DaemonMetrics, EveryFamilyIsExposedWithItsLabelsAndPassesPromtool) {
  auto registry = std::make_shared<prometheus::Registry>();
  ProcessLabels labels;
  labels.job = "wiki";
  labels.role = "memory-daemon";
  labels.rank = -1;
  labels.memory_group = 1;
  labels.layout = "i=2,j=1,k=2";
  DaemonMetrics m(*registry, labels, "0.1.0");
  const std::size_t read = DaemonMetrics::op_index("READ");
  m.record_request(read, true, 0.002);
  m.record_request(read, true, 0.004);
  m.record_request(read, false, 0.5);
  m.record_request(DaemonMetrics::op_index("ATTACH_SHM"), true, -1);  // counted, not timed
  m.record_request(99, false, 0.001);                                 // out of range: unknown
  m.add_bytes_in(100);
  m.add_bytes_in(28);
  m.add_bytes_out(4096);
  m.set_state(9228, 1181184);
  m.set_waiting_requests(3);
  m.set_connected_trainers(2);
  m.set_next_batch(41);
  const std::string text = serve_and_scrape(registry);
  const std::string l =
      "job=\"wiki\",layout=\"i=2,j=1,k=2\",memory_group=\"1\",role=\"memory-daemon\"";
  expect_lines(text,
               {
                   "disttgl_daemon_requests_total{" + l + ",op=\"read\",outcome=\"ok\"} 2",
                   "disttgl_daemon_requests_total{" + l + ",op=\"read\",outcome=\"error\"} 1",
                   "disttgl_daemon_requests_total{" + l + ",op=\"attach_shm\",outcome=\"ok\"} 1",
                   "disttgl_daemon_requests_total{" + l + ",op=\"unknown\",outcome=\"error\"} 1",
                   "disttgl_daemon_request_seconds_count{" + l + ",op=\"read\"} 3",
                   "disttgl_daemon_request_seconds_sum{" + l + ",op=\"read\"} 0.506",
                   "disttgl_daemon_request_seconds_count{" + l + ",op=\"attach_shm\"} 0",
                   "disttgl_daemon_traffic_bytes_total{" + l + ",direction=\"in\"} 128",
                   "disttgl_daemon_traffic_bytes_total{" + l + ",direction=\"out\"} 4096",
                   "disttgl_daemon_nodes{" + l + "} 9228",
                   "disttgl_daemon_state_bytes{" + l + "} 1181184",
                   "disttgl_daemon_waiting_requests{" + l + "} 3",
                   "disttgl_daemon_connected_trainers{" + l + "} 2",
                   "disttgl_daemon_next_batch{" + l + "} 41",
                   "disttgl_build_info{" + l + ",version=\"0.1.0\"} 1",
               });
  EXPECT_EQ(text.find("rank="), std::string::npos) << "a daemon has no rank label\n" << text;
  const auto [code, lint] = promtool(text);
  EXPECT_EQ(code, 0) << lint;
  EXPECT_EQ(lint, "") << lint;
}

TEST(LauncherMetrics, CountsRunningChildrenAndExitsByOutcome) {
  auto registry = std::make_shared<prometheus::Registry>();
  ProcessLabels labels;
  labels.job = "wiki";
  labels.role = "launcher";
  labels.rank = -1;
  labels.memory_group = -1;
  labels.layout = "i=1,j=1,k=2";
  LauncherMetrics m(*registry, labels, "0.1.0", 2, 2);
  m.started(true);
  m.started(true);
  m.started(false);
  m.started(false);
  m.exited(false, true);
  m.exited(false, false);
  m.exited(true, true);
  const std::string text = serve_and_scrape(registry);
  const std::string l = "job=\"wiki\",layout=\"i=1,j=1,k=2\",role=\"launcher\"";
  expect_lines(
      text,
      {
          "disttgl_launcher_processes{" + l + ",child=\"trainer\"} 0",
          "disttgl_launcher_processes{" + l + ",child=\"memory-daemon\"} 1",
          "disttgl_launcher_desired_processes{" + l + ",child=\"trainer\"} 2",
          "disttgl_launcher_desired_processes{" + l + ",child=\"memory-daemon\"} 2",
          "disttgl_launcher_process_exits_total{" + l + ",child=\"trainer\",outcome=\"success\"} 1",
          "disttgl_launcher_process_exits_total{" + l + ",child=\"trainer\",outcome=\"failure\"} 1",
          "disttgl_launcher_process_exits_total{" + l +
              ",child=\"memory-daemon\",outcome=\"success\"} 1",
      });
  const auto [code, lint] = promtool(text);
  EXPECT_EQ(code, 0) << lint;
  EXPECT_EQ(lint, "") << lint;
}

}  // namespace
}  // namespace disttgl::metrics

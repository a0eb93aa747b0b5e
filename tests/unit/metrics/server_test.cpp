// The /metrics endpoint: served over real HTTP on loopback, accepted by `promtool check
// metrics` (Prometheus's own linter), refused clearly when the port is taken.
#include "disttgl/metrics/server.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <string>

#include "disttgl/common/error.hpp"
#include "disttgl/metrics/flags.hpp"
#include "scrape.hpp"

namespace disttgl::metrics {
namespace {

TEST(MetricsServer, ServesTheRegistryOverHttpAndPromtoolAcceptsIt) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& events = prometheus::BuildCounter()
                     .Name("disttgl_events_trained_total")
                     .Help("Positive events trained.")
                     .Register(*registry)
                     .Add({{"role", "trainer"}, {"rank", "0"}});
  auto& stage = prometheus::BuildHistogram()
                    .Name("disttgl_iteration_stage_seconds")
                    .Help("Time per training iteration by stage.")
                    .Register(*registry)
                    .Add({{"stage", "forward"}},
                         prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1, 1});
  MetricsOptions o;
  o.address = "127.0.0.1";
  o.port = -1;  // any free port
  MetricsServer server(o, registry);
  ASSERT_GT(server.port(), 0);
  events.Increment(600);
  stage.Observe(0.02);
  const std::string text = scrape(server.port());
  EXPECT_NE(text.find("disttgl_events_trained_total{rank=\"0\",role=\"trainer\"} 600"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("disttgl_iteration_stage_seconds_bucket{stage=\"forward\",le=\"0.1\"} 1"),
            std::string::npos)
      << text;
  const auto [code, lint] = promtool(text);
  EXPECT_EQ(code, 0) << lint;
  EXPECT_EQ(lint, "") << lint;  // no errors and no lint warnings
}

TEST(MetricsServer, PortZeroServesNothingAndATakenPortIsAClearError) {
  auto registry = std::make_shared<prometheus::Registry>();
  MetricsServer off(MetricsOptions{}, registry);
  EXPECT_EQ(off.port(), 0);
  MetricsOptions o;
  o.address = "127.0.0.1";
  o.port = -1;
  MetricsServer first(o, registry);
  o.port = first.port();
  try {
    MetricsServer second(o, registry);
    FAIL() << "a second server on port " << o.port << " started";
  } catch (const ConfigError& e) {
    const std::string expected =
        "--metrics-port: " + std::to_string(o.port) + " on 127.0.0.1 is in use or not allowed";
    EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
  }
  o.address = "not-an-address";
  EXPECT_THROW(MetricsServer(o, registry), ConfigError);
}

// The flags' rule: a taken default port turns /metrics off (several processes on one
// machine); a port the user gave must work; 0 is off.
TEST(ServeMetrics, ATakenDefaultPortIsOffAndATakenGivenPortIsAnError) {
  auto registry = std::make_shared<prometheus::Registry>();
  MetricsOptions o;
  o.address = "127.0.0.1";
  o.port = -1;
  MetricsServer holder(o, registry);  // another process on this machine
  MetricsFlags flags;
  flags.address = "127.0.0.1";
  flags.default_port = holder.port();
  flags.port = -1;
  EXPECT_EQ(serve_metrics(flags, registry), nullptr);
  flags.port = holder.port();
  try {
    serve_metrics(flags, registry);
    FAIL() << "a given, taken port was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--metrics-port: " + std::to_string(holder.port())),
              std::string::npos)
        << e.what();
  }
  flags.port = 0;
  EXPECT_EQ(serve_metrics(flags, registry), nullptr);
}

}  // namespace
}  // namespace disttgl::metrics

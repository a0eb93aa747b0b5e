// The /metrics endpoint: served over real HTTP on loopback, accepted by `promtool check
// metrics` (Prometheus's own linter), refused clearly when the port is taken.
#include "disttgl/metrics/server.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <string>
#include <vector>

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
        "--metrics-port: " + std::to_string(o.port) + " on 127.0.0.1 is in use";
    EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
    EXPECT_NE(dynamic_cast<const PortInUse*>(&e), nullptr) << "not a PortInUse";
  }
  o.address = "not-an-address";
  try {
    MetricsServer bad(o, registry);
    FAIL() << "a server on 'not-an-address' started";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--metrics-address: 'not-an-address' is not an IP", 0),
              0u)
        << e.what();
    EXPECT_EQ(dynamic_cast<const PortInUse*>(&e), nullptr) << "an address error is no PortInUse";
  }
}

// What else a client may send: HEAD (headers only), a query string (a scrape config's
// `params:`), another method (405) and another path (404).
TEST(MetricsServer, AnswersHeadAndQueryStringsAndRefusesOtherMethodsAndPaths) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge().Name("disttgl_epoch").Help("Epoch.").Register(*registry).Add({}).Set(3);
  MetricsOptions o;
  o.address = "127.0.0.1";
  o.port = -1;
  MetricsServer server(o, registry);
  const auto ask = [&](const std::string& line) {
    return http_exchange(server.port(), line + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  };
  const std::string head = ask("HEAD /metrics");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_EQ(head.find("disttgl_epoch 3"), std::string::npos) << "HEAD sent a body:\n" << head;
  const std::string query = ask("GET /metrics?module=x");
  EXPECT_EQ(query.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << query;
  EXPECT_NE(query.find("disttgl_epoch 3\n"), std::string::npos) << query;
  const std::string post = ask("POST /metrics");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
  const std::string other = ask("GET /");
  EXPECT_EQ(other.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << other;
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
  // Only a taken port is shrugged off: a bad address is an error even on the default port.
  flags.port = -1;
  flags.default_port = -1;  // any free port: the address alone decides
  flags.address = "not-an-ip";
  EXPECT_THROW(serve_metrics(flags, registry), ConfigError);
}

// --metrics-linger takes a real number of seconds: NaN, negative and non-numbers are refused.
TEST(MetricsFlags, LingerRefusesNanNegativeAndText) {
  for (const std::string bad : {"nan", "-1", "inf", "1e9", "soon"}) {
    CLI::App app;
    MetricsFlags flags;
    add_metrics_flags(app, flags);
    std::vector<std::string> args{"--metrics-linger", bad};
    std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
    EXPECT_THROW(app.parse(args), CLI::ValidationError) << bad;
  }
  CLI::App app;
  MetricsFlags flags;
  add_metrics_flags(app, flags);
  std::vector<std::string> args{"2.5", "--metrics-linger"};
  app.parse(args);
  EXPECT_EQ(flags.linger_seconds, 2.5);
}

}  // namespace
}  // namespace disttgl::metrics

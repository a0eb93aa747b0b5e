#include "disttgl/metrics/flags.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <stdexcept>

#include "disttgl/common/error.hpp"

namespace disttgl::metrics {

void add_metrics_flags(CLI::App& app, MetricsFlags& flags) {
  app.add_option("--metrics-port", flags.port,
                 fmt::format("serve Prometheus metrics at /metrics on this TCP port (0: off; "
                             "default {}, quietly off when another process holds it)",
                             flags.default_port))
      ->check(CLI::Range(0, 65535));
  app.add_option("--metrics-address", flags.address,
                 "address /metrics listens on (all interfaces, as a pod needs; 127.0.0.1 for "
                 "this machine only)")
      ->capture_default_str();
  app.add_option("--metrics-linger", flags.linger_seconds,
                 "seconds to keep serving /metrics after the work ends, so that a short job's "
                 "final values are scraped (default 0)")
      ->check(CLI::Validator(
          [](const std::string& text) -> std::string {
            // CLI::Range lets NaN through; a linger must be a real number of seconds.
            try {
              std::size_t used = 0;
              const double v = std::stod(text, &used);
              if (used == text.size() && std::isfinite(v) && v >= 0 && v <= 86400) return "";
            } catch (const std::exception&) {
            }
            return "must be a number of seconds in [0, 86400], got '" + text + "'";
          },
          "SECONDS", "seconds"));
}

std::unique_ptr<MetricsServer> serve_metrics(const MetricsFlags& flags,
                                             std::shared_ptr<prometheus::Registry> registry,
                                             std::map<std::string, TextHandler> extra_paths) {
  if (flags.port == 0) return nullptr;
  MetricsOptions o;
  o.address = flags.address;
  o.port = flags.port < 0 ? flags.default_port : flags.port;
  o.linger_seconds = flags.linger_seconds;
  o.extra_paths = std::move(extra_paths);
  std::unique_ptr<MetricsServer> server;
  try {
    server = std::make_unique<MetricsServer>(o, std::move(registry));
  } catch (const PortInUse& e) {
    if (flags.port >= 0) throw;  // the user asked for this port: it must work
    spdlog::warn(
        "/metrics is off: {} (another process on this machine has the default port; "
        "give --metrics-port)",
        e.what());
    return nullptr;
  }
  if (server->port() == 0) return nullptr;
  spdlog::info("metrics at {}", server->url());
  return server;
}

}  // namespace disttgl::metrics

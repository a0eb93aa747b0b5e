// The --metrics-port / --metrics-address / --metrics-linger flags every disttgl program takes
// (trainer, memory daemon, launcher), and starting its /metrics from them
// (docs/observability.md).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "disttgl/metrics/server.hpp"

namespace disttgl::metrics {

struct MetricsFlags {
  int port = -1;  ///< -1: kDefaultPort, quietly off when another process has it; 0: off
  std::string address = "0.0.0.0";
  double linger_seconds = 0.0;
  /// The port this process serves on when the flag was left at its default.
  int default_port = kDefaultPort;
};

/// Adds the three flags to `app` (a program or subcommand), writing into `flags`, which must
/// outlive the parse.
void add_metrics_flags(CLI::App& app, MetricsFlags& flags);

/// Starts /metrics for `registry` as `flags` say. Returns null when the port is 0, or when
/// the port was left at its default and another process holds it (a warning is logged:
/// several processes on one machine). Logs the URL it serves. Throws PortInUse for a taken
/// port given on the command line ("--metrics-port: 9464 on 0.0.0.0 is in use (...)") and
/// ConfigError for an address that cannot be used, whatever the port.
std::unique_ptr<MetricsServer> serve_metrics(const MetricsFlags& flags,
                                             std::shared_ptr<prometheus::Registry> registry,
                                             std::map<std::string, TextHandler> extra_paths = {});

}  // namespace disttgl::metrics

// The /metrics endpoint of a disttgl process: one prometheus-cpp registry, serialised by
// prometheus-cpp's text serializer and served over HTTP by Boost.Beast on one I/O thread
// (server.cpp says why not prometheus-cpp's civetweb exposer). Every process (trainer, memory
// daemon, launcher) makes one MetricsServer from its
// --metrics-address/--metrics-port/--metrics-linger options. A short job keeps its final values
// scrapable for --metrics-linger seconds before it exits. Thread-safety: metrics are updated from
// any thread (prometheus-cpp's metrics are atomic); the server itself is built and destroyed on one
// thread.
#pragma once

#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "disttgl/common/error.hpp"

namespace disttgl::metrics {

/// Default port of every disttgl process's /metrics (0 on the command line disables it).
/// 9464 is unassigned in Prometheus's default port allocations list.
inline constexpr int kDefaultPort = 9464;

/// A plain-text endpoint beside /metrics (e.g. /healthz): returns the HTTP status and body.
using TextHandler = std::function<std::pair<int, std::string>()>;

struct MetricsOptions {
  std::string address = "0.0.0.0";  ///< all interfaces (a pod's IP); 127.0.0.1 for local only
  int port = 0;                     ///< 0: no server; negative: any free port (tests)
  double linger_seconds = 0.0;      ///< keep serving this long after the work ends (seconds)
  /// More GET paths served beside /metrics (the operator's /healthz and /readyz); called on
  /// the server's I/O thread, so they must be thread-safe and quick.
  std::map<std::string, TextHandler> extra_paths;
};

/// The port is held by another process (the one error a default port shrugs off).
class PortInUse : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

/// `address` as the host part of a URL ("[::1]" for IPv6).
std::string url_host(const std::string& address);

class MetricsServer {
 public:
  /// Serves `registry` at http://ADDRESS:PORT/metrics from now on (port 0 in the options:
  /// nothing is served and port() is 0). Answers GET and HEAD of /metrics (a query string is
  /// ignored), 405 for other methods and 404 for other paths. Throws PortInUse when another
  /// process holds the port ("--metrics-port: 9464 on 0.0.0.0 is in use (...)") and
  /// ConfigError for an address that cannot be used ("--metrics-address: 'x' is not an IP
  /// address (...)", "--metrics-address/--metrics-port: cannot listen on 10.0.0.9:9464
  /// (Cannot assign requested address)").
  MetricsServer(const MetricsOptions& options, std::shared_ptr<prometheus::Registry> registry);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// The bound TCP port (the chosen one when the options asked for an ephemeral port by
  /// giving a negative port), 0 when disabled.
  int port() const;
  /// "http://ADDRESS:PORT/metrics" (IPv6 addresses in brackets).
  std::string url() const;

  /// Sleeps options.linger_seconds (interrupted early by SIGINT/SIGTERM) so that a
  /// Prometheus scrape can read the final values of a job that is about to exit.
  void linger() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace disttgl::metrics

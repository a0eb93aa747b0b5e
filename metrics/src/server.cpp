#include "disttgl/metrics/server.hpp"

#include <fmt/format.h>
#include <prometheus/exposer.h>

#include <chrono>
#include <thread>

#include "disttgl/common/error.hpp"
#include "disttgl/common/interrupt.hpp"

namespace disttgl::metrics {

struct MetricsServer::Impl {
  MetricsOptions options;
  std::unique_ptr<prometheus::Exposer> exposer;
  int port = 0;
};

MetricsServer::MetricsServer(const MetricsOptions& options,
                             std::shared_ptr<prometheus::Registry> registry)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  if (options.port == 0) return;
  if (options.port > 65535) {
    throw ConfigError(fmt::format("--metrics-port: {} is not a TCP port (0 disables)", options.port));
  }
  if (options.address.empty() || options.address.find(':') != std::string::npos) {
    throw ConfigError(fmt::format("--metrics-address: '{}' is not an IPv4 address or host name",
                                  options.address));
  }
  const int port = options.port < 0 ? 0 : options.port;
  try {
    impl_->exposer =
        std::make_unique<prometheus::Exposer>(fmt::format("{}:{}", options.address, port));
  } catch (const std::exception& e) {
    // civetweb reports only "Possible problem binding to port".
    throw ConfigError(fmt::format("--metrics-port: {} on {} is in use or not allowed ({})", port,
                                  options.address, e.what()));
  }
  impl_->exposer->RegisterCollectable(registry);
  const auto ports = impl_->exposer->GetListeningPorts();
  impl_->port = ports.empty() ? port : ports.front();
}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const { return impl_->port; }

void MetricsServer::linger() const {
  if (!impl_->exposer || impl_->options.linger_seconds <= 0) return;
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration<double>(impl_->options.linger_seconds);
  // Polls the stop flag a few times a second: a linger ends early on SIGINT/SIGTERM.
  while (std::chrono::steady_clock::now() < until && stop_signal() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace disttgl::metrics

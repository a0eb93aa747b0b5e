#include "disttgl/metrics/server.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <prometheus/text_serializer.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <csignal>
#include <thread>

#include "disttgl/common/error.hpp"
#include "disttgl/common/interrupt.hpp"

// Why not prometheus-cpp's own pull exposer: it runs on civetweb, whose Debian build fixes its
// threads' stack size at compile time; in a process with LibTorch's large static TLS that
// stack is too small and pthread_create fails ("Cannot create threads"). The registry, the
// metric types and the text serializer stay prometheus-cpp's; only the HTTP endpoint is
// Boost.Beast's, on one I/O thread.

namespace disttgl::metrics {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// One scrape: read a request, answer it, close (Prometheus opens a connection per scrape
// or keeps one alive; both work with Connection: close). A client that stalls is dropped
// after kSessionTimeout, so idle connections cannot pile up.
constexpr auto kSessionTimeout = std::chrono::seconds(10);

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<prometheus::Registry> registry,
          const std::map<std::string, TextHandler>* extra)
      : stream_(std::move(socket)), registry_(std::move(registry)), extra_(extra) {}

  void start() {
    stream_.expires_after(kSessionTimeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->answer();
                     });
  }

 private:
  void answer() {
    response_.version(request_.version());
    response_.keep_alive(false);
    // The path without a query string: a scrape config's `params:` adds one.
    const std::string_view target(request_.target().data(), request_.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const bool get = request_.method() == http::verb::get;
    const bool head = request_.method() == http::verb::head;
    const auto handler = extra_->find(std::string(path));
    if (handler != extra_->end() && (get || head)) {
      const auto [status, body] = handler->second();
      response_.result(static_cast<http::status>(status));
      response_.set(http::field::content_type, "text/plain");
      response_.body() = body;
    } else if (path != "/metrics") {
      response_.result(http::status::not_found);
      response_.set(http::field::content_type, "text/plain");
      response_.body() = "only /metrics is served\n";
    } else if (!get && !head) {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET, HEAD");
      response_.set(http::field::content_type, "text/plain");
      response_.body() = "only GET and HEAD are allowed\n";
    } else {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response_.body() = prometheus::TextSerializer().Serialize(registry_->Collect());
    }
    response_.prepare_payload();  // HEAD: the length of the body GET would send, no body
    if (head) response_.body().clear();
    stream_.expires_after(kSessionTimeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code, std::size_t) {
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  beast::tcp_stream stream_;
  std::shared_ptr<prometheus::Registry> registry_;
  const std::map<std::string, TextHandler>* extra_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

}  // namespace

std::string url_host(const std::string& address) {
  return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

struct MetricsServer::Impl {
  MetricsOptions options;
  std::shared_ptr<prometheus::Registry> registry;
  asio::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread thread;
  int port = 0;

  void accept() {
    acceptor->async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed at shutdown
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      std::make_shared<Session>(std::move(socket), registry, &options.extra_paths)->start();
      accept();
    });
  }
};

MetricsServer::MetricsServer(const MetricsOptions& options,
                             std::shared_ptr<prometheus::Registry> registry)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->registry = std::move(registry);
  if (options.port == 0) return;
  if (options.port > 65535) {
    throw ConfigError(
        fmt::format("--metrics-port: {} is not a TCP port (0 disables)", options.port));
  }
  const int port = options.port < 0 ? 0 : options.port;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) {
    throw ConfigError(fmt::format("--metrics-address: '{}' is not an IP address ({})",
                                  options.address, ec.message()));
  }
  try {
    impl_->acceptor = std::make_unique<tcp::acceptor>(
        impl_->io, tcp::endpoint(address, static_cast<unsigned short>(port)));
  } catch (const boost::system::system_error& e) {
    const std::string where = url_host(options.address) + ":" + std::to_string(port);
    if (e.code() == asio::error::address_in_use) {
      throw PortInUse(fmt::format("--metrics-port: {} on {} is in use ({})", port, options.address,
                                  e.code().message()));
    }
    throw ConfigError(fmt::format("--metrics-address/--metrics-port: cannot listen on {} ({})",
                                  where, e.code().message()));
  }
  // Not inherited by programs this process starts (the launcher's children): a child that
  // outlived it would hold the port with nobody answering.
  ::fcntl(impl_->acceptor->native_handle(), F_SETFD, FD_CLOEXEC);
  impl_->port = impl_->acceptor->local_endpoint().port();
  impl_->accept();
  // The I/O thread takes no signals: they stay with the threads that handle them (the
  // launcher reads SIGCHLD and SIGTERM through a signalfd, which works only while every
  // thread blocks them).
  sigset_t all, old_mask;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  impl_->thread = std::thread([this] { impl_->io.run(); });
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

MetricsServer::~MetricsServer() {
  if (impl_->thread.joinable()) {
    impl_->io.stop();
    impl_->thread.join();
  }
}

int MetricsServer::port() const { return impl_->port; }

std::string MetricsServer::url() const {
  return fmt::format("http://{}:{}/metrics", url_host(impl_->options.address), impl_->port);
}

void MetricsServer::linger() const {
  const double seconds = impl_->options.linger_seconds;
  if (!impl_->acceptor || !(seconds > 0) || !std::isfinite(seconds)) return;
  spdlog::info("serving {} for {} s more (--metrics-linger; a signal ends it)", url(), seconds);
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration<double>(impl_->options.linger_seconds);
  // Checks the stop flag a few times a second: a linger ends early on SIGINT/SIGTERM.
  while (std::chrono::steady_clock::now() < until && stop_signal() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace disttgl::metrics

// disttgl-operator: watches TGNNJobs and brings up their memory-daemon and trainer pods
// (docs/operator.md). With --leader-election-namespace several replicas run safely: only the
// holder of the Lease reconciles; one that cannot renew it within the renew deadline stops its
// controller and stands by, and SIGTERM releases it so a standby takes over at once. Serves
// /metrics, /healthz and /readyz. Exit codes: 0 after SIGTERM/SIGINT, 2 bad flags or
// kubeconfig, 70 internal error.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "disttgl/common/interrupt.hpp"
#include "disttgl/common/log.hpp"
#include "disttgl/metrics/flags.hpp"
#include "disttgl/operator/controller.hpp"
#include "disttgl/operator/leader.hpp"
#include "disttgl/operator/operator_metrics.hpp"

#ifndef DISTTGL_VERSION
#define DISTTGL_VERSION "unknown"
#endif

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string default_identity() {
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') return pod;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(::getpid());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "disttgl-operator: runs TGNNJobs (disttgl.io/v1alpha1) as memory-daemon and trainer pods"};
  app.set_version_flag("--version", std::string("disttgl-operator ") + DISTTGL_VERSION);
  std::string kubeconfig, context, ns, log_level = "info", lease_ns, identity = default_identity();
  int workers = 2;
  disttgl::metrics::MetricsFlags metrics_flags;
  app.add_option("--kubeconfig", kubeconfig,
                 "kubeconfig file (default: the pod's service account, in a cluster)");
  app.add_option("--context", context, "kubeconfig context (default: its current-context)");
  app.add_option("--namespace", ns, "watch only this namespace (default: all)");
  app.add_option("--workers", workers, "jobs reconciled at once")->check(CLI::Range(1, 64));
  app.add_option("--leader-election-namespace", lease_ns,
                 "elect a leader through the Lease disttgl-operator in this namespace (several "
                 "replicas); default: no election, this process leads");
  app.add_option("--leader-election-id", identity, "this replica's identity in the Lease")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  disttgl::metrics::add_metrics_flags(app, metrics_flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    disttgl::log::init("operator", log_level);
    using namespace disttgl::op;
    const ClusterConfig config =
        kubeconfig.empty() ? in_cluster_config([](const char* n) { return std::getenv(n); })
                           : load_kubeconfig(kubeconfig, context);
    auto registry = std::make_shared<prometheus::Registry>();
    OperatorMetrics metrics(*registry, DISTTGL_VERSION);
    KubeApi api(make_cpprest_transport(config));
    api.on_request = [&metrics](const std::string& verb, int code) {
      metrics.api_request(verb, code);
    };
    ControllerOptions options;
    options.ns = ns;
    options.workers = workers;
    options.metrics = &metrics;
    // A fresh controller (new caches) each time this replica comes to lead.
    std::unique_ptr<Controller> controller;
    std::mutex controller_mu;  // /readyz reads it from the server's thread
    std::atomic<bool> leading{false};
    std::atomic<std::int64_t> heartbeat{now_us()};
    const auto server = disttgl::metrics::serve_metrics(
        metrics_flags, registry,
        {{"/healthz",
          [&] {
            // The main loop beats every second; a stuck loop fails the liveness probe.
            const bool alive = now_us() - heartbeat.load() < 30'000'000;
            return std::pair<int, std::string>{alive ? 200 : 500, alive ? "ok\n" : "stuck\n"};
          }},
         {"/readyz", [&] {
            // A standby is ready (it is healthy and waiting); the leader once its caches synced.
            std::lock_guard lock(controller_mu);
            const bool ready = !controller || controller->synced();
            return std::pair<int, std::string>{ready ? 200 : 503, ready ? "ok\n" : "syncing\n"};
          }}});
    disttgl::install_stop_handlers();
    // The Lease has its own client with a short timeout: a renewal must not outlast it.
    KubeApi lease_api(make_cpprest_transport(config, 4));
    std::unique_ptr<LeaderElector> elector;
    if (!lease_ns.empty()) {
      elector = std::make_unique<LeaderElector>(
          lease_api, LeaseOptions{lease_ns, "disttgl-operator", identity, 15}, now_us);
    }
    spdlog::info("disttgl-operator {} as '{}': TGNNJobs in {} on {}", DISTTGL_VERSION, identity,
                 ns.empty() ? "all namespaces" : ns, config.server);
    auto next_lease = std::chrono::steady_clock::now();
    auto last_renewed = std::chrono::steady_clock::now();
    constexpr auto kRenewDeadline = std::chrono::seconds(10);
    while (disttgl::stop_signal() == 0) {
      heartbeat = now_us();
      if (std::chrono::steady_clock::now() >= next_lease) {
        bool lead = true;
        if (elector) {
          try {
            lead = elector->step();
            if (lead) last_renewed = std::chrono::steady_clock::now();
          } catch (const std::exception& e) {
            // Keep leading only while the Lease we last renewed is surely still ours: past the
            // renew deadline (well inside its 15 s) a standby may take it, so stop acting.
            const bool within = std::chrono::steady_clock::now() - last_renewed < kRenewDeadline;
            spdlog::warn(
                "leader election: {}{}", e.what(),
                leading && !within ? " (renew deadline passed: giving up leadership)" : "");
            lead = leading.load() && within;
          }
        }
        if (lead && !controller) {
          spdlog::info("leading: starting the controller");
          auto c = std::make_unique<Controller>(api, options);
          c->start();
          std::lock_guard lock(controller_mu);
          controller = std::move(c);
        }
        if (!lead && controller) {
          // Another replica may lead now: stop acting at once, then stand by for the Lease.
          spdlog::error("lost the leader Lease: stopping the controller and standing by");
          std::unique_ptr<Controller> old;
          {
            std::lock_guard lock(controller_mu);
            old = std::move(controller);
          }
          old->stop();
        }
        leading = lead;
        metrics.set_leader(lead);
        next_lease = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    spdlog::info("stopping (signal {})", disttgl::stop_signal());
    if (controller) controller->stop();
    if (elector && leading) elector->release();
    return 0;
  } catch (const disttgl::op::KubeconfigError& e) {
    std::fprintf(stderr, "disttgl-operator: error: %s\n", e.what());
    return 2;
  } catch (const disttgl::Error& e) {
    std::fprintf(stderr, "disttgl-operator: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "disttgl-operator: internal error: %s\n", e.what());
    return 70;
  }
}

// disttgl-operator: watches TGNNJobs and brings up their memory-daemon and trainer pods
// (docs/operator.md). Exit codes: 0 after SIGTERM/SIGINT, 2 bad flags or kubeconfig, 70
// internal error.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <thread>

#include "disttgl/common/interrupt.hpp"
#include "disttgl/common/log.hpp"
#include "disttgl/operator/controller.hpp"

#ifndef DISTTGL_VERSION
#define DISTTGL_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  CLI::App app{"disttgl-operator: runs TGNNJobs (disttgl.io/v1alpha1) as memory-daemon and trainer pods"};
  app.set_version_flag("--version", std::string("disttgl-operator ") + DISTTGL_VERSION);
  std::string kubeconfig, context, ns, log_level = "info";
  int workers = 2;
  app.add_option("--kubeconfig", kubeconfig,
                 "kubeconfig file (default: the pod's service account, in a cluster)");
  app.add_option("--context", context, "kubeconfig context (default: its current-context)");
  app.add_option("--namespace", ns, "watch only this namespace (default: all)");
  app.add_option("--workers", workers, "jobs reconciled at once")->check(CLI::Range(1, 64));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    disttgl::log::init("operator", log_level);
    using namespace disttgl::op;
    const ClusterConfig config = kubeconfig.empty()
                                     ? in_cluster_config([](const char* n) { return std::getenv(n); })
                                     : load_kubeconfig(kubeconfig, context);
    KubeApi api(make_cpprest_transport(config));
    ControllerOptions options;
    options.ns = ns;
    options.workers = workers;
    Controller controller(api, options);
    disttgl::install_stop_handlers();
    controller.start();
    spdlog::info("watching TGNNJobs in {} on {}", ns.empty() ? "all namespaces" : ns, config.server);
    while (disttgl::stop_signal() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    spdlog::info("stopping (signal {})", disttgl::stop_signal());
    controller.stop();
    return 0;
  } catch (const disttgl::op::KubeconfigError& e) {
    std::fprintf(stderr, "disttgl-operator: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "disttgl-operator: internal error: %s\n", e.what());
    return 70;
  }
}

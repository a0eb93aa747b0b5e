// disttgl-memory-daemon: serves one memory group's node memory and mailbox to its trainers
// (docs/memory-daemon-protocol.md). Exit codes: 0 clean stop (SIGTERM, SIGINT, SHUTDOWN),
// 2 bad flags or a --restore snapshot that does not fit, 74 I/O (cannot bind, cannot read or
// write a file), 70 internal error.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <sstream>
#include <stdexcept>

#include "disttgl/common/error.hpp"
#include "disttgl/common/interrupt.hpp"
#include "disttgl/common/layout.hpp"
#include "disttgl/common/log.hpp"
#include "disttgl/metrics/daemon_metrics.hpp"
#include "disttgl/metrics/flags.hpp"
#include "server.hpp"

#ifndef DISTTGL_DAEMON_VERSION
#define DISTTGL_DAEMON_VERSION "unknown"
#endif

namespace {

using disttgl::ConfigError;
using disttgl::memory_daemon::Dimensions;
using disttgl::memory_daemon::Layout;
using disttgl::memory_daemon::ServerOptions;

// The one layout syntax of the project (disttgl/common/layout.hpp), in the wire's type.
Layout layout_flag(const std::string& text) {
  const disttgl::ParallelLayout l = disttgl::parse_layout(text, "--layout");
  return Layout{l.i, l.j, l.k};
}

struct Flags {
  std::string listen, unix_path, layout, job, snapshot_on_exit, restore, port_file;
  std::string log_level = "info";
  std::int64_t nodes = 0, memory_dim = 0, mail_dim = 0, mailbox_size = 0;
  std::int32_t memory_group = -1;
  double wait_timeout = 60.0;
  std::uint64_t max_frame_bytes = disttgl::memory_daemon::kDefaultMaxPayloadBytes;
  disttgl::metrics::MetricsFlags metrics;
};

// The constant labels of the daemon's series: what its flags fix (a label the first HELLO
// would fix is left out rather than changed later).
disttgl::metrics::ProcessLabels metric_labels(const ServerOptions& o) {
  disttgl::metrics::ProcessLabels l;
  l.job = o.group.job.value_or("");
  l.role = "memory-daemon";
  l.rank = -1;
  l.memory_group = o.group.memory_group.value_or(-1);
  l.layout = o.group.layout ? disttgl::to_string(disttgl::ParallelLayout{
                                  o.group.layout->i, o.group.layout->j, o.group.layout->k})
                            : "";
  return l;
}

ServerOptions to_options(const Flags& f, const CLI::App& app) {
  if (f.listen.empty() && f.unix_path.empty()) {
    throw ConfigError("give --listen HOST:PORT, --unix PATH or both");
  }
  ServerOptions o;
  o.listen = f.listen;
  o.unix_path = f.unix_path;
  o.max_frame_bytes = f.max_frame_bytes;
  o.snapshot_on_exit = f.snapshot_on_exit;
  o.restore = f.restore;
  o.port_file = f.port_file;
  if (!std::isfinite(f.wait_timeout))
    throw ConfigError("--wait-timeout: must be a number of seconds");
  o.group.wait_timeout_s = f.wait_timeout;
  o.group.max_payload_bytes = f.max_frame_bytes;
  o.group.daemon_version = std::string("disttgl-memory-daemon ") + DISTTGL_DAEMON_VERSION;
  const bool any_dim = app.count("--nodes") + app.count("--memory-dim") + app.count("--mail-dim") +
                           app.count("--mailbox-size") >
                       0;
  if (any_dim) {
    if (app.count("--nodes") == 0 || app.count("--memory-dim") == 0) {
      throw ConfigError(
          "--nodes and --memory-dim go together (--mail-dim defaults to 2 * --memory-dim and "
          "--mailbox-size to 1)");
    }
    Dimensions d;
    d.num_nodes = f.nodes;
    d.memory_dim = f.memory_dim;
    d.mail_dim = app.count("--mail-dim") != 0 ? f.mail_dim : 2 * f.memory_dim;
    d.mailbox_size = app.count("--mailbox-size") != 0 ? f.mailbox_size : 1;
    o.group.dims = d;
  }
  if (app.count("--layout") != 0) o.group.layout = layout_flag(f.layout);
  if (app.count("--job") != 0) o.group.job = f.job;
  if (app.count("--memory-group") != 0) {
    const std::int32_t k = o.group.layout ? o.group.layout->k : 1;
    if (o.group.layout && f.memory_group >= k) {
      throw ConfigError("--memory-group: " + std::to_string(f.memory_group) +
                        " is outside [0, k=" + std::to_string(k) + ") of --layout");
    }
    o.group.memory_group = f.memory_group;
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "disttgl-memory-daemon: one memory group's node memory and mailbox, served to its "
      "trainers in strict logical-batch order over TCP and/or a Unix-domain socket "
      "(docs/memory-daemon-protocol.md)"};
  Flags f;
  app.set_version_flag("--version", std::string("disttgl-memory-daemon ") + DISTTGL_DAEMON_VERSION);
  app.add_option("--listen", f.listen,
                 "TCP address HOST:PORT ([V6]:PORT); port 0 picks a free one (logged as "
                 "'listening on tcp HOST:PORT' and written to --port-file)");
  app.add_option("--unix", f.unix_path,
                 "Unix-domain socket path (a stale socket file is replaced, removed at exit); "
                 "at least one of --listen and --unix is required");
  app.add_option("--nodes", f.nodes,
                 "N: node count (fixes the dimensions; else the first "
                 "trainer HELLO does)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
  app.add_option("--memory-dim", f.memory_dim, "d_mem: f32 values of node memory per node")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 24));
  app.add_option("--mail-dim", f.mail_dim, "d_mail: f32 values per mail (default 2 * d_mem)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 24));
  app.add_option("--mailbox-size", f.mailbox_size, "S: mails per node (default 1)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 16));
  app.add_option("--layout", f.layout,
                 "DistTGL layout i=N,j=N,k=N: i shards per logical batch, j epoch slots, k "
                 "memory groups (default: from the first HELLO)");
  app.add_option("--memory-group", f.memory_group, "memory group G in [0, k) this daemon serves")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--job", f.job,
                 "job name trainers must send in HELLO (default: the first "
                 "HELLO's)");
  app.add_option("--wait-timeout", f.wait_timeout,
                 "seconds a READ waits for its batch, a RESET for the other ranks, and a "
                 "started frame for its last byte")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  app.add_option("--max-frame-bytes", f.max_frame_bytes,
                 "largest request payload accepted, and largest READ reply built (bytes)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1024}, std::uint64_t{1} << 40));
  app.add_option("--snapshot-on-exit", f.snapshot_on_exit,
                 "write a snapshot here (atomically) at a clean stop");
  app.add_option("--restore", f.restore,
                 "start from this snapshot file (its dimensions and "
                 "next_batch)");
  app.add_option("--port-file", f.port_file, "write the bound TCP port here (atomically)");
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  disttgl::metrics::add_metrics_flags(app, f.metrics);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : disttgl::kExitBadInput;
  }
  try {
    ServerOptions options = to_options(f, app);
    disttgl::log::init("memory-daemon", f.log_level);
    // /metrics (docs/observability.md): the daemon's families, served on their own thread.
    auto registry = std::make_shared<prometheus::Registry>();
    disttgl::metrics::DaemonMetrics daemon_metrics(*registry, metric_labels(options),
                                                   DISTTGL_DAEMON_VERSION);
    const auto metrics_server = disttgl::metrics::serve_metrics(f.metrics, registry);
    if (metrics_server) options.group.metrics = &daemon_metrics;
    std::unique_ptr<disttgl::memory_daemon::Server> server;
    try {
      server = std::make_unique<disttgl::memory_daemon::Server>(options);
    } catch (const std::invalid_argument& e) {  // dimensions too large to address
      throw ConfigError(std::string("--nodes/--memory-dim/--mail-dim/--mailbox-size: ") + e.what());
    } catch (const std::bad_alloc&) {
      throw ConfigError(
          "--nodes/--memory-dim/--mail-dim/--mailbox-size: the state does not fit "
          "in memory");
    }
    const int code = server->run();
    server.reset();  // its signal handling ends here: a signal now ends the linger
    if (metrics_server) {
      disttgl::install_stop_handlers();
      metrics_server->linger();  // the final counts stay scrapable (--metrics-linger)
    }
    return code;
  } catch (const disttgl::Error& e) {
    std::fprintf(stderr, "disttgl-memory-daemon: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "disttgl-memory-daemon: internal error: %s\n", e.what());
    return disttgl::kExitInternal;
  }
}

// `launch`: DistTGL's parallel training on one machine through the launch contract
// (docs/launch-contract.md): k memory daemons and W = i*j*k trainer processes.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "disttgl/common/error.hpp"
#include "disttgl/common/interrupt.hpp"
#include "disttgl/common/layout.hpp"
#include "disttgl/metrics/flags.hpp"
#include "disttgl/metrics/launcher_metrics.hpp"
#include "disttgl/trainer/launch/launcher.hpp"

namespace disttgl::trainer::app {
namespace fs = std::filesystem;
namespace {

struct LaunchArgs {
  std::string layout;
  std::string output;
  std::string resume;  // a run directory of an earlier launch
  std::string job = "disttgl";
  int master_port = 0;  // 0: a free port
  double grace = 10.0;
  std::string daemon_bin;
  metrics::MetricsFlags metrics;
};

fs::path self_exe() {
  char path[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) throw IoError("launch: cannot find this program's path (/proc/self/exe)");
  return fs::path(std::string(path, static_cast<std::size_t>(n)));
}

// The daemon beside this program: the build tree's layout, or both in one bin/ folder.
fs::path find_daemon(const std::string& given) {
  if (!given.empty()) return given;
  const fs::path dir = self_exe().parent_path();
  for (const fs::path& p :
       {dir / "../memory-daemon/disttgl-memory-daemon", dir / "disttgl-memory-daemon"}) {
    if (fs::exists(p)) return fs::canonical(p);
  }
  throw ConfigError(fmt::format(
      "--memory-daemon-bin: no disttgl-memory-daemon beside {} (give its path)", dir.string()));
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    throw IoError("launch: cannot find a free port on 127.0.0.1");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// True when `port` on the IPv4 `address` can be bound now (as the child that gets it will
// bind it). Another address family is not probed (true): the child then reports a clash.
bool port_free(const std::string& address, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) return true;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// /metrics of the launcher and its children on one machine (docs/observability.md): the
// launcher on P, daemon g on P+1+g, rank r on P+1+k+r. Returns the children's base port
// (P+1), or 0 when their metrics are off. A port the user gave must be usable; with the
// default port, a taken one only turns metrics off (another job on this machine has them).
int children_metrics_base(const LaunchArgs& a, const ParallelLayout& layout,
                          const metrics::MetricsServer* own) {
  if (a.metrics.port == 0 || own == nullptr) return 0;
  const int base = own->port() + 1;
  const int last = base + layout.k + layout.world_size() - 1;
  if (last > 65535) {
    throw ConfigError(
        fmt::format("--metrics-port: {} leaves no room for the {} ports of the "
                    "daemons and ranks (up to {})",
                    own->port(), layout.k + layout.world_size(), last));
  }
  for (int p = base; p <= last; ++p) {
    if (port_free(a.metrics.address, p)) continue;
    if (a.metrics.port > 0) {
      throw ConfigError(
          fmt::format("--metrics-port: {} is taken; the daemons and ranks need {} "
                      "to {} (give another --metrics-port, or 0)",
                      p, base, last));
    }
    std::cerr << fmt::format(
        "launch: warning: port {} is taken; the daemons' and ranks' "
        "/metrics are off (give --metrics-port)\n",
        p);
    return 0;
  }
  return base;
}

// The layout and attempt an earlier launch recorded in RUN_DIR/launch.json (rank 0 writes it).
struct RecordedLaunch {
  std::string layout;
  std::int64_t attempt = 0;
};

RecordedLaunch read_recorded_launch(const fs::path& run_dir) {
  const fs::path file = run_dir / "launch.json";
  std::ifstream in(file);
  if (!in) {
    throw ConfigError(fmt::format("--resume: {} is not a run directory of `launch` (no {})",
                                  run_dir.string(), file.string()));
  }
  try {
    const auto j = nlohmann::json::parse(in);
    return {j.at("layout").get<std::string>(), j.at("attempt").get<std::int64_t>()};
  } catch (const std::exception& e) {
    throw InputError(file.string(), 0, fmt::format("damaged launch record ({})", e.what()));
  }
}

void run_launch(const LaunchArgs& a, const std::vector<std::string>& train_args) {
  if (a.output.empty() == a.resume.empty()) {
    throw ConfigError("--output or --resume: give exactly one (a new run or the run to continue)");
  }
  std::int64_t attempt = 0;
  std::string layout_text = a.layout;
  if (!a.resume.empty()) {
    const RecordedLaunch recorded = read_recorded_launch(a.resume);
    if (!a.layout.empty() && to_string(parse_layout(a.layout, "--layout")) !=
                                 to_string(parse_layout(recorded.layout, "launch.json layout"))) {
      throw ConfigError(fmt::format("--layout: {} differs from the run's {} ({}/launch.json)",
                                    a.layout, recorded.layout, a.resume));
    }
    layout_text = recorded.layout;
    attempt = recorded.attempt + 1;  // a restarted group never joins the older attempt
  } else if (a.layout.empty()) {
    throw ConfigError("--layout: required for a new run");
  }
  const ParallelLayout layout = parse_layout(layout_text, "--layout");
  // launch's own --output/--resume/--job never reach here (CLI11 parses them); the daemon
  // address is the one train option launch sets per rank that could be forwarded.
  for (const std::string& arg : train_args) {
    if (arg == "--memory-daemon" || arg.rfind("--memory-daemon=", 0) == 0) {
      throw ConfigError(
          "--memory-daemon: set by launch for every rank (launch starts one daemon per memory "
          "group)");
    }
  }
  // The launcher's own /metrics first: the children's ports follow from its port.
  auto registry = std::make_shared<prometheus::Registry>();
  metrics::ProcessLabels labels;
  labels.job = a.job;
  labels.role = "launcher";
  labels.rank = -1;
  labels.memory_group = -1;
  labels.layout = to_string(layout);
  metrics::LauncherMetrics launcher_metrics(*registry, labels, DISTTGL_VERSION, layout.world_size(),
                                            layout.k);
  const auto metrics_server = metrics::serve_metrics(a.metrics, registry);
  const int metrics_base = children_metrics_base(a, layout, metrics_server.get());
  // Trainers keep their /metrics up for --metrics-linger after training; the daemons and
  // the launcher are up all that time anyway (the daemons stop once the trainers are gone).
  const auto metrics_args = [&](int offset, bool trainer) -> std::vector<std::string> {
    if (metrics_base == 0) return {"--metrics-port", "0"};
    std::vector<std::string> args{"--metrics-port", std::to_string(metrics_base + offset),
                                  "--metrics-address", a.metrics.address};
    if (trainer) {
      args.insert(args.end(), {"--metrics-linger", fmt::format("{}", a.metrics.linger_seconds)});
    }
    return args;
  };
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (cores > 0 && layout.world_size() > 2 * cores) {
    std::cerr << fmt::format(
        "launch: warning: {} trainer processes on {} CPU cores; each gets a "
        "fraction of a core (--threads sets each one's threads)\n",
        layout.world_size(), cores);
  }
  const std::string run_dir = a.resume.empty() ? a.output : a.resume;
  const fs::path daemon = find_daemon(a.daemon_bin);
  char tmpl[] = "/tmp/disttgl-launch-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw IoError("launch: cannot create a folder under /tmp");
  const fs::path sockets(tmpl);
  const int port = a.master_port > 0 ? a.master_port : free_port();
  std::vector<ProcessSpec> specs;
  for (int g = 0; g < layout.k; ++g) {
    ProcessSpec d;
    d.label = fmt::format("daemon {}", g);
    d.daemon = true;
    d.argv = {daemon.string(),   "--unix",          (sockets / fmt::format("g{}.sock", g)).string(),
              "--layout",        to_string(layout), "--memory-group",
              std::to_string(g), "--job",           a.job};
    for (auto& arg : metrics_args(g, false)) d.argv.push_back(std::move(arg));
    specs.push_back(d);
  }
  for (int r = 0; r < layout.world_size(); ++r) {
    const RankPlace place = place_of(layout, r, "--layout");
    const fs::path socket = sockets / fmt::format("g{}.sock", place.group);
    ProcessSpec t;
    t.label = fmt::format("rank {}", r);
    t.argv = {self_exe().string(), "train"};
    t.argv.insert(t.argv.end(), train_args.begin(), train_args.end());
    t.argv.insert(t.argv.end(), {a.resume.empty() ? "--output" : "--resume", run_dir});
    for (auto& arg : metrics_args(layout.k + r, true)) t.argv.push_back(std::move(arg));
    t.env = {{"DISTTGL_JOB", a.job},
             {"DISTTGL_RANK", std::to_string(r)},
             {"DISTTGL_WORLD_SIZE", std::to_string(layout.world_size())},
             {"DISTTGL_LAYOUT", to_string(layout)},
             {"DISTTGL_MASTER_ADDR", "127.0.0.1"},
             {"DISTTGL_MASTER_PORT", std::to_string(port)},
             {"DISTTGL_MEMORY_DAEMON", "unix:" + socket.string()},
             {"DISTTGL_ATTEMPT", std::to_string(attempt)},
             {"DISTTGL_RUN_DIR", run_dir}};
    t.wait_for_file = socket.string();
    specs.push_back(t);
  }
  std::cerr << fmt::format(
      "launch: layout {} = {} trainers and {} memory daemons; rendezvous "
      "127.0.0.1:{}; sockets in {}\n",
      to_string(layout), layout.world_size(), layout.k, port, sockets.string());
  if (metrics_base != 0) {
    std::cerr << fmt::format("launch: /metrics on {}: launcher :{}, daemons :{}-{}, ranks :{}-{}\n",
                             a.metrics.address, metrics_base - 1, metrics_base,
                             metrics_base + layout.k - 1, metrics_base + layout.k,
                             metrics_base + layout.k + layout.world_size() - 1);
  }
  ProcessHooks hooks;
  hooks.started = [&](const ProcessSpec& p) { launcher_metrics.started(p.daemon); };
  hooks.exited = [&](const ProcessSpec& p, int, bool ok) { launcher_metrics.exited(p.daemon, ok); };
  const LaunchOutcome outcome = run_processes(
      specs, std::cout, std::chrono::milliseconds(static_cast<std::int64_t>(a.grace * 1000)),
      std::chrono::seconds(30), hooks);
  std::error_code ec;
  fs::remove_all(sockets, ec);
  if (metrics_server) {
    // The exit counts stay scrapable a while (the trainers lingered before this); a signal
    // ends the wait.
    install_stop_handlers();
    metrics_server->linger();
  }
  if (outcome.exit_code != 0) {
    std::cerr << "launch: " << outcome.message << "\n";
    if (fs::exists(fs::path(run_dir) / "last.pt")) {
      std::cerr << fmt::format(
          "launch: {} keeps its last completed epoch; `disttgl-trainer launch "
          "--resume {}` with the same train options continues it\n",
          run_dir, run_dir);
    }
    std::cout.flush();
    std::exit(outcome.exit_code);
  }
  std::cerr << "launch: every rank finished\n";
}

}  // namespace

void add_launch(CLI::App& app) {
  auto a = std::make_shared<LaunchArgs>();
  auto* cmd = app.add_subcommand(
      "launch",
      "run DistTGL's parallel training on this machine: k memory daemons and i*j*k trainer "
      "processes wired through the launch contract (docs/launch-contract.md); every other "
      "option goes to each trainer's `train`");
  cmd->add_option("--layout", a->layout,
                  "DistTGL layout i=N,j=N,k=N (required for a new run; --resume reads the run's)");
  cmd->add_option("--output", a->output, "run directory of a new run (rank 0 writes it)");
  cmd->add_option("--resume", a->resume,
                  "continue the run in this directory from its last completed epoch (the "
                  "model, optimizer and every memory group's node memory), as a new attempt");
  cmd->add_option("--job", a->job, "job name")->capture_default_str();
  cmd->add_option("--master-port", a->master_port, "rendezvous port (0: a free one)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--grace", a->grace,
                  "seconds the other processes get to stop after one fails, before SIGKILL")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--memory-daemon-bin", a->daemon_bin,
                  "the disttgl-memory-daemon program (default: beside this one)");
  metrics::add_metrics_flags(*cmd, a->metrics);
  cmd->allow_extras();
  cmd->callback([a, cmd] { run_launch(*a, cmd->remaining()); });
}

}  // namespace disttgl::trainer::app

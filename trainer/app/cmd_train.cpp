// `train`, `pretrain-static` and `evaluate` sub-commands.
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <torch/headeronly/version.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "disttgl/common/error.hpp"
#include "disttgl/common/interrupt.hpp"
#include "disttgl/metrics/flags.hpp"
#include "disttgl/metrics/trainer_metrics.hpp"
#include "disttgl/trainer/data/import.hpp"
#include "disttgl/trainer/data/prepared.hpp"
#include "disttgl/trainer/train/config.hpp"
#include "disttgl/trainer/train/device.hpp"
#include "disttgl/trainer/train/trainer.hpp"

namespace disttgl::trainer::app {
namespace fs = std::filesystem;

// --data takes a prepared directory or a raw file (imported on the fly, format detected).
Dataset load_data(const std::string& path, bool general) {
  if (is_prepared_dir(path)) {
    if (general) {
      throw ConfigError(
          fmt::format("--general: applies to raw files; {} is already prepared "
                      "(its numbering was fixed by prepare)",
                      path));
    }
    return load_prepared(path);
  }
  if (!fs::exists(path)) throw InputError(path, 0, "no such file or directory");
  ImportOptions options;
  options.general = general;
  return import_dataset(path, options);
}

namespace {

struct TrainArgs {
  std::string data;
  std::string config;  // empty: the built-in TGN defaults (configs/tgn.yaml's values)
  std::string output;
  std::int64_t epochs = 0;      // 0: not given (the flag itself must be >= 1)
  std::int64_t batch_size = 0;  // 0: not given
  double lr = 0.0;              // 0: not given
  std::int64_t seed = 0;
  int threads = 2;
  std::string static_memory;
  std::string resume;
  bool overwrite = false;
  std::int64_t max_train_batches = 0;
  bool general = false;  // import a raw --data file as one id space (prepare --general)
  std::string memory_daemon;
  double memory_timeout = 60.0;
  int pipeline_depth = -1;  // auto
  std::string job = "disttgl";
  bool no_memory_shm = false;
  std::string device;     // empty: the config's runtime.device (default auto)
  std::string precision;  // empty: the config's runtime.precision (default fp32)
  bool deterministic = false;
  bool profile_stages = false;
  metrics::MetricsFlags metrics;
};

// The run's Prometheus endpoint: registry, the trainer's families and the HTTP server.
struct RunMetrics {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<metrics::TrainerMetrics> trainer;
  std::unique_ptr<metrics::MetricsServer> server;
};

// Starts /metrics for this rank (docs/observability.md); null when it is off.
std::unique_ptr<RunMetrics> start_metrics(const TrainArgs& a, const LaunchContract& launch,
                                          const std::string& device) {
  if (a.metrics.port == 0) return nullptr;
  auto m = std::make_unique<RunMetrics>();
  metrics::ProcessLabels labels;
  labels.job = launch.distributed() ? launch.job : a.job;
  labels.rank = launch.rank;
  labels.memory_group = launch.place().group;
  labels.layout = to_string(launch.layout);
  m->trainer = std::make_unique<metrics::TrainerMetrics>(
      *m->registry, labels, DISTTGL_VERSION,
      fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH),
      device);
  m->server = metrics::serve_metrics(a.metrics, m->registry);
  return m;
}

constexpr const char* kDeviceHelp =
    "compute device: cpu, cuda (the first visible GPU), cuda:N, or auto (a GPU when one is "
    "visible, else the CPU). Default: auto (train and pretrain-static: the config's "
    "runtime.device, itself auto by default). Sampling stays on the CPU";
constexpr const char* kPrecisionHelp =
    "fp32 or bf16 (autocast of the forward and loss; weights, optimizer and node memory stay "
    "float32). Default: fp32 (train and pretrain-static: the config's runtime.precision)";

// --device / --precision: checked here for syntax (exit 2 naming the flag), against the
// machine when the trainer starts.
void add_device_options(CLI::App* cmd, std::string& device, std::string& precision) {
  cmd->add_option("--device", device, kDeviceHelp)->check([](const std::string& v) {
    return is_device_syntax(v)
               ? std::string()
               : fmt::format("unknown device '{}' (expected auto, cpu, cuda or cuda:N)", v);
  });
  cmd->add_option("--precision", precision, kPrecisionHelp)->check(CLI::IsMember({"fp32", "bf16"}));
}

constexpr const char* kGeneralHelp =
    "read a raw JODIE-layout --data file whose two columns share ids as one id space (as "
    "prepare --general)";

// Names OUTPUT.tmp-PID siblings that a killed run (SIGKILL, a second Ctrl-C, a crash) left
// behind. Warns only: on a volume shared between hosts or PID namespaces, a PID that looks
// dead here may be a live run elsewhere.
void warn_about_abandoned_runs(const fs::path& output) {
  const fs::path parent = output.has_parent_path() ? output.parent_path() : fs::path(".");
  const std::string prefix = output.filename().string() + ".tmp-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix) || !entry.is_directory(ec)) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.size() > 9 ||
        pid_text.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const long pid = std::stol(pid_text);
    if (pid <= 0 || pid == ::getpid() || !fs::exists(entry.path() / "config.yaml", ec)) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // still running
    spdlog::warn(
        "{} is an unfinished run whose process {} is gone from this host (killed?); "
        "remove it if no other host is writing it",
        entry.path().string(), pid);
  }
}

void add_common(CLI::App* cmd, TrainArgs& a) {
  cmd->add_option("--data", a.data, "prepared dataset directory or raw event file")->required();
  cmd->add_flag("--general", a.general, kGeneralHelp);
  cmd->add_option("--config", a.config,
                  "YAML model/training config (configs/tgn.yaml, jodie.yaml, apan.yaml); "
                  "default: TGN with TGL's defaults");
  cmd->add_option("--epochs", a.epochs, "override train.epochs")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000}));
  cmd->add_option("--lr", a.lr,
                  "override train.lr (a distributed run then uses it as given instead of "
                  "DistTGL's lr x world size)")
      ->check([](const std::string& v) {
        // CLI::Range lets NaN through (every comparison with it is false).
        double x = 0;
        try {
          x = std::stod(v);
        } catch (const std::exception&) {
          return fmt::format("'{}' is not a number", v);
        }
        return std::isfinite(x) && x >= 1e-12 && x <= 10.0
                   ? std::string()
                   : fmt::format("{} is not a learning rate in [1e-12, 10]", v);
      });
  cmd->add_option("--batch-size", a.batch_size, "override train.batch_size")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  cmd->add_option("--seed", a.seed, "random seed")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", a.threads, "compute and sampler threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--max-train-batches", a.max_train_batches,
                  "stop each training epoch after this many batches (quick experiments)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--overwrite", a.overwrite, "replace an existing run directory");
  cmd->add_option("--memory-daemon", a.memory_daemon,
                  "keep the node memory and mailbox in a disttgl-memory-daemon at HOST:PORT or "
                  "unix:PATH instead of in this process");
  cmd->add_option("--memory-timeout", a.memory_timeout,
                  "seconds each memory-daemon call may take (connecting included) before the "
                  "trainer gives up and exits 74")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  cmd->add_option("--pipeline-depth", a.pipeline_depth,
                  "batches sampled, gathered and (with a daemon) read from memory ahead of the "
                  "one computing, on a background thread; 0 = sequential; default: 1 with "
                  "--memory-daemon, 0 without (on few cores the extra thread costs more than "
                  "it hides; docs/performance.md)")
      ->check(CLI::Range(0, 16));
  cmd->add_flag("--no-memory-shm", a.no_memory_shm,
                "with a unix: daemon address, send rows over the socket instead of through the "
                "shared-memory segment the daemon offers");
  cmd->add_option("--job", a.job, "job name the memory daemon checks in its handshake")
      ->capture_default_str();
  add_device_options(cmd, a.device, a.precision);
  cmd->add_flag("--deterministic", a.deterministic,
                "deterministic kernels only (bit-reproducible runs on one GPU, some speed cost; "
                "the CPU path is deterministic anyway)");
  metrics::add_metrics_flags(*cmd, a.metrics);
  cmd->add_flag("--profile-stages", a.profile_stages,
                "synchronise the GPU at stage boundaries so metrics.jsonl's stage_seconds "
                "attribute GPU time to each stage and report host_to_device apart (slower)");
}

// DistTGL's hyperparameter scaling for a distributed run (disttgl.md §4): lr = base * W and
// epochs = ceil(E / (j * k)) unless --lr / --epochs give them; printed either way. A resumed
// run keeps the values its config.yaml already holds.
void scale_for_launch(TrainConfig& config, const TrainArgs& a, const LaunchContract& launch) {
  if (!launch.distributed() || !a.resume.empty()) return;
  const ParallelLayout& l = launch.layout;
  const ScaledHyperparameters scaled = scale_for_layout(config.optim.lr, config.optim.epochs, l);
  const std::string lr_note =
      a.lr > 0 ? fmt::format("{:g} (--lr)", a.lr)
               : fmt::format("{:g} x W={} = {:g} (DistTGL's scaling; --lr overrides)",
                             config.optim.lr, l.world_size(), scaled.lr);
  const std::string epochs_note =
      a.epochs > 0 ? fmt::format("{} (--epochs)", a.epochs)
                   : fmt::format("ceil({} / (j*k={})) = {} (DistTGL's scaling; --epochs overrides)",
                                 config.optim.epochs, l.j * l.k, scaled.epochs);
  config.optim.lr = a.lr > 0 ? a.lr : scaled.lr;
  config.optim.epochs = a.epochs > 0 ? a.epochs : scaled.epochs;
  if (launch.rank == 0) {
    spdlog::info("layout {}: lr {}, epochs {}", to_string(l), lr_note, epochs_note);
  }
}

// The run's config from the flags, the same on every rank: a resumed run's own config.yaml
// (rank 0 refuses --config with --resume; another rank reads it unless given --config),
// else --config or the built-in TGN defaults, then DistTGL's scaling and the overrides.
TrainConfig build_config(const TrainArgs& a, const LaunchContract& launch) {
  auto config = !a.resume.empty() && a.config.empty()
                    ? load_config((fs::path(a.resume) / "config.yaml").string())
                : a.config.empty() ? parse_config("model: tgn\n", "built-in tgn defaults")
                                   : load_config(a.config);
  scale_for_launch(config, a, launch);
  if (a.lr > 0) config.optim.lr = a.lr;
  if (a.epochs > 0) config.optim.epochs = a.epochs;
  if (!a.device.empty()) config.runtime.device = a.device;
  if (!a.precision.empty()) config.runtime.precision = a.precision;
  if (a.deterministic) config.runtime.deterministic = true;
  if (a.batch_size > 0) config.optim.batch_size = a.batch_size;
  return config;
}

// The trainer's run options from the flags, the same on every rank (output_dir is rank 0's).
RunOptions build_run_options(const TrainArgs& a, const LaunchContract& launch, bool pretrain) {
  RunOptions opt;
  opt.data_path = a.data;
  opt.seed = static_cast<std::uint64_t>(a.seed);
  opt.threads = a.threads;
  opt.static_memory_file = a.static_memory;
  opt.pretrain_static = pretrain;
  opt.resume = !a.resume.empty();
  opt.max_train_batches = a.max_train_batches;
  opt.memory_daemon = a.memory_daemon;
  opt.memory_timeout_s = a.memory_timeout;
  opt.pipeline_depth = a.pipeline_depth;
  opt.job = a.job;
  opt.memory_shared_memory = !a.no_memory_shm;
  opt.profile_stages = a.profile_stages;
  opt.launch = launch;
  return opt;
}

void run_training(TrainArgs& a, bool pretrain) {
  if (!a.resume.empty() && (!a.output.empty() || a.overwrite)) {
    throw ConfigError(fmt::format("{}: not allowed with --resume; the run continues in {}",
                                  a.output.empty() ? "--overwrite" : "--output", a.resume));
  }
  if (!a.resume.empty()) a.output = a.resume;
  // One rank of a distributed run (DISTTGL_* variables, docs/launch-contract.md)?
  const LaunchContract launch = read_launch_contract([](const char* n) { return std::getenv(n); });
  if (a.output.empty() && launch.distributed()) a.output = launch.run_dir;
  if (a.output.empty()) throw ConfigError("--output: required (or --resume RUN_DIR)");
  if (launch.distributed() && launch.rank != 0) {
    // Ranks other than 0 write nothing: rank 0 owns the run directory.
    const TrainConfig config = build_config(a, launch);
    const torch::Device device = resolve_device(config.runtime.device, "runtime.device (--device)");
    // /metrics before the (possibly long) import: a bad port is reported at once.
    const auto run_metrics = start_metrics(a, launch, device.str());
    const Dataset dataset = load_data(a.data, a.general);
    RunOptions opt = build_run_options(a, launch, pretrain);
    opt.metrics = run_metrics ? run_metrics->trainer.get() : nullptr;
    Trainer trainer(dataset, config, opt);
    install_stop_handlers();
    trainer.fit();
    if (run_metrics && run_metrics->server) run_metrics->server->linger();
    std::cout << fmt::format("rank {} of {}: done\n", launch.rank, launch.world_size);
    return;
  }
  // Everything is validated (config, data, static memory) before the run directory changes.
  if (!a.resume.empty()) {
    // A resumed run must train exactly as it started, so what shapes it comes from the run.
    const fs::path run_config = fs::path(a.resume) / "config.yaml";
    if (!a.config.empty() || a.batch_size > 0 || !a.precision.empty()) {
      throw ConfigError(fmt::format(
          "{}: not allowed with --resume; the run continues with its own {}",
          !a.config.empty() ? "--config" : (a.batch_size > 0 ? "--batch-size" : "--precision"),
          run_config.string()));
    }
    if (!fs::is_regular_file(run_config)) {
      throw ConfigError(
          fmt::format("--resume: {} is not a disttgl run directory (no config.yaml)", a.resume));
    }
    // A run of several processes continues only as one: its memory is in k groups' state.
    const fs::path record = fs::path(a.resume) / "launch.json";
    if (!launch.distributed() && fs::is_regular_file(record)) {
      std::ifstream in(record);
      const auto j = nlohmann::json::parse(in, nullptr, false);
      if (!j.is_discarded() && j.value("world_size", 1) > 1) {
        throw ConfigError(fmt::format(
            "--resume: {} is a distributed run (layout {}); continue it with `disttgl-trainer "
            "launch --resume {}`",
            a.resume, j.value("layout", std::string("?")), a.resume));
      }
    }
  }
  if (a.lr > 0 && !a.resume.empty()) {
    throw ConfigError(
        fmt::format("--lr: not allowed with --resume; the run continues with its own {}",
                    (fs::path(a.resume) / "config.yaml").string()));
  }
  const TrainConfig config = build_config(a, launch);
  if (pretrain && config.model.kind != ModelKind::kTgn) {
    throw ConfigError(config.source +
                      ": model: pretrain-static needs tgn (the static table "
                      "replaces TGN's GRU memory)");
  }
  if (a.resume.empty() && fs::exists(a.output) && !fs::is_empty(a.output)) {
    if (!a.overwrite) {
      throw ConfigError(
          fmt::format("--output: {} exists and is not empty (use {} or another --output)", a.output,
                      pretrain ? "--overwrite to replace it"
                               : "--resume to continue it, --overwrite to replace it,"));
    }
    // Only ever replace a previous run, never an unrelated directory.
    if (!fs::is_directory(a.output) || !fs::exists(fs::path(a.output) / "config.yaml")) {
      throw ConfigError(fmt::format(
          "--output: {} is not a disttgl run directory (no config.yaml); refusing to replace it",
          a.output));
    }
  }
  // The machine check before the (possibly long) import; the trainer repeats it.
  const torch::Device device = resolve_device(
      config.runtime.device, !a.resume.empty() && a.device.empty()
                                 ? fmt::format("{}: runtime.device (--device runs it elsewhere)",
                                               (fs::path(a.resume) / "config.yaml").string())
                                 : std::string("runtime.device (--device)"));
  // /metrics before the import too: a bad port is reported at once.
  const auto run_metrics = start_metrics(a, launch, device.str());
  const Dataset dataset = load_data(a.data, a.general);
  // A new run trains into a temporary sibling that replaces --output only on success, so a
  // failed run leaves an earlier run (or nothing) behind. A distributed run trains in
  // --output itself: its last completed epoch must survive a failed rank for `launch
  // --resume` (summary.json appears only when it finishes).
  const bool fresh = a.resume.empty() && !launch.distributed();
  if (a.resume.empty() && launch.distributed() && fs::exists(a.output)) fs::remove_all(a.output);
  fs::path out = fs::path(a.output).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "runs/x/" -> "runs/x"
  a.output = out.string();
  const std::string work_dir = fresh ? fmt::format("{}.tmp-{}", a.output, ::getpid()) : a.output;
  if (fresh) warn_about_abandoned_runs(out);
  RunOptions opt = build_run_options(a, launch, pretrain);
  opt.output_dir = work_dir;
  opt.metrics = run_metrics ? run_metrics->trainer.get() : nullptr;
  Trainer trainer(dataset, config, opt);
  // From here a Ctrl-C or SIGTERM stops at the next batch boundary and unwinds below.
  install_stop_handlers();
  EvalMetrics test;
  try {
    test = trainer.fit();
  } catch (...) {
    // One cleanup for every failure. The error_code overload keeps a failed cleanup from
    // replacing the original error (and an interrupt's exit code 130/143).
    const bool stopped = stop_signal() != 0;
    if (fresh) {
      std::error_code ec;
      fs::remove_all(work_dir, ec);
      if (ec) {
        spdlog::warn("could not remove the unfinished run in {}: {}", work_dir, ec.message());
      } else if (stopped) {
        spdlog::warn("stopped; the unfinished run in {} was removed", work_dir);
      }
    } else if (stopped || launch.distributed()) {
      if (fs::exists(fs::path(a.output) / "last.pt")) {
        spdlog::warn("{}; {} keeps its last completed epoch ({} continues it)",
                     stopped ? "stopped" : "failed", a.output,
                     launch.distributed() ? "launch --resume" : "--resume");
      } else {
        spdlog::warn("{}; {} has no completed epoch to resume", stopped ? "stopped" : "failed",
                     a.output);
      }
    }
    throw;
  }
  if (fresh) {
    if (fs::exists(a.output)) fs::remove_all(a.output);
    fs::rename(work_dir, a.output);
  }
  std::cout << fmt::format("test AP {:.4f}  AUC {:.4f}  MRR {:.4f}  -> {}\n", test.ap, test.auc,
                           test.mrr, a.output)
            << std::flush;
  if (run_metrics && run_metrics->server) run_metrics->server->linger();
}

}  // namespace

void add_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "train a memory-based TGNN and evaluate it");
  add_common(cmd, *a);
  cmd->add_option("--output", a->output,
                  "run directory (metrics.jsonl, summary.json, checkpoints)");
  cmd->add_option("--static-memory", a->static_memory,
                  "pre-trained static node memory (static_memory.pt from pretrain-static)");
  cmd->add_option("--resume", a->resume,
                  "continue the run in this directory from last.pt, with the run's own config "
                  "(--epochs may extend it, --device may move it to another device; --config, "
                  "--batch-size and --precision are refused)");
  cmd->callback([a] { run_training(*a, false); });
}

void add_pretrain_static(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand(
      "pretrain-static",
      "pre-train DistTGL's static node memory: the same TGN with a learned per-node table in "
      "place of the GRU memory, train split only, early stop on validation; writes "
      "OUTPUT/static_memory.pt");
  add_common(cmd, *a);
  cmd->add_option("--output", a->output, "run directory")->required();
  cmd->callback([a] { run_training(*a, true); });
}

void add_evaluate(CLI::App& app) {
  struct Args {
    std::string checkpoint, data, split = "test", static_memory;
    std::string device = "auto", precision = "fp32", negatives;
    int threads = 2;
    bool general = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("evaluate", "evaluate a checkpoint on the val or test split");
  cmd->add_option("--negatives", a->negatives,
                  "negative strategy of the headline AP/AUC/MRR: random, historical (pairs seen "
                  "before the event) or inductive (pairs first seen after training); default: the "
                  "checkpoint config's eval.negative_strategy. Every strategy's AP/AUC is printed too")
      ->check(CLI::IsMember({"random", "historical", "inductive"}));
  cmd->add_option("--checkpoint", a->checkpoint, "RUN_DIR/checkpoint.pt")->required();
  cmd->add_option("--data", a->data, "the dataset the checkpoint was trained on")->required();
  cmd->add_flag("--general", a->general, kGeneralHelp);
  cmd->add_option("--split", a->split,
                  "test: continue the checkpoint's node memory (after validation) through the "
                  "test events; val: replay the training events with the final model, then "
                  "evaluate validation (so it can differ from the per-epoch validation numbers)")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "threads")->check(CLI::Range(1, 256));
  // Not the checkpoint's own runtime: a GPU-trained checkpoint evaluates on any machine.
  add_device_options(cmd, a->device, a->precision);
  cmd->add_option("--static-memory", a->static_memory,
                  "the static node memory the run was trained with (train --static-memory)");
  cmd->callback([a] {
    resolve_device(a->device, "--device");
    const Dataset dataset = load_data(a->data, a->general);
    RuntimeConfig runtime;
    runtime.device = a->device;
    runtime.precision = a->precision;
    std::optional<NegativeStrategy> negatives;
    if (!a->negatives.empty()) negatives = parse_negative_strategy(a->negatives, "--negatives");
    const auto m = Trainer::evaluate_checkpoint(dataset, a->checkpoint, a->split, a->threads,
                                                a->static_memory, runtime, negatives);
    nlohmann::json j = eval_metrics_json(m);
    j["split"] = a->split;
    std::cout << j.dump() << "\n";
  });
}

}  // namespace disttgl::trainer::app

#include "disttgl/trainer/train/trainer.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "checkpoint.hpp"
#include "trainer_state.hpp"
#include "disttgl/common/error.hpp"
#include "disttgl/common/interrupt.hpp"
#include "disttgl/trainer/eval/metrics.hpp"
#include "disttgl/trainer/memory/daemon_memory_store.hpp"
#include "disttgl/trainer/memory/memory_backend.hpp"
#include "disttgl/trainer/model/loss.hpp"
#include "disttgl/trainer/sampler/tcsr.hpp"
#include "disttgl/trainer/train/device.hpp"
#include "disttgl/trainer/train/pipeline.hpp"
#include "disttgl/trainer/train/progress.hpp"

namespace disttgl::trainer {
namespace fs = std::filesystem;

namespace {

json number_or_null(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

}  // namespace

json eval_metrics_json(const EvalMetrics& m) {
  // NaN (not computed, or an empty subset) becomes null: JSON has no NaN.
  json j = {{"ap", m.ap},
            {"auc", m.auc},
            {"mrr", number_or_null(m.mrr)},
            {"ap_batch_mean", m.ap_batch_mean},
            {"events", m.events},
            {"seconds", m.seconds},
            {"negative_strategy", m.negative_strategy}};
  json by = json::object();
  for (const auto& [name, sm] : m.by_strategy) {
    by[name] = {{"ap", sm.ap}, {"auc", sm.auc}, {"fallback_fraction", sm.fallback_fraction}};
  }
  j["negatives"] = by;
  j["new_nodes"] = {{"events", m.new_nodes.events},
                    {"negative_strategy", m.negative_strategy},
                    {"ap", number_or_null(m.new_nodes.ap)},
                    {"auc", number_or_null(m.new_nodes.auc)},
                    {"mrr", number_or_null(m.new_nodes.mrr)}};
  return j;
}

namespace {

void write_file_atomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) throw IoError(fmt::format("{}: cannot write", path.string()));
  }
  fs::rename(tmp, path);
}

// The config as a JSON object for summary.json (scalars typed as YAML would read them).
json yaml_to_json(const YAML::Node& node) {
  if (node.IsMap()) {
    json j = json::object();
    for (const auto& kv : node) j[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return j;
  }
  if (node.IsSequence()) {
    json j = json::array();
    for (const auto& v : node) j.push_back(yaml_to_json(v));
    return j;
  }
  const auto text = node.as<std::string>();
  if (text == "true" || text == "false") return text == "true";  // to_yaml writes these
  std::int64_t i = 0;
  double d = 0;
  if (YAML::convert<std::int64_t>::decode(node, i)) return i;
  if (YAML::convert<double>::decode(node, d)) return d;
  return text;
}

}  // namespace

namespace detail {

torch::Tensor load_static_memory(const std::string& file, std::int64_t num_nodes) {
  torch::Tensor table;
  try {
    torch::serialize::InputArchive a;
    a.load_from(file, torch::Device(torch::kCPU));  // written on any device
    a.read("static_memory", table);
  } catch (const c10::Error& e) {
    throw InputError(
        file, 0, fmt::format("cannot read static node memory ({})", e.what_without_backtrace()));
  }
  if (table.dim() != 2 || table.size(0) != num_nodes || table.scalar_type() != torch::kFloat32) {
    throw InputError(
        file, 0,
        fmt::format("static node memory has shape [{}] ({}), expected [{}, d] "
                    "float32 for this dataset's {} nodes",
                    fmt::join(table.sizes(), ", "), std::string(c10::toString(table.scalar_type())),
                    num_nodes, num_nodes));
  }
  return table;
}

}  // namespace detail

Trainer::Trainer(const Dataset& dataset, TrainConfig config, RunOptions options)
    : s_(std::make_unique<State>(dataset, std::move(config), std::move(options))) {
  s_->build();
}

Trainer::~Trainer() = default;

EvalMetrics Trainer::fit() {
  State& s = *s_;
  const fs::path dir(s.opt.output_dir);
  const fs::path last = dir / "last.pt";
  const fs::path best = dir / "checkpoint.pt";
  std::int64_t first_epoch = 1;
  if (!s.writer()) {
    // Ranks other than 0 train and take part in every collective; rank 0 evaluates on an
    // in-process replica and writes the run directory.
    if (s.opt.resume) first_epoch = s.resume_distributed(last.string());
    for (std::int64_t epoch = first_epoch; epoch <= s.cfg.optim.epochs; ++epoch) {
      if (s.cfg.optim.patience > 0 && s.meta.stale_epochs >= s.cfg.optim.patience) break;
      StageTimes times;
      times.sink = s.opt.metrics;
      if (s.opt.metrics != nullptr) s.opt.metrics->set_epoch(epoch);
      double seconds = 0;
      std::int64_t events = 0;
      s.train_epoch(epoch, times, seconds, events);
      s.share_group_memory(epoch);
      s.publish_memory_traffic();  // the epoch's snapshot of the group's daemon
      if (s.after_epoch_stop()) break;
    }
    return {};
  }
  if (s.opt.resume) {
    if (!fs::is_regular_file(last)) {
      throw InputError(last.string(), 0, "nothing to resume: no last.pt in the run directory");
    }
    const auto meta = detail::read_checkpoint_meta(last.string());
    if (meta.num_nodes != s.ds.num_nodes || meta.num_events != s.ds.num_events()) {
      throw InputError(
          last.string(), 0,
          fmt::format("checkpoint is for a dataset of {} nodes / {} events, this "
                      "one has {} / {}",
                      meta.num_nodes, meta.num_events, s.ds.num_nodes, s.ds.num_events()));
    }
    detail::check_static_memory(meta, s.meta, last.string(), s.opt.static_memory_file);
    detail::load_checkpoint(last.string(), *s.model, s.optimizer.get(), nullptr, true, s.device);
    s.continue_counters(meta);
    first_epoch = meta.epoch + 1;
    // Distributed: every rank continues from these weights, each group from its memory.
    if (s.distributed()) s.resume_distributed(last.string());
    // The old summary describes fewer epochs; a stopped or failed resume must not leave it
    // beside the newer last.pt and metrics.jsonl. The end of fit() writes a new one.
    fs::remove(dir / "summary.json");
    spdlog::info("resuming {} after epoch {} (best epoch {}, {} {:.4f})", dir.string(), meta.epoch,
                 meta.best_epoch, s.cfg.optim.select_metric, meta.best_metric);
  } else {
    fs::create_directories(dir);
    write_file_atomic(dir / "config.yaml", s.meta.config_yaml);
    std::ofstream(dir / "metrics.jsonl", std::ios::trunc);
  }
  if (s.distributed()) {
    // What `launch --resume` needs to restart the same layout (docs/launch-contract.md).
    const LaunchContract& lc = s.opt.launch;
    write_file_atomic(dir / "launch.json", json{{"layout", to_string(lc.layout)},
                                                {"world_size", lc.world_size},
                                                {"job", lc.job},
                                                {"attempt", lc.attempt}}
                                               .dump(2) +
                                               "\n");
  }

  std::vector<double> rates;
  json history = json::array();
  for (std::int64_t epoch = first_epoch; epoch <= s.cfg.optim.epochs; ++epoch) {
    if (s.cfg.optim.patience > 0 && s.meta.stale_epochs >= s.cfg.optim.patience) break;
    const auto t0 = Clock::now();
    StageTimes times;
    times.sink = s.opt.metrics;
    if (s.opt.metrics != nullptr) s.opt.metrics->set_epoch(epoch);
    double train_seconds = 0;
    std::int64_t events = 0;
    const double loss = s.train_epoch(epoch, times, train_seconds, events);
    const double rate = static_cast<double>(events) / train_seconds;
    rates.push_back(rate);
    // Distributed: the memory is spread over the groups' daemons, so rank 0 validates the
    // weights exactly as a single process evaluates a checkpoint (replay the training events
    // in-process, then validation).
    State& ev = s.evaluator();
    const auto val =
        ev.evaluate(s.ds.split.train_end, s.ds.split.val_end,
                    fmt::format("epoch {} validation", epoch), s.cfg.eval.validation_mrr);
    if (s.opt.metrics != nullptr) s.opt.metrics->set_validation(val.ap, val.mrr);
    const double metric = s.cfg.optim.select_metric == "mrr" ? val.mrr : val.ap;
    const bool improved = metric > s.meta.best_metric;
    s.meta.epoch = epoch;
    if (improved) {
      s.meta.best_metric = metric;
      s.meta.best_epoch = epoch;
      s.meta.stale_epochs = 0;
      detail::save_checkpoint(best.string(), *s.model, *s.optimizer, ev.memory(), s.meta,
                              s.device);
    } else {
      ++s.meta.stale_epochs;
    }
    detail::save_checkpoint(last.string(), *s.model, *s.optimizer, nullptr, s.meta, s.device,
                            s.collect_group_memory(epoch));
    s.publish_memory_traffic();  // the epoch's snapshot of the group's daemon
    json line = {{"epoch", epoch},
                 {"loss", loss},
                 {"val", eval_metrics_json(val)},
                 {"train_events_per_second", rate},
                 {"train_seconds", train_seconds},
                 {"stage_seconds", times.to_json()},
                 {"seconds", since(t0)},
                 {"best", improved}};
    if (s.distributed()) {
      // Rank 0's own traffic (each rank's is alike): the scaling model's inputs.
      line["traffic"] = {{"rank", 0},
                         {"iterations", s.traffic.iterations},
                         {"allreduce_bytes", s.traffic.allreduce_bytes},
                         {"memory_bytes_sent", s.traffic.memory_bytes_sent},
                         {"memory_bytes_received", s.traffic.memory_bytes_received},
                         {"memory_rows_read", s.traffic.memory_rows_read},
                         {"memory_rows_written", s.traffic.memory_rows_written},
                         {"memory_row_bytes",
                          s.store ? 4 * s.store->memory_dim() + 8 +
                                        s.store->mailbox_size() * (4 * s.store->mail_dim() + 16)
                                  : 0}};
    }
    std::ofstream(dir / "metrics.jsonl", std::ios::app) << line.dump() << "\n";
    spdlog::info(
        "epoch {} loss {:.5f} | val AP {:.4f} AUC {:.4f} MRR {} | {:.0f} train "
        "events/s{}",
        epoch, loss, val.ap, val.auc,
        std::isnan(val.mrr) ? std::string("-") : fmt::format("{:.4f}", val.mrr), rate,
        improved ? " | best" : "");
    if (s.distributed() && s.after_epoch_stop()) break;
  }

  // Test continues the best epoch's memory (after its validation pass) through the test
  // events, as TGL does after reloading its best checkpoint.
  State& ev = s.distributed() ? s.replica_state() : s;
  detail::load_checkpoint(best.string(), *ev.model, nullptr, ev.memory(), false, s.device);
  const auto test = ev.evaluate(s.ds.split.val_end, s.ds.num_events(), "test", true, true);
  if (s.opt.pretrain_static) {
    // The learned table is the product of pre-training: [N, d_mem] float32.
    torch::serialize::OutputArchive a;
    a.write("static_memory", s.model->static_embedding->table().detach().to(torch::kCPU).clone());
    a.save_to((dir / "static_memory.pt.tmp").string());
    fs::rename(dir / "static_memory.pt.tmp", dir / "static_memory.pt");
  }
  // Validation metrics of the best epoch, from the log (also right after a resume).
  json best_val;
  double rate_sum = 0;
  std::int64_t rate_count = 0;
  {
    std::ifstream in(dir / "metrics.jsonl");
    std::string text;
    while (std::getline(in, text)) {
      const auto line = json::parse(text);
      if (line["epoch"].get<std::int64_t>() == s.meta.best_epoch) best_val = line["val"];
      rate_sum += line["train_events_per_second"].get<double>();
      ++rate_count;
    }
  }
  json summary = {
      {"test", eval_metrics_json(test)},
      {"val", best_val},
      {"best_epoch", s.meta.best_epoch},
      {"epochs", s.meta.epoch},
      {"train_events_per_second",
       rate_count > 0 ? rate_sum / static_cast<double>(rate_count) : 0.0},
      {"seed", s.opt.seed},
      {"threads", s.opt.threads},
      {"memory_backend", s.store ? s.store->backend_name() : std::string("none")},
      {"pipeline_depth", s.opt.pipeline_depth},
      {"device", describe_device(s.device)},
      {"precision", s.cfg.runtime.precision},
      {"deterministic", s.cfg.runtime.deterministic},
      {"layout", to_string(s.opt.launch.layout)},
      {"world_size", s.opt.launch.world_size},
      {"config", yaml_to_json(YAML::Load(s.meta.config_yaml))},
      {"static_memory", s.opt.static_memory_file},
      {"dataset",
       {{"path", s.opt.data_path},
        {"name", s.ds.name},
        {"num_nodes", s.ds.num_nodes},
        {"num_events", s.ds.num_events()},
        {"bipartite", s.ds.bipartite},
        {"split",
         {{"train", s.ds.num_train()}, {"val", s.ds.num_val()}, {"test", s.ds.num_test()}}}}}};
  write_file_atomic(dir / "summary.json", summary.dump(2) + "\n");
  spdlog::info("test AP {:.4f} AUC {:.4f} MRR {:.4f} (best epoch {}; {} negatives)", test.ap,
               test.auc, test.mrr, s.meta.best_epoch, test.negative_strategy);
  for (const auto& [name, sm] : test.by_strategy) {
    spdlog::info("test with {} negatives: AP {:.4f} AUC {:.4f} ({:.1f}% fell back to random)",
                 name, sm.ap, sm.auc, 100 * sm.fallback_fraction);
  }
  spdlog::info(
      "test on {} events with a node new since training (inductive setting, {} negatives): AP "
      "{:.4f} AUC {:.4f}",
      test.new_nodes.events, test.negative_strategy, test.new_nodes.ap, test.new_nodes.auc);
  return test;
}

EvalMetrics Trainer::evaluate_checkpoint(const Dataset& dataset, const std::string& checkpoint,
                                         const std::string& split, int threads,
                                         const std::string& static_memory_file,
                                         const RuntimeConfig& runtime,
                                         std::optional<NegativeStrategy> negatives) {
  if (split != "test" && split != "val") {
    throw ConfigError(fmt::format("--split: unknown value '{}' (expected val or test)", split));
  }
  const auto meta = detail::read_checkpoint_meta(checkpoint);
  if (meta.num_nodes != dataset.num_nodes || meta.num_events != dataset.num_events()) {
    throw InputError(
        checkpoint, 0,
        fmt::format("checkpoint is for a dataset of {} nodes / {} events, this one "
                    "has {} / {}",
                    meta.num_nodes, meta.num_events, dataset.num_nodes, dataset.num_events()));
  }
  RunOptions opt;
  opt.threads = threads;
  opt.data_path = checkpoint;
  opt.static_memory_file = static_memory_file;
  TrainConfig config = parse_config(meta.config_yaml, checkpoint);
  config.runtime = runtime;
  if (negatives) config.eval.negative_strategy = *negatives;
  Trainer t(dataset, std::move(config), opt);
  State& s = *t.s_;
  detail::check_static_memory(meta, s.meta, checkpoint, static_memory_file);
  if (split == "test") {
    detail::load_checkpoint(checkpoint, *s.model, nullptr, s.memory(), false, s.device);
    return s.evaluate(dataset.split.val_end, dataset.num_events(), "test", true, true);
  }
  detail::load_checkpoint(checkpoint, *s.model, nullptr, nullptr, false, s.device);
  s.reset_memory();
  s.replay(0, dataset.split.train_end);
  return s.evaluate(dataset.split.train_end, dataset.split.val_end, "validation", true, true);
}

}  // namespace disttgl::trainer

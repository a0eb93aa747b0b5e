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
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Seconds spent in each stage of the training loop over one epoch.
struct StageTimes {
  // sample and gather run on the prefetch thread when the pipeline is on (they then overlap
  // the others); wait is the compute thread blocked on the next prefetched batch, and
  // memory_read the wait for its memory rows (the daemon's round trip).
  // host_to_device is measured only with RunOptions::profile_stages (else it is inside
  // gather, and the copies overlap the compute).
  double sample = 0, gather = 0, host_to_device = 0, wait = 0, memory_read = 0, forward = 0,
         backward = 0, optimizer = 0, write_back = 0;
  json to_json() const {
    return {{"sample", sample},       {"gather", gather},         {"host_to_device", host_to_device},
            {"wait", wait},           {"memory_read", memory_read}, {"forward", forward},
            {"backward", backward},   {"optimizer", optimizer},   {"write_back", write_back}};
  }
};

json metrics_json(const EvalMetrics& m) {
  // NaN (MRR not computed) becomes null: JSON has no NaN.
  return {{"ap", m.ap},
          {"auc", m.auc},
          {"mrr", std::isnan(m.mrr) ? json(nullptr) : json(m.mrr)},
          {"ap_batch_mean", m.ap_batch_mean},
          {"events", m.events},
          {"seconds", m.seconds}};
}

void write_file_atomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) throw IoError(fmt::format("{}: cannot write", path.string()));
  }
  fs::rename(tmp, path);
}

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

struct Trainer::State {
  const Dataset& ds;
  TrainConfig cfg;
  RunOptions opt;
  TCSR graph;
  std::unique_ptr<TemporalSampler> sampler;
  NegativeSampler negatives;
  std::unique_ptr<MemoryStore> store;
  TGNNModel model{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer;
  std::unique_ptr<SampleStage> sample;
  std::unique_ptr<GatherStage> gather;
  torch::Device device{torch::kCPU};
  std::optional<torch::ScalarType> autocast;  // bf16 precision: forward and loss under autocast
  detail::CheckpointMeta meta;

  State(const Dataset& dataset, TrainConfig config, RunOptions options)
      : ds(dataset), cfg(std::move(config)), opt(std::move(options)), negatives(dataset) {}

  MemoryStore* memory() { return store.get(); }

  void build() {
    ModelConfig& m = cfg.model;
    m.edge_feature_dim = ds.edge_feature_dim;
    m.node_feature_dim = ds.node_feature_dim;
    m.num_nodes = ds.num_nodes;
    m.pretrain_static = opt.pretrain_static;
    FeatureTables tables = feature_tables(ds);
    torch::Tensor static_table;  // kept for the checkpoint's fingerprint; tables moves below
    if (!opt.static_memory_file.empty()) {
      tables.static_memory = load_static_memory(opt.static_memory_file, ds.num_nodes);
      static_table = tables.static_memory;
      m.use_static = true;
      m.static_memory_dim = tables.static_memory.size(1);
    }
    m.validate();
    if (ds.num_train() < 1 || ds.num_val() < 1 || ds.num_test() < 1) {
      throw InputError(opt.data_path, 0,
                       fmt::format("needs events in every split, got train {} / val {} / test {}",
                                   ds.num_train(), ds.num_val(), ds.num_test()));
    }
    device = resolve_device(cfg.runtime.device, "runtime.device (--device)");
    autocast = autocast_dtype(cfg.runtime.precision, device, "runtime.precision (--precision)");
    apply_determinism(cfg.runtime.deterministic);
    spdlog::info("device {} | precision {}{}", describe_device(device), cfg.runtime.precision,
                 cfg.runtime.deterministic ? " | deterministic kernels" : "");
    torch::set_num_threads(opt.threads);
    torch::manual_seed(opt.seed);  // seeds the CPU and every CUDA generator
    graph = TCSR::build(ds);
    if (m.kind == ModelKind::kTgn) {
      SamplerOptions so;
      so.fanouts = m.fanouts;
      so.strategy = cfg.sampling.strategy == "uniform" ? SamplingStrategy::kUniform
                                                       : SamplingStrategy::kRecent;
      so.num_threads = opt.threads;
      so.seed = opt.seed;
      sampler = std::make_unique<TemporalSampler>(graph, so);
    }
    // Default depth: prefetching pays for a daemon's round trip and lets a GPU compute while
    // the CPU samples the next batch; in-process on few CPU cores the extra thread costs more
    // than it hides (docs/performance.md).
    if (opt.pipeline_depth < 0) {
      opt.pipeline_depth =
          (!opt.pretrain_static && !opt.memory_daemon.empty()) || device.is_cuda() ? 1 : 0;
    }
    if (!opt.pretrain_static) {
      MemoryBackendOptions mo;
      mo.daemon_address = opt.memory_daemon;
      mo.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(opt.memory_timeout_s * 1000));
      mo.num_nodes = ds.num_nodes;
      mo.memory_dim = m.memory_dim;
      mo.mail_dim = m.mail_dim();
      mo.mailbox_size = m.mailbox_size;
      mo.device = device;
      mo.job = opt.job;
      if (!opt.memory_daemon.empty()) mo.dataset_fingerprint = dataset_fingerprint(ds);
      mo.shared_memory = opt.memory_shared_memory;
      store = make_memory_store(mo);
      if (const auto* d = dynamic_cast<const DaemonMemoryStore*>(store.get())) {
        spdlog::info("node memory in {} over {} (pipeline depth {})", d->backend_name(),
                     d->transport(), opt.pipeline_depth);
      }
    }
    model = TGNNModel(m);
    model->to(device);
    optimizer = std::make_unique<torch::optim::Adam>(model->parameters(),
                                                     torch::optim::AdamOptions(cfg.optim.lr));
    sample = std::make_unique<SampleStage>(ds, sampler.get(), negatives);
    gather = std::make_unique<GatherStage>(store.get(), std::move(tables), device);
    gather->set_profile(opt.profile_stages);
    meta.num_nodes = ds.num_nodes;
    meta.num_events = ds.num_events();
    meta.config_yaml = to_yaml(cfg);
    detail::record_static_memory(meta, static_table);
  }

  // Profiling only: waits for the device so the time just measured is the stage's own.
  void sync_device() const {
    if (opt.profile_stages && device.is_cuda()) torch::cuda::synchronize(device.index());
  }

  // The model's forward on a batch under the run's autocast (bf16 precision), and with `loss`
  // its training loss in the same scope (the loss then runs in float32 by autocast's lists).
  ModelOutputs forward(const GatheredBatch& batch, torch::Tensor* loss = nullptr) {
    const AutocastGuard amp(device, autocast);
    ModelOutputs out = model->forward(batch.inputs);
    if (loss != nullptr) {
      *loss = link_prediction_loss(cfg.optim.loss, out.pos_logits, out.neg_logits);
    }
    return out;
  }

  void reset_memory() {
    if (store) store->reset();
    if (sampler) sampler->reset();
  }

  // Training-negative stream of an epoch: fresh draws every epoch, fixed by the run's seed.
  std::uint64_t train_negative_seed(std::int64_t epoch) const {
    return opt.seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(epoch) + 1;
  }

  // The one batch loop of training, evaluation and replay (disttgl.md §3.2): events
  // [begin, end) in batches of batch_size, each through sample -> gather (prefetched up to
  // opt.pipeline_depth batches ahead on a background thread) -> memory rows of its logical
  // batch -> `compute(batch, index)`, which runs the model and writes the memory back.
  // Memory logical batches continue the store's sequence (reset() starts it at 0).
  template <typename Compute>
  void run_batches(std::int64_t begin, std::int64_t end, std::int64_t batches,
                   std::int64_t num_negatives, std::uint64_t negative_seed, StageTimes& times,
                   Compute&& compute) {
    const std::int64_t bs = cfg.optim.batch_size;
    const std::int64_t first_logical = store ? store->next_batch() : 0;
    BatchPrefetcher prefetch(batches, opt.pipeline_depth, [&](std::int64_t b) {
      const std::int64_t lo = begin + b * bs;
      const std::int64_t hi = std::min(lo + bs, end);
      auto t = Clock::now();
      auto sampled = sample->run(lo, hi, num_negatives, negative_seed);
      times.sample += since(t);
      t = Clock::now();
      auto batch = gather->run(std::move(sampled), first_logical + b);
      times.gather += since(t) - batch.h2d_seconds;
      times.host_to_device += batch.h2d_seconds;
      return batch;
    });
    for (std::int64_t b = 0; b < batches; ++b) {
      throw_if_stop_requested();  // between batches: nothing half-written
      auto t = Clock::now();
      GatheredBatch batch = prefetch.next();
      times.wait += since(t);
      t = Clock::now();
      gather->await_memory(batch);
      times.memory_read += since(t);
      compute(batch, b);
    }
  }

  // One epoch over the training split. Returns the mean loss.
  double train_epoch(std::int64_t epoch, StageTimes& times, double& seconds, std::int64_t& events) {
    model->train();
    reset_memory();
    const std::int64_t bs = cfg.optim.batch_size;
    std::int64_t batches = (ds.num_train() + bs - 1) / bs;
    if (opt.max_train_batches > 0) batches = std::min(batches, opt.max_train_batches);
    ProgressLine progress(fmt::format("epoch {}/{} train", epoch, cfg.optim.epochs), batches);
    // The losses add up on the device: reading one back waits for the GPU, so the progress
    // line reads one only every kLossReadEvery batches (on the CPU this costs nothing).
    constexpr std::int64_t kLossReadEvery = 16;
    torch::Tensor loss_sum = torch::zeros({}, torch::dtype(torch::kFloat64).device(device));
    double last_loss = 0;
    events = 0;
    run_batches(0, ds.num_train(), batches, cfg.optim.train_negatives, train_negative_seed(epoch),
                times, [&](GatheredBatch& batch, std::int64_t b) {
                  sync_device();
                  auto t = Clock::now();
                  torch::Tensor loss;
                  const ModelOutputs out = forward(batch, &loss);
                  sync_device();
                  times.forward += since(t);
                  t = Clock::now();
                  optimizer->zero_grad();
                  loss.backward();
                  sync_device();
                  times.backward += since(t);
                  t = Clock::now();
                  optimizer->step();
                  sync_device();
                  times.optimizer += since(t);
                  t = Clock::now();
                  write_back(memory(), batch, out);
                  sync_device();
                  times.write_back += since(t);
                  loss_sum += loss.detach().to(torch::kFloat64);
                  if (b % kLossReadEvery == 0 || b + 1 == batches) last_loss = loss.item<double>();
                  events += batch.end - batch.begin;
                  progress.update(b + 1, events, last_loss);
                });
    progress.finish();
    seconds = progress.elapsed_seconds();
    return loss_sum.item<double>() / static_cast<double>(batches);
  }

  // Evaluates events [begin, end) continuing the current memory (and writing it back).
  // Without MRR only each positive's first negative is drawn: the same draw as with MRR
  // (negative i of an event does not depend on the count), so AP and AUC are unchanged.
  EvalMetrics evaluate(std::int64_t begin, std::int64_t end, const std::string& label,
                       bool with_mrr = true) {
    torch::NoGradGuard no_grad;
    model->eval();
    const auto t0 = Clock::now();
    const std::int64_t bs = cfg.optim.batch_size;
    const std::int64_t n_neg = with_mrr ? cfg.eval.mrr_negatives : 1;
    const std::int64_t batches = (end - begin + bs - 1) / bs;
    ProgressLine progress(label, batches);
    std::vector<double> pos_all, neg1_all, negs_all;
    pos_all.reserve(static_cast<std::size_t>(end - begin));
    neg1_all.reserve(static_cast<std::size_t>(end - begin));
    negs_all.reserve(static_cast<std::size_t>((end - begin) * n_neg));
    BatchMeanAp batch_ap;
    std::int64_t events = 0;
    StageTimes times;
    run_batches(begin, end, batches, n_neg, cfg.eval.negative_seed, times,
                [&](GatheredBatch& batch, std::int64_t b) {
                  const ModelOutputs out = forward(batch);
                  write_back(memory(), batch, out);
                  auto pos = out.pos_logits.to(torch::kCPU, torch::kFloat64).contiguous();
                  auto neg = out.neg_logits.to(torch::kCPU, torch::kFloat64).contiguous();
                  const auto* p = pos.data_ptr<double>();
                  const auto* q = neg.data_ptr<double>();
                  const std::int64_t n = batch.end - batch.begin;
                  std::vector<double> bp(p, p + n), bn(static_cast<std::size_t>(n));
                  for (std::int64_t i = 0; i < n; ++i) bn[static_cast<std::size_t>(i)] = q[i * n_neg];
                  batch_ap.add(bp, bn);
                  pos_all.insert(pos_all.end(), bp.begin(), bp.end());
                  neg1_all.insert(neg1_all.end(), bn.begin(), bn.end());
                  negs_all.insert(negs_all.end(), q, q + n * n_neg);
                  events += n;
                  progress.update(b + 1, events, 0.0);
                });
    progress.finish();
    EvalMetrics m;
    m.ap = average_precision(pos_all, neg1_all);
    m.auc = roc_auc(pos_all, neg1_all);
    m.mrr = with_mrr ? mean_reciprocal_rank(pos_all, negs_all)
                     : std::numeric_limits<double>::quiet_NaN();
    m.ap_batch_mean = batch_ap.mean();
    m.events = events;
    m.seconds = since(t0);
    return m;
  }

  // Runs the training events through the model without learning, to rebuild the memory the
  // validation split continues from.
  void replay(std::int64_t begin, std::int64_t end) {
    torch::NoGradGuard no_grad;
    model->eval();
    const std::int64_t bs = cfg.optim.batch_size;
    StageTimes times;
    run_batches(begin, end, (end - begin + bs - 1) / bs, 1, 0, times,
                [&](GatheredBatch& batch, std::int64_t) {
                  const ModelOutputs out = forward(batch);
                  write_back(memory(), batch, out);
                });
  }
};

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
    s.meta.epoch = meta.epoch;
    s.meta.best_epoch = meta.best_epoch;
    s.meta.best_metric = meta.best_metric;
    s.meta.stale_epochs = meta.stale_epochs;
    first_epoch = meta.epoch + 1;
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

  std::vector<double> rates;
  json history = json::array();
  for (std::int64_t epoch = first_epoch; epoch <= s.cfg.optim.epochs; ++epoch) {
    if (s.cfg.optim.patience > 0 && s.meta.stale_epochs >= s.cfg.optim.patience) break;
    const auto t0 = Clock::now();
    StageTimes times;
    double train_seconds = 0;
    std::int64_t events = 0;
    const double loss = s.train_epoch(epoch, times, train_seconds, events);
    const double rate = static_cast<double>(events) / train_seconds;
    rates.push_back(rate);
    const auto val =
        s.evaluate(s.ds.split.train_end, s.ds.split.val_end,
                   fmt::format("epoch {} validation", epoch), s.cfg.eval.validation_mrr);
    const double metric = s.cfg.optim.select_metric == "mrr" ? val.mrr : val.ap;
    const bool improved = metric > s.meta.best_metric;
    s.meta.epoch = epoch;
    if (improved) {
      s.meta.best_metric = metric;
      s.meta.best_epoch = epoch;
      s.meta.stale_epochs = 0;
      detail::save_checkpoint(best.string(), *s.model, *s.optimizer, s.memory(), s.meta,
                              s.device);
    } else {
      ++s.meta.stale_epochs;
    }
    detail::save_checkpoint(last.string(), *s.model, *s.optimizer, nullptr, s.meta, s.device);
    json line = {{"epoch", epoch},
                 {"loss", loss},
                 {"val", metrics_json(val)},
                 {"train_events_per_second", rate},
                 {"train_seconds", train_seconds},
                 {"stage_seconds", times.to_json()},
                 {"seconds", since(t0)},
                 {"best", improved}};
    std::ofstream(dir / "metrics.jsonl", std::ios::app) << line.dump() << "\n";
    spdlog::info(
        "epoch {} loss {:.5f} | val AP {:.4f} AUC {:.4f} MRR {} | {:.0f} train "
        "events/s{}",
        epoch, loss, val.ap, val.auc,
        std::isnan(val.mrr) ? std::string("-") : fmt::format("{:.4f}", val.mrr), rate,
        improved ? " | best" : "");
  }

  // Test continues the best epoch's memory (after its validation pass) through the test
  // events, as TGL does after reloading its best checkpoint.
  detail::load_checkpoint(best.string(), *s.model, nullptr, s.memory(), false, s.device);
  const auto test = s.evaluate(s.ds.split.val_end, s.ds.num_events(), "test");
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
      {"test", metrics_json(test)},
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
  spdlog::info("test AP {:.4f} AUC {:.4f} MRR {:.4f} (best epoch {})", test.ap, test.auc, test.mrr,
               s.meta.best_epoch);
  return test;
}

EvalMetrics Trainer::evaluate_checkpoint(const Dataset& dataset, const std::string& checkpoint,
                                         const std::string& split, int threads,
                                         const std::string& static_memory_file,
                                         const RuntimeConfig& runtime) {
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
  Trainer t(dataset, std::move(config), opt);
  State& s = *t.s_;
  detail::check_static_memory(meta, s.meta, checkpoint, static_memory_file);
  if (split == "test") {
    detail::load_checkpoint(checkpoint, *s.model, nullptr, s.memory(), false, s.device);
    return s.evaluate(dataset.split.val_end, dataset.num_events(), "test");
  }
  detail::load_checkpoint(checkpoint, *s.model, nullptr, nullptr, false, s.device);
  s.reset_memory();
  s.replay(0, dataset.split.train_end);
  return s.evaluate(dataset.split.train_end, dataset.split.val_end, "validation");
}

}  // namespace disttgl::trainer

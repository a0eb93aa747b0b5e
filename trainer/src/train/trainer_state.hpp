// Trainer::State: the single-process training driver's state and its batch loop, shared by
// trainer.cpp (fit, evaluate) and the distributed epoch (distributed_epoch.cpp). Private to
// the train library.
#pragma once

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "checkpoint.hpp"
#include "evaluation_scores.hpp"
#include "disttgl/common/error.hpp"
#include "disttgl/common/interrupt.hpp"
#include "disttgl/metrics/trainer_metrics.hpp"
#include "disttgl/trainer/dist/process_group.hpp"
#include "disttgl/trainer/dist/schedule.hpp"
#include "disttgl/trainer/eval/metrics.hpp"
#include "disttgl/trainer/memory/daemon_memory_store.hpp"
#include "disttgl/trainer/memory/memory_backend.hpp"
#include "disttgl/trainer/model/loss.hpp"
#include "disttgl/trainer/sampler/tcsr.hpp"
#include "disttgl/trainer/train/device.hpp"
#include "disttgl/trainer/train/pipeline.hpp"
#include "disttgl/trainer/train/progress.hpp"
#include "disttgl/trainer/train/trainer.hpp"

namespace disttgl::trainer {
namespace detail {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

inline double since(Clock::time_point t0) {
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
         backward = 0, allreduce = 0, optimizer = 0, write_back = 0;
  // Training's stage histogram (Prometheus), when metrics are on; null elsewhere.
  metrics::TrainerMetrics* sink = nullptr;

  // Adds one iteration's time in `stage` to the epoch's sum and to the histogram.
  void add(metrics::Stage stage, double seconds) {
    using metrics::Stage;
    switch (stage) {
      case Stage::kSample:
        sample += seconds;
        break;
      case Stage::kGather:
        gather += seconds;
        break;
      case Stage::kWait:
        wait += seconds;
        break;
      case Stage::kMemoryRead:
        memory_read += seconds;
        break;
      case Stage::kForward:
        forward += seconds;
        break;
      case Stage::kBackward:
        backward += seconds;
        break;
      case Stage::kAllreduce:
        allreduce += seconds;
        break;
      case Stage::kOptimizer:
        optimizer += seconds;
        break;
      case Stage::kMemoryWrite:
        write_back += seconds;
        break;
    }
    if (sink != nullptr) sink->observe(stage, seconds);
  }
  json to_json() const {
    return {{"sample", sample},
            {"gather", gather},
            {"host_to_device", host_to_device},
            {"wait", wait},
            {"memory_read", memory_read},
            {"forward", forward},
            {"backward", backward},
            {"allreduce", allreduce},
            {"optimizer", optimizer},
            {"write_back", write_back}};
  }
};

/// Reads a static node memory table ([num_nodes, d] float32); InputError naming the file.
torch::Tensor load_static_memory(const std::string& file, std::int64_t num_nodes);

}  // namespace detail

using detail::Clock;
using detail::json;
using detail::since;
using detail::StageTimes;

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
  // DistTGL's parallel training (null in a single-process run).
  std::unique_ptr<ProcessGroup> group;
  RankPlace place;
  // Epoch parallelism: the gathered variants (one per pass, memory rows read once) of the
  // logical batch `held_batch` this rank is training; kept across an epoch boundary.
  std::vector<std::optional<GatheredBatch>> held;
  std::int64_t held_batch = -1;
  // This rank's traffic in the last distributed epoch (metrics.jsonl's "traffic").
  struct Traffic {
    // Bytes count frames and the rows moved through the daemon's shared memory; rows count
    // what the memory group's daemon serves and takes whatever the transport.
    std::int64_t iterations = 0, allreduce_bytes = 0, memory_bytes_sent = 0,
                 memory_bytes_received = 0, memory_rows_read = 0, memory_rows_written = 0;
  } traffic;

  // Daemon bytes already added to the Prometheus counters (publish_memory_traffic).
  std::uint64_t published_sent = 0, published_received = 0;

  bool distributed() const { return group != nullptr; }
  // Rank 0's in-process replica for exact evaluation of a distributed run.
  std::unique_ptr<Trainer> replica;

  // The state that validates this epoch's weights: itself in a single process; in a
  // distributed run rank 0's replica, with these weights, after replaying the training
  // events (Trainer::evaluate_checkpoint's "val" protocol).
  State& evaluator();
  // Rank 0's replica, built on first use (without replaying anything).
  State& replica_state();
  // Distributed, after each epoch: every rank waits for rank 0's evaluation, then learns
  // whether early stopping ends the run (rank 0's decision). Returns true to stop.
  bool after_epoch_stop();
  // Only rank 0 writes the run directory.
  bool writer() const { return !distributed() || group->rank() == 0; }
  // The rank that snapshots and restores its memory group's daemon (slot 0, shard 0).
  bool group_leader() const { return distributed() && place.slot == 0 && place.shard == 0; }
  // The daemon's next_batch once the group has finished the current epoch (-1: unknown).
  std::int64_t group_next = -1;

  // Distributed checkpoints (distributed_epoch.cpp). After each epoch every group leader
  // but rank 0 hands its group's memory to rank 0 through the rendezvous store; rank 0
  // collects the k groups' memory for last.pt. The snapshot waits until the daemon has
  // applied every write of the epoch, so all ranks' writes are in it.
  void share_group_memory(std::int64_t epoch);
  std::vector<std::vector<std::uint8_t>> collect_group_memory(std::int64_t epoch);
  // Resume: rank 0 sends last.pt's bytes to every rank; each loads the weights and the
  // optimizer, group leaders restore their daemon; returns the first epoch to train.
  std::int64_t resume_distributed(const std::string& last);

  State(const Dataset& dataset, TrainConfig config, RunOptions options)
      : ds(dataset), cfg(std::move(config)), opt(std::move(options)), negatives(dataset) {}

  MemoryStore* memory() { return store.get(); }

  // A resumed run continues the checkpoint's epoch and early-stopping counters.
  void continue_counters(const detail::CheckpointMeta& saved) {
    meta.epoch = saved.epoch;
    meta.best_epoch = saved.best_epoch;
    meta.best_metric = saved.best_metric;
    meta.stale_epochs = saved.stale_epochs;
  }

  void build() {
    ModelConfig& m = cfg.model;
    m.edge_feature_dim = ds.edge_feature_dim;
    m.node_feature_dim = ds.node_feature_dim;
    m.num_nodes = ds.num_nodes;
    m.pretrain_static = opt.pretrain_static;
    FeatureTables tables = feature_tables(ds);
    torch::Tensor static_table;  // kept for the checkpoint's fingerprint; tables moves below
    if (!opt.static_memory_file.empty()) {
      tables.static_memory = detail::load_static_memory(opt.static_memory_file, ds.num_nodes);
      static_table = tables.static_memory;
      m.use_static = true;
      m.static_memory_dim = tables.static_memory.size(1);
    }
    // Named in the user's terms before ModelConfig::validate() names its internal fields.
    if (m.joint_static && (opt.pretrain_static || m.use_static)) {
      throw ConfigError(fmt::format(
          "memory.static: joint cannot be combined with {}",
          opt.pretrain_static ? "pretrain-static" : "--static-memory (a pre-trained table)"));
    }
    if (m.static_dropout > 0 && !m.use_static && !m.joint_static) {
      throw ConfigError(
          "memory.static_dropout needs a static node memory (memory.static: joint or "
          "--static-memory)");
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
    const bool deliver = m.deliver_to == DeliverTo::kNeighbors;
    if (m.kind == ModelKind::kTgn || deliver) {
      SamplerOptions so;
      // apan has no GNN: its sampler only picks the neighbours that get the endpoints' mails.
      so.fanouts = deliver ? std::vector<int>{m.deliver_fanout} : m.fanouts;
      so.strategy = cfg.sampling.strategy == "uniform" ? SamplingStrategy::kUniform
                                                       : SamplingStrategy::kRecent;
      so.num_threads = opt.threads;
      so.seed = opt.seed;
      sampler = std::make_unique<TemporalSampler>(graph, so);
    }
    // Default depth: prefetching pays for a daemon's round trip and lets a GPU compute while
    // the CPU samples the next batch; in-process on few CPU cores the extra thread costs more
    // than it hides (docs/performance.md).
    const LaunchContract& lc = opt.launch;
    if (lc.distributed()) {
      place = lc.place();
      if (opt.pretrain_static) {
        throw ConfigError("pretrain-static: runs in one process (DISTTGL_WORLD_SIZE 1)");
      }
      if (deliver) {  // shards' writes would override one another's endpoints (pipeline.hpp)
        throw ConfigError(
            "memory.deliver_to: neighbors runs in one process (DISTTGL_WORLD_SIZE 1)");
      }
      if (opt.memory_daemon.empty()) opt.memory_daemon = lc.memory_daemon;
      opt.job = lc.job;
      opt.pipeline_depth = 0;  // the distributed loop is sequential for now
    }
    if (opt.pipeline_depth < 0) {
      opt.pipeline_depth =
          (!opt.pretrain_static && !opt.memory_daemon.empty()) || device.is_cuda() ? 1 : 0;
    }
    if (!opt.pretrain_static) {
      MemoryBackendOptions mo;
      mo.daemon_address = opt.memory_daemon;
      mo.timeout =
          std::chrono::milliseconds(static_cast<std::int64_t>(opt.memory_timeout_s * 1000));
      mo.num_nodes = ds.num_nodes;
      mo.memory_dim = m.memory_dim;
      mo.mail_dim = m.mail_dim();
      mo.mailbox_size = m.mailbox_size;
      mo.device = device;
      mo.job = opt.job;
      if (lc.distributed()) {
        mo.memory_group = place.group;
        mo.rank = place.slot * lc.layout.i + place.shard;  // rank within the group
        mo.layout_i = lc.layout.i;
        mo.layout_j = lc.layout.j;
        mo.layout_k = lc.layout.k;
      }
      if (!opt.memory_daemon.empty()) mo.dataset_fingerprint = dataset_fingerprint(ds);
      mo.shared_memory = opt.memory_shared_memory;
      store = make_memory_store(mo);
      if (const auto* d = dynamic_cast<const DaemonMemoryStore*>(store.get())) {
        spdlog::info("node memory in {} over {} (pipeline depth {})", d->backend_name(),
                     d->transport(), opt.pipeline_depth);
      }
    }
    model = TGNNModel(m);
    model->set_static_known(seen_in_training());
    model->to(device);
    {
      std::int64_t count = 0;
      const auto params = model->parameters();
      for (const auto& p : params) count += p.numel();
      // The all-reduce payload of a distributed run: 4 bytes per parameter + 1 flag per tensor.
      spdlog::info("model: {} parameters in {} tensors", count, params.size());
    }
    optimizer = std::make_unique<torch::optim::Adam>(model->parameters(),
                                                     torch::optim::AdamOptions(cfg.optim.lr));
    if (lc.distributed()) {
      ProcessGroupOptions po;
      po.master_addr = lc.master_addr;
      po.master_port = lc.master_port;
      po.rank = lc.rank;
      po.world_size = lc.world_size;
      po.device = device;
      po.timeout =
          std::chrono::milliseconds(static_cast<std::int64_t>(opt.collective_timeout_s * 1000));
      po.prefix = lc.store_prefix();
      po.local_addr = lc.local_addr;
      group = std::make_unique<ProcessGroup>(po);
      // Every rank starts from rank 0's weights (as DDP does).
      std::vector<torch::Tensor> params = model->parameters();
      group->broadcast(params, 0);
      spdlog::info("rank {} of {} (memory group {}, slot {}, shard {}; layout {}) over {}", lc.rank,
                   lc.world_size, place.group, place.slot, place.shard, to_string(lc.layout),
                   group->backend_name());
    }
    sample = std::make_unique<SampleStage>(ds, deliver ? nullptr : sampler.get(), negatives,
                                           deliver ? sampler.get() : nullptr);
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
  // Epoch parallelism's pass p > 0 (DistTGL's j negative sets) draws its own set.
  std::uint64_t train_negative_seed(std::int64_t epoch, std::int32_t pass = 0) const {
    const std::uint64_t seed =
        opt.seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(epoch) + 1;
    return pass == 0 ? seed : seed ^ (0xD1B54A32D192ED03ULL * static_cast<std::uint64_t>(pass));
  }

  // A training batch's draws: random negatives of the epoch (and pass), and the epoch's own
  // uniform temporal neighbours (TGL and DyGLib redraw every epoch; stream 0 is evaluation's).
  BatchDraws train_draws(std::int64_t epoch, std::int32_t pass = 0) const {
    return {{{NegativeStrategy::kRandom, cfg.optim.train_negatives,
              train_negative_seed(epoch, pass)}},
            static_cast<std::uint64_t>(epoch)};
  }

  // The one batch loop of training, evaluation and replay (disttgl.md §3.2): events
  // [begin, end) in batches of batch_size, each through sample -> gather (prefetched up to
  // opt.pipeline_depth batches ahead on a background thread) -> memory rows of its logical
  // batch -> `compute(batch, index)`, which runs the model and writes the memory back.
  // Memory logical batches continue the store's sequence (reset() starts it at 0).
  template <typename Compute>
  void run_batches(std::int64_t begin, std::int64_t end, std::int64_t batches,
                   const BatchDraws& draws, StageTimes& times, Compute&& compute) {
    const std::int64_t bs = cfg.optim.batch_size;
    const std::int64_t first_logical = store ? store->next_batch() : 0;
    BatchPrefetcher prefetch(batches, opt.pipeline_depth, [&](std::int64_t b) {
      const std::int64_t lo = begin + b * bs;
      const std::int64_t hi = std::min(lo + bs, end);
      auto t = Clock::now();
      auto sampled = sample->run(lo, hi, draws);
      times.add(metrics::Stage::kSample, since(t));
      t = Clock::now();
      auto batch = gather->run(std::move(sampled), first_logical + b);
      times.add(metrics::Stage::kGather, since(t) - batch.h2d_seconds);
      times.host_to_device += batch.h2d_seconds;
      return batch;
    });
    for (std::int64_t b = 0; b < batches; ++b) {
      throw_if_stop_requested();  // between batches: nothing half-written
      if (opt.metrics != nullptr) opt.metrics->set_queue_depth(prefetch.queued());
      auto t = Clock::now();
      GatheredBatch batch = prefetch.next();
      // Without a prefetch thread next() samples and gathers itself: that time is already
      // in sample and gather, so there is no wait to count.
      if (opt.pipeline_depth > 0) times.add(metrics::Stage::kWait, since(t));
      t = Clock::now();
      gather->await_memory(batch);
      times.add(metrics::Stage::kMemoryRead, since(t));
      compute(batch, b);
      publish_memory_traffic();
    }
  }

  // Adds the bytes moved to and from the memory daemon since the last call to the
  // Prometheus counters (nothing without a daemon or metrics).
  void publish_memory_traffic() {
    if (opt.metrics == nullptr) return;
    const auto* daemon = dynamic_cast<const DaemonMemoryStore*>(store.get());
    if (daemon == nullptr) return;
    const std::uint64_t sent = daemon->bytes_sent(), received = daemon->bytes_received();
    opt.metrics->add_memory_traffic(static_cast<std::int64_t>(sent - published_sent),
                                    static_cast<std::int64_t>(received - published_received));
    published_sent = sent;
    published_received = received;
  }

  // One epoch over the training split. Returns the mean loss.
  // One epoch of DistTGL's schedule on this rank (distributed_epoch.cpp). Returns the mean
  // loss over all ranks' iterations.
  double train_epoch_distributed(std::int64_t epoch, StageTimes& times, double& seconds,
                                 std::int64_t& events);

  double train_epoch(std::int64_t epoch, StageTimes& times, double& seconds, std::int64_t& events) {
    if (distributed()) return train_epoch_distributed(epoch, times, seconds, events);
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
    run_batches(0, ds.num_train(), batches, train_draws(epoch), times, [&](GatheredBatch& batch, std::int64_t b) {
                  sync_device();
                  auto t = Clock::now();
                  torch::Tensor loss;
                  const ModelOutputs out = forward(batch, &loss);
                  sync_device();
                  times.add(metrics::Stage::kForward, since(t));
                  t = Clock::now();
                  optimizer->zero_grad();
                  loss.backward();
                  sync_device();
                  times.add(metrics::Stage::kBackward, since(t));
                  t = Clock::now();
                  optimizer->step();
                  sync_device();
                  times.add(metrics::Stage::kOptimizer, since(t));
                  t = Clock::now();
                  write_back(memory(), batch, out);
                  sync_device();
                  times.add(metrics::Stage::kMemoryWrite, since(t));
                  loss_sum += loss.detach().to(torch::kFloat64);
                  if (b % kLossReadEvery == 0 || b + 1 == batches) last_loss = loss.item<double>();
                  events += batch.end - batch.begin;
                  if (opt.metrics != nullptr) {
                    opt.metrics->add_events(batch.end - batch.begin);
                    opt.metrics->add_iteration();
                    opt.metrics->set_loss(last_loss);
                  }
                  progress.update(b + 1, events, last_loss);
                });
    progress.finish();
    seconds = progress.elapsed_seconds();
    return loss_sum.item<double>() / static_cast<double>(batches);
  }

  // Evaluates events [begin, end) continuing the current memory (and writing it back), with
  // negatives of cfg.eval.negative_strategy: the first one of each positive for AP and AUC,
  // all mrr_negatives for MRR. Without MRR only the first is drawn: the same draw as with MRR
  // (negative i of an event does not depend on the count), so AP and AUC are unchanged.
  // `all_strategies` adds one negative of each other strategy per positive to the same pass
  // (the memory evolves from positives only, so one pass scores them all).
  EvalMetrics evaluate(std::int64_t begin, std::int64_t end, const std::string& label,
                       bool with_mrr = true, bool all_strategies = false) {
    torch::NoGradGuard no_grad;
    model->eval();
    const auto t0 = Clock::now();
    const std::int64_t bs = cfg.optim.batch_size;
    const NegativeStrategy selected = cfg.eval.negative_strategy;
    BatchDraws draws{{{selected, with_mrr ? cfg.eval.mrr_negatives : 1, cfg.eval.negative_seed}},
                     0};
    if (all_strategies) {
      for (const NegativeStrategy other : all_negative_strategies()) {
        if (other != selected) draws.negatives.push_back({other, 1, cfg.eval.negative_seed});
      }
    }
    const std::int64_t n_first = draws.negatives[0].count;
    const std::int64_t n_all = draws.negatives_per_event();
    const std::int64_t batches = (end - begin + bs - 1) / bs;
    ProgressLine progress(label, batches);
    std::vector<double> pos_all, negs_all;  // negs_all: [E, n_all] as the batch lays them out
    pos_all.reserve(static_cast<std::size_t>(end - begin));
    negs_all.reserve(static_cast<std::size_t>((end - begin) * n_all));
    BatchMeanAp batch_ap;
    std::int64_t events = 0;
    StageTimes times;
    run_batches(begin, end, batches, draws, times, [&](GatheredBatch& batch, std::int64_t b) {
      if (opt.metrics != nullptr) opt.metrics->add_evaluation_batch();
      const ModelOutputs out = forward(batch);
      write_back(memory(), batch, out);
      auto pos = out.pos_logits.to(torch::kCPU, torch::kFloat64).contiguous();
      auto neg = out.neg_logits.to(torch::kCPU, torch::kFloat64).contiguous();
      const auto* p = pos.data_ptr<double>();
      const auto* q = neg.data_ptr<double>();
      const std::int64_t n = batch.end - batch.begin;
      std::vector<double> bp(p, p + n), bn(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) bn[static_cast<std::size_t>(i)] = q[i * n_all];
      batch_ap.add(bp, bn);
      pos_all.insert(pos_all.end(), bp.begin(), bp.end());
      negs_all.insert(negs_all.end(), q, q + n * n_all);
      events += n;
      progress.update(b + 1, events, 0.0);
    });
    progress.finish();
    std::vector<std::pair<std::string, std::int64_t>> sets;
    for (const NegativeSet& set : draws.negatives) sets.emplace_back(to_string(set.strategy), set.count);
    EvalMetrics m = detail::score_evaluation(pos_all, negs_all, sets, with_mrr);
    m.ap_batch_mean = batch_ap.mean();
    m.events = events;
    m.negative_strategy = to_string(selected);
    for (std::size_t k = 0; k < draws.negatives.size(); ++k) {
      std::int64_t empty = 0;  // events whose own pool is empty (their draws are random)
      if (draws.negatives[k].strategy != NegativeStrategy::kRandom) {
        for (std::int64_t e = begin; e < end; ++e) {
          empty += negatives.pool_size(e, draws.negatives[k].strategy) == 0 ? 1 : 0;
        }
      }
      m.by_strategy[to_string(draws.negatives[k].strategy)].fallback_fraction =
          static_cast<double>(empty) / static_cast<double>(end - begin);
    }
    // The inductive setting (TGN, DyGLib): positives with an endpoint unseen in training.
    std::vector<std::uint8_t> is_new(static_cast<std::size_t>(end - begin));
    for (std::int64_t e = begin; e < end; ++e) {
      is_new[static_cast<std::size_t>(e - begin)] =
          !seen_in_training()[ds.src[e]] || !seen_in_training()[ds.dst[e]];
    }
    m.new_nodes = detail::score_subset(pos_all, negs_all, n_all, n_first, is_new, with_mrr);
    m.seconds = since(t0);
    return m;
  }

  // [N] 1 for nodes with an event in the training split (built on first use).
  const std::vector<std::uint8_t>& seen_in_training() {
    if (train_seen.empty()) {
      train_seen.assign(static_cast<std::size_t>(ds.num_nodes), 0);
      for (std::int64_t e = 0; e < ds.split.train_end; ++e) {
        train_seen[static_cast<std::size_t>(ds.src[e])] = 1;
        train_seen[static_cast<std::size_t>(ds.dst[e])] = 1;
      }
    }
    return train_seen;
  }
  std::vector<std::uint8_t> train_seen;

  // Runs the training events through the model without learning, to rebuild the memory the
  // validation split continues from.
  void replay(std::int64_t begin, std::int64_t end) {
    torch::NoGradGuard no_grad;
    model->eval();
    const std::int64_t bs = cfg.optim.batch_size;
    StageTimes times;
    run_batches(begin, end, (end - begin + bs - 1) / bs, BatchDraws{{NegativeSet{}}, 0}, times,
                [&](GatheredBatch& batch, std::int64_t) {
                  const ModelOutputs out = forward(batch);
                  write_back(memory(), batch, out);
                });
  }
};

}  // namespace disttgl::trainer

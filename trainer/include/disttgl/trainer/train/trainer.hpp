// The single-process training driver of `disttgl-trainer train`, `evaluate` and
// `pretrain-static`: epochs over the training split, validation every epoch, best checkpoint
// by the validation metric, final test with memory continued through train -> val -> test
// (TGL's protocol, disttgl.md §3.5).
//
// Per epoch: the memory and mailbox are reset, the training events are processed in time
// order in batches of `batch_size` through the stages of pipeline.hpp (sample, gather,
// compute, write back), then validation continues the memory. Evaluation uses negatives fixed
// by `eval.negative_seed`: per positive, 1 + (mrr_negatives - 1) draws of which the first is
// the "1 random negative" of AP/AUC and all `mrr_negatives` rank the positive for MRR.
//
// Device (config `runtime`, device.hpp): the model, loss, optimizer and node memory live on
// the resolved device; sampling stays on the CPU, and its blocks reach a GPU through pinned
// memory on a side stream while the previous batch computes (pipeline depth 1 by default).
//
// Determinism: with the same seed and thread count the losses are bit-for-bit identical on
// CPU. On one GPU they are bit-for-bit identical between runs of the same seed, device model
// and build with runtime.deterministic (torch's deterministic kernels, CUBLAS_WORKSPACE_CONFIG)
// and pipeline depth <= 1; without it, atomics in backward (index_select's gradient) make
// the last bits vary. CPU and GPU agree to float rounding only (docs/gpu.md).
// `resume` restores model, optimizer, RNG (CPU, and CUDA when on a GPU) and epoch counters,
// so an interrupted run continues with the same losses; checkpoints load on either device.
// Outputs in RUN_DIR: metrics.jsonl (one line per epoch), summary.json, checkpoint.pt (best
// epoch: model, optimizer, memory after validation, RNG), last.pt (latest epoch, for resume),
// config.yaml. Files are written to a temporary name and renamed.
// Thread-safety: one Trainer per process.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "disttgl/trainer/data/dataset.hpp"
#include "disttgl/trainer/dist/launch_contract.hpp"
#include "disttgl/trainer/train/config.hpp"

namespace disttgl::trainer {

}  // namespace disttgl::trainer
namespace disttgl::metrics {
class TrainerMetrics;
}  // namespace disttgl::metrics
namespace disttgl::trainer {

struct RunOptions {
  /// Prometheus metrics of this run (events, iterations, stage times, loss, validation),
  /// owned by the caller; null: none.
  metrics::TrainerMetrics* metrics = nullptr;
  std::string output_dir;  ///< RUN_DIR
  std::string data_path;   ///< for the summary
  std::uint64_t seed = 0;
  int threads = 2;                 ///< torch intra-op threads and sampler threads
  std::string static_memory_file;  ///< train with a pre-trained static node memory
  bool pretrain_static = false;    ///< learn the static table instead of a dynamic memory
  bool resume = false;             ///< continue the run in output_dir from last.pt
  /// Stop each training epoch after this many batches (0 = all); for quick experiments.
  std::int64_t max_train_batches = 0;
  /// Node memory in a `disttgl-memory-daemon` at this address ("HOST:PORT" or "unix:PATH");
  /// empty keeps it in-process.
  std::string memory_daemon;
  double memory_timeout_s = 60.0;  ///< every daemon call, seconds
  /// With a "unix:" daemon address, move rows through shared memory (else the socket).
  bool memory_shared_memory = true;
  std::string job = "disttgl";     ///< job name in the daemon's HELLO
  /// Batches sampled, gathered and read from memory ahead on a background thread (0:
  /// sequential; -1: 1 with a memory daemon or on a GPU, 0 otherwise).
  int pipeline_depth = -1;
  /// Synchronise the device at stage boundaries so stage_seconds attribute GPU time to its
  /// stage (and report host-to-device copies apart); slower, for breakdowns only. Without
  /// it, GPU stages report the host's launch time and the GPU time surfaces where the host
  /// waits (reading the loss).
  bool profile_stages = false;
  /// DistTGL's parallel training (docs/launch-contract.md): with world size > 1 this process
  /// is one rank of the layout; its memory group's daemon is `launch.memory_daemon`, and only
  /// rank 0 writes output_dir.
  LaunchContract launch;
  /// Rendezvous and each collective (gradient all-reduce, broadcast), seconds.
  double collective_timeout_s = 60.0;
};

/// AP and AUC of one negative strategy (1 negative per positive, same pass as the headline).
struct StrategyMetrics {
  double ap = 0.0;
  double auc = 0.0;
  /// Share of positives whose own pool was empty, so their negative was a random one.
  double fallback_fraction = 0.0;
};

/// Metrics over a subset of the split's positives (same negatives); NaN when it is empty.
struct SubsetMetrics {
  std::int64_t events = 0;
  double ap = 0.0;
  double auc = 0.0;
  double mrr = 0.0;  ///< NaN without MRR
};

struct EvalMetrics {
  double ap = 0.0;             ///< over the whole split, 1 negative per positive
  double auc = 0.0;            ///< same pairs as ap
  double mrr = 0.0;            ///< against mrr_negatives fixed negatives (NaN when
                               ///< eval.validation_mrr is false), ties against
  double ap_batch_mean = 0.0;  ///< mean of per-batch APs (what TGN/PyG print)
  double loss = 0.0;           ///< mean training-loss form over the split's batches
  std::int64_t events = 0;
  double seconds = 0.0;
  /// Strategy of ap/auc/mrr (eval.negative_strategy): random, historical or inductive.
  std::string negative_strategy = "random";
  /// By strategy name: the headline strategy's first negative, and with all strategies (test)
  /// one negative of each other strategy, all in the same pass.
  std::map<std::string, StrategyMetrics> by_strategy;
  /// The inductive setting (TGN, DyGLib): positives with an endpoint that has no event in the
  /// training split, against the headline strategy's negatives. The transductive numbers are
  /// the whole split's (ap, auc, mrr).
  SubsetMetrics new_nodes;
};

/// summary.json's form of `m`: ap, auc, mrr, ap_batch_mean, events, seconds,
/// negative_strategy, negatives.{random,historical,inductive}.{ap,auc,fallback_fraction} and
/// new_nodes.{events,negative_strategy,ap,auc,mrr}; NaN values are null.
nlohmann::json eval_metrics_json(const EvalMetrics& m);

class Trainer {
 public:
  /// Validates the config against the dataset (ConfigError naming the key: e.g. a static
  /// memory of the wrong shape, a fanout on a graph without events) before creating
  /// anything in output_dir.
  Trainer(const Dataset& dataset, TrainConfig config, RunOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Trains, evaluates and writes the outputs. Returns the test metrics.
  EvalMetrics fit();

  /// Loads a checkpoint written by fit() and evaluates `split` ("test": continue the
  /// checkpoint's memory through the test events; "val": replay the training events, then
  /// evaluate validation). Throws InputError when the checkpoint cannot be read or does not
  /// match the dataset.
  /// `static_memory_file` must be the table the run was trained with (empty if none).
  /// `runtime` (device, precision) replaces the checkpoint config's: a checkpoint written on
  /// a GPU evaluates on the CPU and back. `negatives` replaces the config's
  /// eval.negative_strategy for the headline metrics; every strategy is reported either way.
  static EvalMetrics evaluate_checkpoint(const Dataset& dataset, const std::string& checkpoint,
                                         const std::string& split, int threads,
                                         const std::string& static_memory_file = "",
                                         const RuntimeConfig& runtime = {},
                                         std::optional<NegativeStrategy> negatives = {});

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace disttgl::trainer

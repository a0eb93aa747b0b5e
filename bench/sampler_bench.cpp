// sampler_bench: data preparation time and temporal-sampler throughput on a real dataset
// (Wikipedia by default). Results: a table on stdout and, with --json FILE, a JSON report.
//
// Workload (DistTGL's): the training split in time order, batches of --batch-size events,
// each giving roots [src..., dst..., one negative per event...] at the event times, so a
// 600-event batch has 1800 roots. An epoch is one pass; each configuration reports the best
// of --epochs epochs (reset() at each epoch start, inside the timing). roots/s counts the
// batch roots (layer 0); edges/s counts sampled edges of all layers.
//
// The reference row is a deliberately plain sampler — one thread, std::lower_bound per root,
// push_back into the block — standing in for TGL's sampler_core.cpp, which needs pybind11 and
// OpenMP and is not built here. Its blocks are checked equal to TemporalSampler's first.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/common/log.hpp"
#include "disttgl/trainer/data/import.hpp"
#include "disttgl/trainer/data/prepared.hpp"
#include "disttgl/trainer/sampler/negative.hpp"
#include "disttgl/trainer/sampler/sampler.hpp"

namespace {

using disttgl::EdgeId;
using disttgl::NodeId;
using disttgl::Timestamp;
using disttgl::trainer::Dataset;
using disttgl::trainer::SamplerOptions;
using disttgl::trainer::SamplingStrategy;
using disttgl::trainer::TCSR;
using disttgl::trainer::TemporalBlock;
using disttgl::trainer::TemporalSampler;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of the whole process (all threads), in seconds. On a shared machine it is less
// sensitive than wall time to being descheduled by other load.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Workload {
  std::vector<std::vector<NodeId>> nodes;
  std::vector<std::vector<Timestamp>> times;
  std::int64_t num_roots = 0;
};

Workload make_workload(const Dataset& d, std::int64_t num_events, std::int64_t batch_size,
                       std::uint64_t seed) {
  const disttgl::trainer::NegativeSampler negatives(d);
  Workload w;
  for (std::int64_t first = 0; first < num_events; first += batch_size) {
    const std::int64_t n = std::min(batch_size, num_events - first);
    std::vector<NodeId> nodes(d.src.begin() + first, d.src.begin() + first + n);
    nodes.insert(nodes.end(), d.dst.begin() + first, d.dst.begin() + first + n);
    const std::vector<NodeId> neg = negatives.sample(first, n, 1, seed);
    nodes.insert(nodes.end(), neg.begin(), neg.end());
    std::vector<Timestamp> times;
    for (int k = 0; k < 3; ++k)
      times.insert(times.end(), d.ts.begin() + first, d.ts.begin() + first + n);
    w.num_roots += static_cast<std::int64_t>(nodes.size());
    w.nodes.push_back(std::move(nodes));
    w.times.push_back(std::move(times));
  }
  return w;
}

// The plain reference: most-recent, one thread, binary search per root, no cursor.
TemporalBlock reference_recent(const TCSR& g, const std::vector<NodeId>& nodes,
                               const std::vector<Timestamp>& times, int fanout) {
  TemporalBlock b;
  b.num_roots = static_cast<std::int64_t>(nodes.size());
  b.nodes = nodes;
  b.times = times;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const std::int64_t begin = g.indptr[nodes[i]];
    const std::int64_t end = g.indptr[nodes[i] + 1];
    const std::int64_t cut =
        std::lower_bound(g.ts.begin() + begin, g.ts.begin() + end, times[i]) - g.ts.begin();
    for (std::int64_t p = cut - 1; p >= std::max(begin, cut - fanout); --p) {
      b.row.push_back(static_cast<std::int64_t>(i));
      b.col.push_back(b.num_nodes());
      b.nodes.push_back(g.nbr[p]);
      b.times.push_back(g.ts[p]);
      b.eid.push_back(g.eid[p]);
      b.dt.push_back(times[i] - g.ts[p]);
    }
  }
  return b;
}

bool same_block(const TemporalBlock& a, const TemporalBlock& b) {
  return a.num_roots == b.num_roots && a.nodes == b.nodes && a.times == b.times && a.row == b.row &&
         a.col == b.col && a.eid == b.eid && a.dt == b.dt;
}

struct Config {
  std::string name;
  SamplingStrategy strategy;
  std::vector<int> fanouts;
};

struct Result {
  std::string config;
  std::string impl;
  int threads = 1;
  bool cursor = true;
  double best_s = 0;
  double mean_s = 0;
  double best_cpu_s = 0;   // process CPU time of the epoch with the best wall time
  std::int64_t roots = 0;  // batch roots per epoch
  std::int64_t edges = 0;  // sampled edges per epoch, all layers
};

template <typename EpochFn>
void time_epochs(Result& r, int epochs, EpochFn&& epoch) {
  double total = 0;
  r.best_s = 1e300;
  for (int e = 0; e < epochs; ++e) {
    const double cpu_start = process_cpu_seconds();
    const Clock::time_point start = Clock::now();
    r.edges = epoch();
    const double s = seconds_since(start);
    total += s;
    if (s < r.best_s) {
      r.best_s = s;
      r.best_cpu_s = process_cpu_seconds() - cpu_start;
    }
  }
  r.mean_s = total / epochs;
}

Result run_sampler(const TCSR& g, const Workload& w, const Config& c, int threads, bool cursor,
                   int epochs) {
  Result r{c.name, "TemporalSampler", threads, cursor};
  r.roots = w.num_roots;
  TemporalSampler sampler(g, SamplerOptions{.fanouts = c.fanouts,
                                            .strategy = c.strategy,
                                            .num_threads = threads,
                                            .seed = 1,
                                            .use_cursor = cursor});
  time_epochs(r, epochs, [&] {
    sampler.reset();
    std::int64_t edges = 0;
    for (std::size_t b = 0; b < w.nodes.size(); ++b) {
      for (const TemporalBlock& block : sampler.sample(w.nodes[b], w.times[b])) {
        edges += block.num_edges();
      }
    }
    return edges;
  });
  return r;
}

Result run_reference(const TCSR& g, const Workload& w, int epochs) {
  Result r{"recent 1x10", "plain reference", 1, false};
  r.roots = w.num_roots;
  time_epochs(r, epochs, [&] {
    std::int64_t edges = 0;
    for (std::size_t b = 0; b < w.nodes.size(); ++b) {
      edges += reference_recent(g, w.nodes[b], w.times[b], 10).num_edges();
    }
    return edges;
  });
  return r;
}

// Blocks of the reference and of TemporalSampler (2 threads, cursor on) over one epoch.
bool reference_agrees(const TCSR& g, const Workload& w) {
  TemporalSampler sampler(g, SamplerOptions{.fanouts = {10}, .num_threads = 2});
  for (std::size_t b = 0; b < w.nodes.size(); ++b) {
    if (!same_block(sampler.sample(w.nodes[b], w.times[b])[0],
                    reference_recent(g, w.nodes[b], w.times[b], 10))) {
      return false;
    }
  }
  return true;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

int run(int argc, char** argv) {
  CLI::App app{"sampler_bench: data preparation time and temporal sampler throughput"};
  std::string dataset_path = std::string(DISTTGL_SHARED_DIR) + "/datasets/wikipedia/wikipedia.csv";
  std::string json_path;
  int epochs = 3;
  std::int64_t batch_size = 600;
  std::vector<int> thread_counts = {1, 2};
  std::string only;
  app.add_option("--dataset", dataset_path, "dataset file (any importer format)")
      ->capture_default_str();
  app.add_option("--json", json_path, "also write the results as JSON to this file");
  app.add_option("--epochs", epochs, "epochs per configuration; the best is reported")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch_size, "events per batch (roots = 3x)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", thread_counts, "sampler thread counts to measure")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--only", only, "run only the configurations whose name contains this");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : disttgl::kExitBadInput;
  }
  disttgl::log::init("bench", "warn");

  nlohmann::json report;
  report["command"] = [&] {
    std::string cmd;
    for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
    return cmd;
  }();
  report["machine"] = {{"cpu", cpu_model()},
                       {"hardware_threads", std::thread::hardware_concurrency()},
                       {"load_average_at_start", load_average()}};
  fmt::print("machine: {} ({} hardware threads), load average {}\n", cpu_model(),
             std::thread::hardware_concurrency(), load_average());

  // (a) Preparation: import, T-CSR build, prepared-format write and load; best of 3.
  Dataset dataset;
  TCSR graph;
  double import_s = 1e300, build_s = 1e300, write_s = 1e300, load_s = 1e300;
  std::string write_note = "ok";
  const std::string prepared_dir =
      "/tmp/disttgl_sampler_bench_" + std::to_string(static_cast<long>(getpid()));
  for (int rep = 0; rep < 3; ++rep) {
    Clock::time_point start = Clock::now();
    dataset = disttgl::trainer::import_dataset(dataset_path);
    import_s = std::min(import_s, seconds_since(start));
    start = Clock::now();
    graph = TCSR::build(dataset);
    build_s = std::min(build_s, seconds_since(start));
    try {
      start = Clock::now();
      disttgl::trainer::write_prepared(dataset, prepared_dir);
      write_s = std::min(write_s, seconds_since(start));
      start = Clock::now();
      const Dataset loaded = disttgl::trainer::load_prepared(prepared_dir);
      load_s = std::min(load_s, seconds_since(start));
    } catch (const disttgl::Error& e) {
      write_note = e.what();
    }
  }
  std::filesystem::remove_all(prepared_dir);
  const bool prepared_ok = write_note == "ok";
  fmt::print("dataset: {} nodes={} events={} train={} (T-CSR entries {})\n", dataset_path,
             dataset.num_nodes, dataset.num_events(), dataset.num_train(), graph.num_entries());
  fmt::print("prepare (best of 3): import {:.1f} ms, T-CSR build {:.2f} ms", import_s * 1e3,
             build_s * 1e3);
  if (prepared_ok) {
    fmt::print(", write_prepared {:.1f} ms, load_prepared {:.1f} ms\n", write_s * 1e3,
               load_s * 1e3);
  } else {
    fmt::print(", write_prepared unavailable: {}\n", write_note);
  }
  report["dataset"] = {{"path", dataset_path},
                       {"num_nodes", dataset.num_nodes},
                       {"num_events", dataset.num_events()},
                       {"num_train", dataset.num_train()}};
  report["prepare_ms"] = {{"import", import_s * 1e3}, {"tcsr_build", build_s * 1e3}};
  if (prepared_ok) {
    report["prepare_ms"]["write_prepared"] = write_s * 1e3;
    report["prepare_ms"]["load_prepared"] = load_s * 1e3;
  }

  // (b) Sampler throughput over the training split.
  const Workload workload = make_workload(dataset, dataset.num_train(), batch_size, 7);
  const bool agrees = reference_agrees(graph, workload);
  fmt::print("workload: {} batches of {} events, {} roots per epoch; reference blocks {}\n",
             workload.nodes.size(), batch_size, workload.num_roots,
             agrees ? "identical" : "DIFFERENT");

  const std::vector<Config> configs = {{"recent 1x10", SamplingStrategy::kRecent, {10}},
                                       {"uniform 1x10", SamplingStrategy::kUniform, {10}},
                                       {"recent 2x(10,10)", SamplingStrategy::kRecent, {10, 10}},
                                       {"uniform 2x(10,10)", SamplingStrategy::kUniform, {10, 10}}};
  std::vector<Result> results;
  results.push_back(run_reference(graph, workload, epochs));
  results.push_back(run_sampler(graph, workload, configs[0], 1, false, epochs));
  for (const Config& c : configs) {
    if (c.name.find(only) == std::string::npos) continue;
    for (int threads : thread_counts) {
      results.push_back(run_sampler(graph, workload, c, threads, true, epochs));
    }
  }

  // Speed-ups are against the plain reference, and only for the configuration it implements.
  const double reference_rate = static_cast<double>(results[0].roots) / results[0].best_s;
  fmt::print("\n{:<18} {:<16} {:>7} {:>6} {:>9} {:>9} {:>9} {:>11} {:>11} {:>7}\n", "config",
             "impl", "threads", "cursor", "best ms", "mean ms", "cpu ms", "roots/s", "edges/s",
             "vs ref");
  report["runs"] = nlohmann::json::array();
  for (const Result& r : results) {
    const double roots_per_s = static_cast<double>(r.roots) / r.best_s;
    const double edges_per_s = static_cast<double>(r.edges) / r.best_s;
    const bool comparable = r.config == results[0].config;
    const double ratio = roots_per_s / reference_rate;
    fmt::print("{:<18} {:<16} {:>7} {:>6} {:>9.1f} {:>9.1f} {:>9.1f} {:>11.0f} {:>11.0f} {:>7}\n",
               r.config, r.impl, r.threads, r.cursor ? "on" : "off", r.best_s * 1e3, r.mean_s * 1e3,
               r.best_cpu_s * 1e3, roots_per_s, edges_per_s,
               comparable ? fmt::format("{:.2f}x", ratio) : std::string("-"));
    nlohmann::json run = {{"config", r.config},
                          {"impl", r.impl},
                          {"threads", r.threads},
                          {"cursor", r.cursor},
                          {"best_epoch_ms", r.best_s * 1e3},
                          {"mean_epoch_ms", r.mean_s * 1e3},
                          {"best_epoch_cpu_ms", r.best_cpu_s * 1e3},
                          {"roots_per_epoch", r.roots},
                          {"edges_per_epoch", r.edges},
                          {"roots_per_s", roots_per_s},
                          {"edges_per_s", edges_per_s}};
    if (comparable) run["speedup_vs_reference"] = ratio;
    report["runs"].push_back(std::move(run));
  }
  report["reference_blocks_identical"] = agrees;
  report["epochs"] = epochs;
  report["batch_size_events"] = batch_size;
  fmt::print("load average at end: {}\n", load_average());
  report["machine"]["load_average_at_end"] = load_average();

  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << report.dump(2) << "\n";
    if (!out) throw disttgl::IoError("cannot write " + json_path);
  }
  return agrees ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const disttgl::Error& e) {
    std::fprintf(stderr, "sampler_bench: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sampler_bench: internal error: %s\n", e.what());
    return disttgl::kExitInternal;
  }
}

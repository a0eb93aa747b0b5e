// data_plane_bench: how fast node memory moves between a trainer and a memory daemon, side
// by side with the in-process store and a plain memcpy of the same bytes (the ceiling), in
// one run.
//
// Workload: the unique nodes of one real TGN batch of Wikipedia (batch 600 events in the
// middle of the training split, roots [src, dst, one negative], 10 most recent temporal
// neighbours: 1,671 of 9,227 nodes), memory 100 and mail 200 floats, mailbox 1.
// READ moves memory + mailbox rows of those nodes (what a trainer reads per batch); WRITE
// moves 1,200 rows (the batch's positive endpoints, what write-back sends). Each row of the
// table is the median of --repeats timed calls after warm-up, in rows/s and GB/s of row
// payload (node ids excluded), and as a share of memcpy's GB/s.
//
// Usage: build/release/bench/data_plane_bench [--repeats 200] [--json FILE]
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "disttgl/memory_daemon/protocol.hpp"
#include "disttgl/trainer/data/import.hpp"
#include "disttgl/trainer/memory/daemon_memory_store.hpp"
#include "disttgl/trainer/memory/local_memory_store.hpp"
#include "disttgl/trainer/model/tgnn_model.hpp"
#include "disttgl/trainer/sampler/negative.hpp"
#include "disttgl/trainer/sampler/sampler.hpp"
#include "disttgl/trainer/sampler/tcsr.hpp"
#include "disttgl/trainer/train/pipeline.hpp"

namespace {
using namespace disttgl::trainer;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kMemoryDim = 100;
constexpr std::int64_t kMailDim = 200;

struct Result {
  std::string path;
  std::string op;
  std::int64_t rows = 0;
  double seconds = 0;  // median per call
  double bytes = 0;    // row payload per call
  double rows_per_second() const { return static_cast<double>(rows) / seconds; }
  double gb_per_second() const { return bytes / seconds / 1e9; }
};

template <typename Fn>
double median_seconds(int repeats, Fn&& fn) {
  for (int i = 0; i < std::max(3, repeats / 10); ++i) fn();  // warm-up
  std::vector<double> t;
  t.reserve(static_cast<std::size_t>(repeats));
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::nth_element(t.begin(), t.begin() + repeats / 2, t.end());
  return t[static_cast<std::size_t>(repeats / 2)];
}

// The unique nodes of the TGN batch of 600 events starting at the middle of the training split.
torch::Tensor batch_nodes(const Dataset& ds) {
  const TCSR graph = TCSR::build(ds);
  SamplerOptions so;
  so.fanouts = {10};
  so.num_threads = 2;
  TemporalSampler sampler(graph, so);
  NegativeSampler negatives(ds);
  SampleStage stage(ds, &sampler, negatives);
  const std::int64_t begin = ds.num_train() / 2;
  const SampledBatch b = stage.run(begin, begin + 600, BatchDraws{{{NegativeStrategy::kRandom, 1, 1}}, 0});
  const auto& nodes = b.blocks.back().nodes;
  torch::Tensor all = torch::tensor(std::vector<std::int64_t>(nodes.begin(), nodes.end()),
                                    torch::kLong);
  return std::get<0>(unique_with_index(all));
}

MemoryRows write_rows(std::int64_t m) {
  return {torch::rand({m, kMemoryDim}), torch::rand({m}, torch::kDouble),
          torch::rand({m, 1, kMailDim}), torch::rand({m, 1}, torch::kDouble),
          torch::randint(0, 1000, {m, 1}, torch::kLong)};
}

void measure_store(MemoryStore& store, const std::string& path, const torch::Tensor& read_nodes,
                   const torch::Tensor& write_nodes, int repeats, std::vector<Result>& out) {
  const auto r = static_cast<double>(
      disttgl::memory_daemon::rows_bytes(read_nodes.size(0), 1, kMemoryDim, kMailDim));
  const auto w = static_cast<double>(
      disttgl::memory_daemon::rows_bytes(write_nodes.size(0), 1, kMemoryDim, kMailDim));
  const MemoryRows rows = write_rows(write_nodes.size(0));
  out.push_back({path, "READ", read_nodes.size(0),
                 median_seconds(repeats, [&] { store.read(read_nodes); }), r});
  out.push_back({path, "WRITE", write_nodes.size(0),
                 median_seconds(repeats, [&] { store.write(write_nodes, rows); }), w});
}

// The daemon as a child process on a free loopback port and a Unix socket in `dir`.
struct Daemon {
  pid_t pid = -1;
  std::string tcp, unix_socket;
  explicit Daemon(const std::string& dir) {
    const std::string port_file = dir + "/port";
    unix_socket = dir + "/daemon.sock";
    pid = ::fork();
    if (pid == 0) {
      ::execl(DISTTGL_DAEMON_BIN, DISTTGL_DAEMON_BIN, "--listen", "127.0.0.1:0", "--port-file",
              port_file.c_str(), "--unix", unix_socket.c_str(), "--log-level", "warn", nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      std::ifstream in(port_file);
      int port = 0;
      if (in >> port && port > 0) {
        tcp = "127.0.0.1:" + std::to_string(port);
        unix_socket = "unix:" + unix_socket;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("the memory daemon did not start");
  }
  ~Daemon() {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("memory data plane: memcpy vs in-process store vs memory daemon (TCP, Unix)");
  int repeats = 200;
  std::string json_path;
  std::string data = std::string(DISTTGL_SHARED_DIR) + "/datasets/wikipedia/wikipedia.csv";
  app.add_option("--repeats", repeats, "timed calls per row")->capture_default_str();
  app.add_option("--data", data, "JODIE-format dataset")->capture_default_str();
  app.add_option("--json", json_path, "also write the table as JSON");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(1);

  const Dataset ds = import_dataset(data);
  const torch::Tensor read_nodes = batch_nodes(ds);
  // Write-back: the positive endpoints (src then dst) of the same batch.
  const std::int64_t begin = ds.num_train() / 2;
  std::vector<std::int64_t> endpoints(ds.src.begin() + begin, ds.src.begin() + begin + 600);
  endpoints.insert(endpoints.end(), ds.dst.begin() + begin, ds.dst.begin() + begin + 600);
  const torch::Tensor write_nodes = torch::tensor(endpoints, torch::kLong);
  std::vector<Result> results;

  // The ceiling: one memcpy of the same payload bytes.
  for (const auto& [op, n] : {std::pair<std::string, std::int64_t>{"READ", read_nodes.size(0)},
                              {"WRITE", write_nodes.size(0)}}) {
    const auto bytes = disttgl::memory_daemon::rows_bytes(n, 1, kMemoryDim, kMailDim);
    std::vector<std::byte> src(bytes, std::byte{1}), dst(bytes);
    results.push_back({"memcpy", op, n,
                       median_seconds(repeats, [&] { std::memcpy(dst.data(), src.data(), bytes); }),
                       static_cast<double>(bytes)});
  }

  LocalMemoryStore local({ds.num_nodes, kMemoryDim, kMailDim, 1, torch::kCPU});
  measure_store(local, "in-process LocalMemoryStore", read_nodes, write_nodes, repeats, results);

  char dir_template[] = "/tmp/disttgl-data-plane-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  Daemon daemon(dir);
  struct Transport {
    std::string label, address;
    bool shm;
  };
  for (const Transport& t : {Transport{"daemon, TCP loopback", daemon.tcp, false},
                             Transport{"daemon, Unix socket", daemon.unix_socket, false},
                             Transport{"daemon, shared memory", daemon.unix_socket, true}}) {
    const std::string& label = t.label;
    MemoryBackendOptions o;
    o.daemon_address = t.address;
    o.shared_memory = t.shm;
    o.num_nodes = ds.num_nodes;
    o.memory_dim = kMemoryDim;
    o.mail_dim = kMailDim;
    DaemonMemoryStore store(o);
    if (t.shm && store.transport() != "shared memory") {
      throw std::runtime_error("no shared memory: " + store.transport());
    }
    store.reset();
    measure_store(store, label, read_nodes, write_nodes, repeats, results);
  }

  const double memcpy_gbs[2] = {results[0].gb_per_second(), results[1].gb_per_second()};
  fmt::print("| path | op | rows | median ms | rows/s | GB/s | share of memcpy |\n");
  fmt::print("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
  nlohmann::json j = nlohmann::json::array();
  for (const Result& r : results) {
    const double share = r.gb_per_second() / memcpy_gbs[r.op == "READ" ? 0 : 1];
    fmt::print("| {} | {} | {} | {:.3f} | {:.3g} | {:.2f} | {:.0f} % |\n", r.path, r.op, r.rows,
               r.seconds * 1e3, r.rows_per_second(), r.gb_per_second(), share * 100);
    j.push_back({{"path", r.path},
                 {"op", r.op},
                 {"rows", r.rows},
                 {"median_seconds", r.seconds},
                 {"bytes", r.bytes},
                 {"gb_per_second", r.gb_per_second()},
                 {"share_of_memcpy", share}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << j.dump(2) << "\n";
  std::filesystem::remove_all(dir);
  return 0;
}

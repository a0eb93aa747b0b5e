// `disttgl-trainer launch` as a user runs it: real daemon and trainer processes on loopback
// and Unix sockets. World size 1 completes (the disttgl #2 hang), memory parallelism k = 2
// trains and rank 0 writes the run, mini-batch parallelism i = 2 trains like one process
// with the doubled batch, and a killed rank ends the whole launch non-zero within the grace
// period with no process left behind; `launch --resume` then continues the run.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kCollegeMsg =
    std::string(DISTTGL_SHARED_DIR) + "/datasets/collegemsg/CollegeMsg.txt";

fs::path temp_dir(const std::string& name) {
  auto p = fs::path("/tmp") / ("disttgl_launch_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  return p;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Processes of this test's runs still alive (by their output folder in the command line).
int processes_mentioning(const std::string& text) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = read_file(e.path() / "cmdline");
    for (auto& c : cmdline) c = c == '\0' ? ' ' : c;
    if (cmdline.find(text) != std::string::npos && cmdline.find("disttgl-") != std::string::npos) {
      ++n;
    }
  }
  return n;
}

std::pair<int, std::string> run(const std::string& args, const std::string& env = "") {
  const auto log = temp_dir("log");
  const std::string cmd =
      env + std::string(DISTTGL_TRAINER_BIN) + " " + args + " > " + log.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  const std::string out = read_file(log);
  fs::remove(log);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::pair<int, std::string> launch(const std::string& args) { return run("launch " + args); }

std::vector<nlohmann::json> metrics_lines(const fs::path& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

const std::string kQuick =
    " --data " + kCollegeMsg + " --epochs 1 --max-train-batches 5 --threads 1 --device cpu";

TEST(Launch, WorldSizeOneCompletes) {
  const auto dir = temp_dir("w1");
  // The caller's own contract variables (a user's exported test values) must not reach the
  // ranks: the launcher sets every one of them itself.
  const auto [code, out] = run("launch --layout i=1,j=1,k=1 --output " + dir.string() + kQuick,
                               "DISTTGL_RANK=5 DISTTGL_WORLD_SIZE=9 DISTTGL_MASTER_PORT=1 ");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("launch: every rank finished"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir / "summary.json"));
  EXPECT_EQ(processes_mentioning(dir.string()), 0);
  fs::remove_all(dir);
}

TEST(Launch, MemoryParallelismTwoGroupsTrainsAndRankZeroWritesTheRun) {
  const auto dir = temp_dir("k2");
  const auto [code, out] =
      launch("--layout i=1,j=1,k=2 --output " + dir.string() + kQuick + " --deterministic");
  ASSERT_EQ(code, 0) << out;
  // Every rank builds its config and run options from the same flags as rank 0.
  for (const char* rank : {"[rank 0] ", "[rank 1] "}) {
    const std::string prefix = std::string(rank) + "[";
    bool deterministic = false;
    for (auto at = out.find(prefix); at != std::string::npos; at = out.find(prefix, at + 1)) {
      const auto end = out.find('\n', at);
      if (out.substr(at, end - at).find("| deterministic kernels") != std::string::npos) {
        deterministic = true;
      }
    }
    EXPECT_TRUE(deterministic) << rank << "\n" << out;
  }
  for (const char* label : {"[rank 0] ", "[rank 1] ", "[daemon 0] ", "[daemon 1] "}) {
    EXPECT_NE(out.find(label), std::string::npos) << label << "\n" << out;
  }
  EXPECT_NE(out.find("[rank 1] rank 1 of 2: done"), std::string::npos) << out;
  const auto summary = nlohmann::json::parse(read_file(dir / "summary.json"));
  EXPECT_GT(summary["test"]["ap"].get<double>(), 0.5);
  EXPECT_EQ(processes_mentioning(dir.string()), 0);
  fs::remove_all(dir);
}

// DistTGL §4: i shards of B events read the memory from before their logical batch and
// each node is written once, by its last occurrence, so i = 2 x 300 trains exactly like one
// process with batch 600 (no dropout: the shards' masks would come from two generators).
// Frozen weights (lr 1e-12) isolate the memory and batch semantics: the losses agree to
// float rounding. With a real lr they agree only to float reduction order amplified by
// training: TGN's learnable time-encoder frequencies multiply time gaps of up to 1e7 s, so
// a weight difference of 1e-8 (one Adam step's rounding) turns phases by 0.1 rad; a single
// process with 1 or 2 threads differs by 0.2-0.6 % there (docs/layouts.md).
TEST(Launch, MiniBatchParallelismMatchesOneProcessWithTheBiggerBatch) {
  const auto cfg = temp_dir("nodrop.yaml");
  std::ofstream(cfg) << "model: tgn\nembedding:\n  dropout: 0.0\n  attention_dropout: 0.0\n";
  for (const auto& [lr, batches, tolerance] :
       {std::tuple{"1e-12", "30", 1e-6}, std::tuple{"1e-4", "8", 1e-2}}) {
    const std::string common = std::string(" --data ") + kCollegeMsg + " --config " + cfg.string() +
                               " --epochs 2 --max-train-batches " + batches + " --lr " + lr +
                               " --device cpu";
    const auto one = temp_dir("i1");
    const auto two = temp_dir("i2");
    const auto [c1, o1] =
        run("train --output " + one.string() + common + " --batch-size 600 --threads 2");
    ASSERT_EQ(c1, 0) << o1;
    const auto [c2, o2] = launch("--layout i=2,j=1,k=1 --output " + two.string() + common +
                                 " --batch-size 300 --threads 1");
    ASSERT_EQ(c2, 0) << o2;
    const auto a = metrics_lines(one);
    const auto b = metrics_lines(two);
    ASSERT_EQ(a.size(), 2u);
    ASSERT_EQ(b.size(), 2u);
    for (std::size_t e = 0; e < 2; ++e) {
      const double la = a[e]["loss"].get<double>();
      const double lb = b[e]["loss"].get<double>();
      EXPECT_NEAR(lb, la, tolerance * la) << "lr " << lr << ", epoch " << e + 1;
    }
    // --lr is used as given (no lr x W scaling).
    const auto summary = nlohmann::json::parse(read_file(two / "summary.json"));
    EXPECT_EQ(summary["config"]["train"]["lr"].get<double>(), std::stod(lr));
    fs::remove_all(one);
    fs::remove_all(two);
  }
  fs::remove(cfg);
}

// DistTGL §4: j = 2 (each slot trains its batch twice with two negative sets) and k = 2
// (two staggered memory groups, each in its own daemon), 4 trainers + 2 daemons on
// loopback with Gloo, reach the single process's test AP within 0.02 after the same number
// of passes over the training events (8: 8 epochs alone, 2 epochs x j x k here).
TEST(Launch, EpochAndMemoryParallelismReachTheSingleProcessAccuracy) {
  const std::string common = " --data " + kCollegeMsg + " --batch-size 600 --device cpu";
  const auto one = temp_dir("single");
  const auto jk = temp_dir("j2k2");
  const auto [c1, o1] = run("train --output " + one.string() + common + " --epochs 8 --threads 2");
  ASSERT_EQ(c1, 0) << o1;
  const auto [c2, o2] =
      launch("--layout i=1,j=2,k=2 --output " + jk.string() + common + " --epochs 2 --threads 1");
  ASSERT_EQ(c2, 0) << o2;
  for (const char* label : {"[rank 3] rank 3 of 4: done", "[daemon 1] "}) {
    EXPECT_NE(o2.find(label), std::string::npos) << label << "\n" << o2;
  }
  // DistTGL's scaling: lr 1e-4 x W = 4e-4 (the epochs were given).
  EXPECT_NE(o2.find("lr 0.0001 x W=4 = 0.0004"), std::string::npos) << o2;
  const auto s1 = nlohmann::json::parse(read_file(one / "summary.json"));
  const auto s2 = nlohmann::json::parse(read_file(jk / "summary.json"));
  const double ap1 = s1["test"]["ap"].get<double>();
  const double ap2 = s2["test"]["ap"].get<double>();
  EXPECT_GT(ap1, 0.8);
  EXPECT_NEAR(ap2, ap1, 0.02) << "single " << ap1 << ", i=1,j=2,k=2 " << ap2;
  EXPECT_EQ(metrics_lines(jk).size(), 2u);
  // Exact evaluation: rank 0's validation of the best epoch and the run's test metrics are
  // those of a single-process `evaluate` of the same checkpoint.
  for (const std::string split : {"val", "test"}) {
    const auto [c, o] =
        run("evaluate --checkpoint " + (jk / "checkpoint.pt").string() + " --data " + kCollegeMsg +
            " --split " + split + " --threads 1 --device cpu");
    ASSERT_EQ(c, 0) << o;
    const auto at = o.find("{\"ap\"");
    ASSERT_NE(at, std::string::npos) << o;
    const auto m = nlohmann::json::parse(o.substr(at, o.find('\n', at) - at));
    EXPECT_NEAR(m["ap"].get<double>(), s2[split]["ap"].get<double>(), 1e-9) << split;
    EXPECT_NEAR(m["auc"].get<double>(), s2[split]["auc"].get<double>(), 1e-9) << split;
  }
  fs::remove_all(one);
  fs::remove_all(jk);
}

TEST(Launch, AKilledRankEndsTheLaunchNonZeroWithNoProcessLeft) {
  const auto dir = temp_dir("kill");
  const auto log = temp_dir("kill.log");
  const std::string cmd = std::string(DISTTGL_TRAINER_BIN) + " launch --grace 5 --layout i=2 " +
                          "--output " + dir.string() + " --data " + kCollegeMsg +
                          " --epochs 5 --threads 1 --device cpu > " + log.string() + " 2>&1";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait until rank 1 is training, then kill it.
  pid_t victim = -1;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (victim < 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    if (read_file(log).find("[rank 1]") == std::string::npos) continue;
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string environ = read_file(e.path() / "environ");
      if (environ.find("DISTTGL_RANK=1") != std::string::npos &&
          environ.find(dir.string()) != std::string::npos) {
        victim = std::stoi(name);
      }
    }
  }
  ASSERT_GT(victim, 0) << read_file(log);
  std::this_thread::sleep_for(1s);
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(victim, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 15s);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGKILL);
  const std::string out = read_file(log);
  EXPECT_NE(out.find("launch: rank 1 failed (signal 9); stopped the others"), std::string::npos)
      << out;
  EXPECT_EQ(processes_mentioning(dir.string()), 0);
  // A distributed run keeps its directory (its last completed epoch, here none) unfinished.
  EXPECT_FALSE(fs::exists(dir / "summary.json"));
  EXPECT_FALSE(fs::exists(dir / "last.pt"));
  fs::remove_all(dir);
  fs::remove(log);
}

// A daemon that cannot start ends the launch at once, naming it, not after the trainers'
// 30 s wait for its socket.
TEST(Launch, ADaemonThatCannotStartEndsTheLaunchAtOnce) {
  const auto dir = temp_dir("nodaemon");
  const auto t0 = std::chrono::steady_clock::now();
  const auto [code, out] = launch(
      "--layout i=1,j=1,k=2 --memory-daemon-bin /nonexistent/daemon "
      "--output " +
      dir.string() + kQuick);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_EQ(code, 127) << out;
  EXPECT_NE(out.find("failed (exit code 127) while starting; stopped the others"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("] launch: cannot execute /nonexistent/daemon"), std::string::npos) << out;
  EXPECT_EQ(processes_mentioning(dir.string()), 0);
  // launch owns each rank's daemon address.
  const auto [bad, why] = launch("--layout i=1,j=1,k=2 --output " + dir.string() + kQuick +
                                 " --memory-daemon unix:/tmp/x.sock");
  EXPECT_EQ(bad, 2) << why;
  EXPECT_NE(why.find("--memory-daemon: set by launch for every rank"), std::string::npos) << why;
  fs::remove_all(dir);
}

// launch --metrics-port P gives daemon g P+1+g and rank r P+1+k+r; a port the user chose
// that a child cannot have ends the launch before any process starts, naming the port.
TEST(Launch, AGivenMetricsPortWhoseChildPortIsTakenIsRefusedBeforeAnythingStarts) {
  const auto dir = temp_dir("metricsport");
  // Hold a port Q; the launcher gets Q-2, so daemon 1 (Q-2+1+1) would need Q.
  const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(holder, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len);
  const int taken = ntohs(a.sin_port);
  const auto [code, out] =
      launch("--layout i=1,j=1,k=2 --metrics-address 127.0.0.1 --metrics-port " +
             std::to_string(taken - 2) + " --output " + dir.string() + kQuick);
  ::close(holder);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--metrics-port: " + std::to_string(taken) +
                     " is taken; the daemons and "
                     "ranks need " +
                     std::to_string(taken - 1) + " to " + std::to_string(taken + 2)),
            std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(processes_mentioning(dir.string()), 0);
}

// Starts `launch ARGS` in the background; returns its pid (output to `log`).
pid_t start_launch(const std::string& args, const fs::path& log) {
  const std::string cmd =
      std::string(DISTTGL_TRAINER_BIN) + " launch " + args + " > " + log.string() + " 2>&1";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// The pid of the trainer with DISTTGL_RANK=rank whose environment names `dir`, or -1.
pid_t find_rank(int rank, const fs::path& dir) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string environ = read_file(e.path() / "environ");
    if (environ.find("DISTTGL_RANK=" + std::to_string(rank) + '\0') != std::string::npos &&
        environ.find(dir.string()) != std::string::npos) {
      return std::stoi(name);
    }
  }
  return -1;
}

// The distributed checkpoint: after epoch 1 (model, optimizer and both memory groups'
// node memory in last.pt) rank 1 is killed; `launch --resume` starts attempt 1 from it and
// finishes the remaining epochs.
TEST(Launch, ResumeAfterAKilledRankContinuesFromTheLastCheckpointAndFinishes) {
  const auto dir = temp_dir("resume");
  const auto log = temp_dir("resume.log");
  const std::string train =
      " --data " + kCollegeMsg + " --epochs 3 --max-train-batches 40 --threads 1 --device cpu";
  const pid_t pid =
      start_launch("--grace 5 --layout i=1,j=2,k=2 --output " + dir.string() + train, log);
  const auto deadline = std::chrono::steady_clock::now() + 240s;
  while (metrics_lines(dir).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(metrics_lines(dir).size(), 1u) << read_file(log);
  const pid_t victim = find_rank(1, dir);
  ASSERT_GT(victim, 0);
  ::kill(victim, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_EQ(processes_mentioning(dir.string()), 0);
  const std::string out = read_file(log);
  EXPECT_NE(out.find("launch --resume " + dir.string()), std::string::npos) << out;
  const std::size_t done = metrics_lines(dir).size();  // 1, or 2 if epoch 2 beat the kill
  ASSERT_TRUE(done == 1 || done == 2) << done;
  EXPECT_FALSE(fs::exists(dir / "summary.json"));

  const auto [code, resumed] = launch("--resume " + dir.string() + train);
  ASSERT_EQ(code, 0) << resumed;
  EXPECT_NE(resumed.find("resuming " + dir.string() + " after epoch " + std::to_string(done)),
            std::string::npos)
      << resumed;
  const auto lines = metrics_lines(dir);
  ASSERT_EQ(lines.size(), 3u);
  for (std::size_t e = 0; e < 3; ++e) EXPECT_EQ(lines[e]["epoch"].get<int>(), e + 1);
  const auto summary = nlohmann::json::parse(read_file(dir / "summary.json"));
  EXPECT_EQ(summary["epochs"].get<int>(), 3);
  EXPECT_GT(summary["test"]["ap"].get<double>(), 0.6);
  const auto record = nlohmann::json::parse(read_file(dir / "launch.json"));
  EXPECT_EQ(record["attempt"].get<int>(), 1);
  EXPECT_EQ(record["layout"].get<std::string>(), "i=1,j=2,k=2");
  // Nothing left to train: the resume re-evaluates the best epoch and rewrites the summary.
  const auto [again, again_out] = launch("--resume " + dir.string() + train);
  ASSERT_EQ(again, 0) << again_out;
  EXPECT_EQ(metrics_lines(dir).size(), 3u);
  EXPECT_TRUE(fs::exists(dir / "summary.json"));
  // One process cannot continue it.
  const auto [single, single_out] = run("train --resume " + dir.string() + train);
  EXPECT_EQ(single, 2) << single_out;
  EXPECT_NE(single_out.find("is a distributed run (layout i=1,j=2,k=2); continue it with "
                            "`disttgl-trainer launch --resume"),
            std::string::npos)
      << single_out;
  // Another layout's run refuses to resume it.
  const auto [bad, why] = launch("--resume " + dir.string() + " --layout i=1,j=1,k=2" + train);
  EXPECT_EQ(bad, 2) << why;
  EXPECT_NE(why.find("--layout: i=1,j=1,k=2 differs from the run's i=1,j=2,k=2"), std::string::npos)
      << why;
  EXPECT_EQ(processes_mentioning(dir.string()), 0);
  fs::remove_all(dir);
  fs::remove(log);
}

}  // namespace

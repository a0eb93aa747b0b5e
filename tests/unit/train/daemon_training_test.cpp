// Training through a separate disttgl-memory-daemon process: bit-identical to the in-process
// memory (TCP and Unix socket, pipeline depth 0 and 1), and the failure contract (a daemon
// killed mid-training ends the trainer within its timeout; a trainer killed mid-epoch leaves
// the daemon serving the next one).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../../support/daemon_harness.hpp"
#include "../../support/trainer_cli.hpp"

namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using disttgl::memory_daemon::test::DaemonProcess;
using Clock = std::chrono::steady_clock;

const std::string kCollegeMsg =
    std::string(DISTTGL_SHARED_DIR) + "/datasets/collegemsg/CollegeMsg.txt";

using disttgl::test::read_text;

fs::path temp_dir(const std::string& name) {
  return disttgl::test::temp_path("daemon_train", name);
}

std::pair<int, std::string> run(const std::string& args) {
  return disttgl::test::run_trainer(args, "daemon_train");
}

// One epoch of TGN on CollegeMsg (TGL's defaults: batch 600), as CLI arguments.
std::string train_args(const fs::path& out, int epochs = 1) {
  return "train --data " + kCollegeMsg + " --config " + DISTTGL_SOURCE_DIR +
         "/configs/tgn.yaml --output " + out.string() + " --epochs " + std::to_string(epochs) +
         " --seed 0 --threads 2 --device cpu";  // bit-identity holds on the CPU
}

struct RunResult {
  std::vector<double> losses;  // per epoch, from metrics.jsonl
  double val_ap = 0, test_ap = 0, test_mrr = 0;
};

RunResult results(const fs::path& run) {
  RunResult r;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = json::parse(line);
    r.losses.push_back(j["loss"].get<double>());
    r.val_ap = j["val"]["ap"].get<double>();
  }
  std::ifstream s(run / "summary.json");
  const auto summary = json::parse(s);
  r.test_ap = summary["test"]["ap"].get<double>();
  r.test_mrr = summary["test"]["mrr"].get<double>();
  return r;
}

// pid of a trainer started in the background with its output in `log`.
pid_t spawn_trainer(const std::string& args, const fs::path& log) {
  std::vector<std::string> argv_s = {DISTTGL_TRAINER_BIN};
  std::istringstream words(args);
  for (std::string w; words >> w;) argv_s.push_back(w);
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits until the trainer's log shows `text` (up to `seconds`).
bool wait_for_log(const fs::path& log, const std::string& text, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    if (read_text(log).find(text) != std::string::npos) return true;
    ::usleep(100 * 1000);
  }
  return false;
}

TEST(DaemonTraining, BitIdenticalToInProcessMemoryOverTcpAndUnixAtDepthZeroAndOne) {
  const auto reference_dir = temp_dir("local");
  const auto [code, out] = run(train_args(reference_dir) + " --pipeline-depth 0");
  ASSERT_EQ(code, 0) << out;
  const RunResult reference = results(reference_dir);
  ASSERT_EQ(reference.losses.size(), 1U);
  EXPECT_GT(reference.test_ap, 0.70);

  const auto local1 = temp_dir("local1");
  const auto [code1, out1] = run(train_args(local1) + " --pipeline-depth 1");
  ASSERT_EQ(code1, 0) << out1;
  const RunResult l1 = results(local1);
  EXPECT_EQ(l1.losses, reference.losses) << "in-process, depth 1";
  EXPECT_EQ(l1.test_ap, reference.test_ap) << "in-process, depth 1";

  DaemonProcess daemon(std::vector<std::string>{});
  for (const std::string& address : {daemon.tcp_address(), daemon.unix_address()}) {
    for (const int depth : {0, 1}) {
      const std::string what = address + " depth " + std::to_string(depth);
      const auto dir = temp_dir("daemon");
      const auto [dcode, dout] = run(train_args(dir) + " --memory-daemon " + address +
                                     " --pipeline-depth " + std::to_string(depth));
      ASSERT_EQ(dcode, 0) << what << "\n" << dout;
      EXPECT_NE(dout.find("node memory in daemon " + address), std::string::npos) << dout;
      const RunResult r = results(dir);
      EXPECT_EQ(r.losses, reference.losses) << what;
      EXPECT_EQ(r.val_ap, reference.val_ap) << what;
      EXPECT_EQ(r.test_ap, reference.test_ap) << what;
      EXPECT_EQ(r.test_mrr, reference.test_mrr) << what;
      fs::remove_all(dir);
    }
  }
  fs::remove_all(reference_dir);
  fs::remove_all(local1);
}

// APAN as configs/apan.yaml ships it (memory.deliver_to: neighbors): the delivery targets'
// rows travel in each batch's one read and their mails in its one write, so the daemon gives
// the in-process run bit for bit, at pipeline depth 0 and 1.
TEST(DaemonTraining, ApanMailDeliveryBitIdenticalToInProcessMemory) {
  const auto args = [](const fs::path& out, const std::string& extra) {
    return "train --data " + kCollegeMsg + " --config " + DISTTGL_SOURCE_DIR +
           "/configs/apan.yaml --output " + out.string() +
           " --epochs 1 --max-train-batches 30 --seed 0 --threads 2 --device cpu " + extra;
  };
  const auto reference_dir = temp_dir("apan_local");
  const auto [code, out] = run(args(reference_dir, "--pipeline-depth 0"));
  ASSERT_EQ(code, 0) << out;
  const RunResult reference = results(reference_dir);
  DaemonProcess daemon(std::vector<std::string>{});
  for (const auto& [address, depth] : std::vector<std::pair<std::string, int>>{
           {daemon.unix_address(), 1}, {daemon.tcp_address(), 0}}) {
    const std::string what = address + " depth " + std::to_string(depth);
    const auto dir = temp_dir("apan_daemon");
    const auto [dcode, dout] =
        run(args(dir, "--memory-daemon " + address + " --pipeline-depth " + std::to_string(depth)));
    ASSERT_EQ(dcode, 0) << what << "\n" << dout;
    const RunResult r = results(dir);
    EXPECT_EQ(r.losses, reference.losses) << what;
    EXPECT_EQ(r.val_ap, reference.val_ap) << what;
    EXPECT_EQ(r.test_ap, reference.test_ap) << what;
    fs::remove_all(dir);
  }
  fs::remove_all(reference_dir);
}

TEST(DaemonTraining, ADaemonKilledMidTrainingEndsTheTrainerWithinItsTimeout) {
  DaemonProcess daemon(std::vector<std::string>{});
  const auto dir = temp_dir("killed_daemon");
  const auto log = temp_dir("killed_daemon.log");
  const pid_t trainer = spawn_trainer(train_args(dir, 3) + " --memory-timeout 5 " +
                                          "--memory-daemon " + daemon.tcp_address(),
                                      log);
  ASSERT_TRUE(wait_for_log(log, "node memory in daemon", 60)) << read_text(log);
  ::usleep(1000 * 1000);  // well inside the first epoch
  daemon.stop(SIGKILL);
  const auto t0 = Clock::now();
  int status = 0;
  ASSERT_EQ(::waitpid(trainer, &status, 0), trainer);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(6)) << "the trainer outlived its timeout";
  const std::string text = read_text(log);
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_EQ(WEXITSTATUS(status), 74) << text;
  EXPECT_NE(text.find("memory daemon " + daemon.tcp_address()), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(dir)) << "a failed run must leave no output";
  fs::remove(log);
}

TEST(DaemonTraining, ATrainerKilledMidEpochLeavesTheDaemonServingTheNext) {
  DaemonProcess daemon(std::vector<std::string>{});
  const auto dir = temp_dir("killed_trainer");
  const auto log = temp_dir("killed_trainer.log");
  const pid_t first = spawn_trainer(train_args(dir) + " --memory-daemon " + daemon.tcp_address(),
                                    log);
  ASSERT_TRUE(wait_for_log(log, "node memory in daemon", 60)) << read_text(log);
  ::usleep(1000 * 1000);
  ::kill(first, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(first, &status, 0), first);
  fs::remove_all(dir.string() + ".tmp-" + std::to_string(first));
  // The next trainer resets the memory and trains exactly as on a fresh daemon.
  const auto [code, out] = run(train_args(dir) + " --memory-daemon " + daemon.unix_address());
  ASSERT_EQ(code, 0) << out << "\ndaemon log:\n" << daemon.log();
  const auto reference_dir = temp_dir("killed_trainer_ref");
  const auto [rcode, rout] = run(train_args(reference_dir));
  ASSERT_EQ(rcode, 0) << rout;
  EXPECT_EQ(results(dir).test_ap, results(reference_dir).test_ap);
  fs::remove_all(dir);
  fs::remove_all(reference_dir);
  fs::remove(log);
}

}  // namespace

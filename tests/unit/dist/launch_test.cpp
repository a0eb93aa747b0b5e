// `disttgl-trainer launch` as a user runs it: real daemon and trainer processes on loopback
// and Unix sockets. World size 1 completes (the disttgl #2 hang), memory parallelism k = 2
// trains and rank 0 writes the run, and a killed rank ends the whole launch non-zero within
// the grace period with no process left behind.
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
#include <thread>

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

std::pair<int, std::string> launch(const std::string& args) {
  const auto log = temp_dir("log");
  const std::string cmd = std::string(DISTTGL_TRAINER_BIN) + " launch " + args + " > " +
                          log.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  const std::string out = read_file(log);
  fs::remove(log);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

const std::string kQuick = " --data " + kCollegeMsg +
                           " --epochs 1 --max-train-batches 5 --threads 1 --device cpu";

TEST(Launch, WorldSizeOneCompletes) {
  const auto dir = temp_dir("w1");
  const auto [code, out] = launch("--layout i=1,j=1,k=1 --output " + dir.string() + kQuick);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("launch: every rank finished"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir / "summary.json"));
  EXPECT_EQ(processes_mentioning(dir.string()), 0);
  fs::remove_all(dir);
}

TEST(Launch, MemoryParallelismTwoGroupsTrainsAndRankZeroWritesTheRun) {
  const auto dir = temp_dir("k2");
  const auto [code, out] = launch("--layout i=1,j=1,k=2 --output " + dir.string() + kQuick);
  ASSERT_EQ(code, 0) << out;
  for (const char* label : {"[rank 0] ", "[rank 1] ", "[daemon 0] ", "[daemon 1] "}) {
    EXPECT_NE(out.find(label), std::string::npos) << label << "\n" << out;
  }
  EXPECT_NE(out.find("[rank 1] rank 1 of 2: done"), std::string::npos) << out;
  const auto summary = nlohmann::json::parse(read_file(dir / "summary.json"));
  EXPECT_GT(summary["test"]["ap"].get<double>(), 0.5);
  EXPECT_EQ(processes_mentioning(dir.string()), 0);
  fs::remove_all(dir);
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
  EXPECT_FALSE(fs::exists(dir));  // rank 0 removed its unfinished run
  fs::remove(log);
}

}  // namespace

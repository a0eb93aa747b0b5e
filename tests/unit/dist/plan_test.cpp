// The layout advisor: its rules on synthetic sizes, and `plan --json` on the four shared
// datasets for (machines, GPUs) in {(1,1), (1,8), (4,8)}: every answer is a valid layout.
#include "disttgl/trainer/dist/plan.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer {
namespace {

PlanInput sizes(std::int64_t events, std::int32_t machines, std::int32_t gpus) {
  PlanInput in;
  in.train_events = events;
  in.num_nodes = 10000;
  in.machines = machines;
  in.gpus_per_machine = gpus;
  return in;
}

TEST(Plan, OneGpuIsTheSequentialLayout) {
  const auto p = plan_layout(sizes(100000, 1, 1));
  EXPECT_EQ(p.layout, (ParallelLayout{1, 1, 1}));
  EXPECT_DOUBLE_EQ(p.lr, 1e-4);
  EXPECT_EQ(p.epochs, 100);
}

TEST(Plan, BigDataUsesEveryMachineAndCapsTheEffectiveBatch) {
  // 10M events: plenty of batches; 8 GPUs -> i = 4 (2,400 events), j = 2; k = 4 machines.
  const auto p = plan_layout(sizes(10'000'000, 4, 8));
  EXPECT_EQ(p.layout, (ParallelLayout{4, 2, 4}));
  EXPECT_DOUBLE_EQ(p.lr, 1e-4 * 32);
  EXPECT_EQ(p.epochs, 13);  // ceil(100 / 8)
  EXPECT_LE(p.layout.i * 600, kMaxEffectiveBatch);
}

TEST(Plan, ShortEpochsUseFewerMemoryGroupsAndNoShards) {
  // 60k events = 100 batches: k = 2 keeps 50 per group; i = 1 keeps them; j takes 8 GPUs.
  const auto p = plan_layout(sizes(60000, 4, 8));
  EXPECT_EQ(p.layout, (ParallelLayout{1, 8, 2}));
  EXPECT_NE(p.reasons[0].find("k = 2 of 4 machines"), std::string::npos) << p.reasons[0];
}

TEST(Plan, BadInputNamesTheField) {
  auto in = sizes(1000, 0, 8);
  try {
    plan_layout(in);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "--machines: must be >= 1, got 0");
  }
}

TEST(PlanCli, SharedDatasetsGetValidLayoutsForEveryClusterShape) {
  const std::string shared = DISTTGL_SHARED_DIR;
  for (const std::string data :
       {"/datasets/wikipedia/wikipedia.csv", "/datasets/collegemsg/CollegeMsg.txt",
        "/datasets/enron/ml_enron.csv", "/datasets/canparl/ml_CanParl.csv"}) {
    for (const auto& [m, g] : {std::pair{1, 1}, std::pair{1, 8}, std::pair{4, 8}}) {
      const std::string cmd = std::string(DISTTGL_TRAINER_BIN) + " --log-level warn plan --data " +
                              shared + data + " --machines " + std::to_string(m) +
                              " --gpus-per-machine " + std::to_string(g) + " --json";
      FILE* f = ::popen(cmd.c_str(), "r");
      ASSERT_NE(f, nullptr);
      std::string out;
      char buf[4096];
      while (std::fgets(buf, sizeof buf, f) != nullptr) out += buf;
      ASSERT_EQ(WEXITSTATUS(::pclose(f)), 0) << cmd << "\n" << out;
      const auto j = nlohmann::json::parse(out.substr(out.rfind('{')));
      const int i = j["i"], jj = j["j"], k = j["k"];
      EXPECT_GE(i, 1);
      EXPECT_GE(jj, 1);
      EXPECT_GE(k, 1);
      EXPECT_LE(i * jj, g) << data;  // i*j within a machine
      EXPECT_LE(k, m) << data;       // memory groups across machines
      EXPECT_EQ(j["world_size"].get<int>(), i * jj * k);
      EXPECT_EQ(parse_layout(j["layout"].get<std::string>(), "layout"),
                (ParallelLayout{i, jj, k}));
      EXPECT_FALSE(j["reasons"].empty());
    }
  }
}

}  // namespace
}  // namespace disttgl::trainer

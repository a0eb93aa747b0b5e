// The DISTTGL_* launch contract: parsing, defaults and the error for each variable.
#include "disttgl/trainer/dist/launch_contract.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer {
namespace {

using Env = std::map<std::string, std::string>;

LaunchContract read(const Env& env) {
  return read_launch_contract([&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

std::string error_of(const Env& env) {
  try {
    read(env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const Env kFull = {{"DISTTGL_JOB", "wiki"},          {"DISTTGL_RANK", "5"},
                   {"DISTTGL_WORLD_SIZE", "8"},      {"DISTTGL_LAYOUT", "i=2,j=2,k=2"},
                   {"DISTTGL_MASTER_ADDR", "10.0.0.7"}, {"DISTTGL_MASTER_PORT", "29600"},
                   {"DISTTGL_MEMORY_DAEMON", "unix:/run/g1.sock"},
                   {"DISTTGL_ATTEMPT", "3"},         {"DISTTGL_RUN_DIR", "/ckpt/wiki"}};

TEST(LaunchContract, NothingSetIsTheSingleProcessRun) {
  const auto c = read({});
  EXPECT_FALSE(c.distributed());
  EXPECT_EQ(c.world_size, 1);
  EXPECT_EQ(c.rank, 0);
  EXPECT_EQ(c.layout, (ParallelLayout{1, 1, 1}));
  EXPECT_EQ(c.store_prefix(), "disttgl/attempt-0");
}

TEST(LaunchContract, ReadsEveryVariable) {
  const auto c = read(kFull);
  EXPECT_TRUE(c.distributed());
  EXPECT_EQ(c.job, "wiki");
  EXPECT_EQ(c.rank, 5);
  EXPECT_EQ(c.layout, (ParallelLayout{2, 2, 2}));
  EXPECT_EQ(c.place(), (RankPlace{1, 0, 1}));  // 5 = 1*(2*2) + 0*2 + 1
  EXPECT_EQ(c.master_addr, "10.0.0.7");
  EXPECT_EQ(c.master_port, 29600);
  EXPECT_EQ(c.memory_daemon, "unix:/run/g1.sock");
  EXPECT_EQ(c.attempt, 3);
  EXPECT_EQ(c.run_dir, "/ckpt/wiki");
  EXPECT_EQ(c.store_prefix(), "wiki/attempt-3");
  EXPECT_EQ(c.local_addr, "");  // optional: the host name's address
  auto env = kFull;
  env["DISTTGL_LOCAL_ADDR"] = "10.0.0.9";
  EXPECT_EQ(read(env).local_addr, "10.0.0.9");
}

TEST(LaunchContract, EachBadVariableIsNamed) {
  auto env = kFull;
  env["DISTTGL_RANK"] = "3x";
  EXPECT_EQ(error_of(env), "DISTTGL_RANK: '3x' is not a whole number in [0, 4095]");
  env = kFull;
  env["DISTTGL_RANK"] = "8";
  EXPECT_EQ(error_of(env), "DISTTGL_RANK: 8 is outside [0, 8) (DISTTGL_WORLD_SIZE)");
  env = kFull;
  env["DISTTGL_WORLD_SIZE"] = "6";
  EXPECT_EQ(error_of(env),
            "DISTTGL_WORLD_SIZE: layout i=2,j=2,k=2 needs a world size of 8 (i*j*k), got 6");
  env = kFull;
  env["DISTTGL_LAYOUT"] = "i=2,j=0,k=2";
  EXPECT_EQ(error_of(env), "DISTTGL_LAYOUT: j must be a whole number in [1, 4096], got '0'");
  env = kFull;
  env.erase("DISTTGL_LAYOUT");
  EXPECT_EQ(error_of(env),
            "DISTTGL_LAYOUT: required when DISTTGL_WORLD_SIZE is 8 (e.g. i=8,j=1,k=1)");
  env = kFull;
  env["DISTTGL_MASTER_PORT"] = "70000";
  EXPECT_EQ(error_of(env), "DISTTGL_MASTER_PORT: '70000' is not a whole number in [1, 65535]");
  env = kFull;
  env.erase("DISTTGL_MEMORY_DAEMON");
  EXPECT_NE(error_of(env).find("DISTTGL_MEMORY_DAEMON: required for a distributed run"),
            std::string::npos);
  env = kFull;
  env["DISTTGL_ATTEMPT"] = "-1";
  EXPECT_EQ(error_of(env).rfind("DISTTGL_ATTEMPT: '-1' is not a whole number", 0), 0u);
  env = kFull;
  env["DISTTGL_JOB"] = "";
  EXPECT_EQ(error_of(env), "DISTTGL_JOB: empty");
  env = kFull;
  env["DISTTGL_LOCAL_ADDR"] = "";
  EXPECT_EQ(error_of(env), "DISTTGL_LOCAL_ADDR: empty (unset it for the default)");
}

TEST(LaunchContract, DistTglScalesLrByTheWorldAndEpochsByJTimesK) {
  auto s = scale_for_layout(1e-4, 100, {2, 2, 2});
  EXPECT_DOUBLE_EQ(s.lr, 8e-4);
  EXPECT_EQ(s.epochs, 25);  // ceil(100 / 4)
  s = scale_for_layout(1e-4, 10, {4, 1, 3});
  EXPECT_DOUBLE_EQ(s.lr, 1.2e-3);
  EXPECT_EQ(s.epochs, 4);  // ceil(10 / 3)
  s = scale_for_layout(1e-4, 10, {1, 1, 1});
  EXPECT_DOUBLE_EQ(s.lr, 1e-4);
  EXPECT_EQ(s.epochs, 10);
}

}  // namespace
}  // namespace disttgl::trainer

// LocalMemoryStore: the conformance suite on CPU and CUDA, plus the store's own contract
// (option and checkpoint errors, last_occurrence, CUDA kernels against the CPU path).
#include "disttgl/trainer/memory/local_memory_store.hpp"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>

#include "disttgl/common/error.hpp"
#include "memory_store_conformance.hpp"

namespace disttgl::trainer::testing {
namespace {

std::unique_ptr<MemoryStore> make_local(torch::Device device, std::int64_t n, std::int64_t d,
                                        std::int64_t slots) {
  return std::make_unique<LocalMemoryStore>(LocalMemoryStoreOptions{n, d, 2 * d, slots, device});
}

INSTANTIATE_TEST_SUITE_P(
    Local, MemoryStoreConformance,
    ::testing::Values(StoreFactory{"cpu",
                                   [](std::int64_t n, std::int64_t d, std::int64_t s) {
                                     return make_local(torch::kCPU, n, d, s);
                                   }},
                      StoreFactory{"cuda",
                                   [](std::int64_t n, std::int64_t d, std::int64_t s) {
                                     return make_local(torch::Device(torch::kCUDA, 0), n, d, s);
                                   },
                                   [] { return torch::cuda::is_available(); }}),
    [](const ::testing::TestParamInfo<StoreFactory>& param_info) { return param_info.param.name; });

TEST(LastOccurrence, KeepsTheLastPositionOfEachNodeInPositionOrder) {
  EXPECT_TRUE(torch::equal(last_occurrence(i64({3, 1, 3, 2, 1})), i64({2, 3, 4})));
  EXPECT_TRUE(torch::equal(last_occurrence(i64({5, 5, 5})), i64({2})));
  EXPECT_TRUE(torch::equal(last_occurrence(i64({0, 1, 2})), i64({0, 1, 2})));
  EXPECT_EQ(last_occurrence(i64({})).numel(), 0);
  EXPECT_THROW(last_occurrence(torch::tensor({1, 2}, torch::kInt)), InternalError);
}

TEST(LastOccurrence, MatchesBruteForceOnManyDuplicates) {
  torch::manual_seed(3);
  const torch::Tensor nodes = torch::randint(0, 50, {2000}, torch::kLong);
  std::map<std::int64_t, std::int64_t> last;
  for (std::int64_t i = 0; i < nodes.size(0); ++i) last[nodes[i].item<std::int64_t>()] = i;
  std::vector<std::int64_t> expected;
  for (const auto& [node, pos] : last) expected.push_back(pos);
  std::sort(expected.begin(), expected.end());
  EXPECT_TRUE(torch::equal(last_occurrence(nodes), i64(expected)));
}

TEST(LocalMemoryStore, RejectsBadOptions) {
  try {
    LocalMemoryStore store(LocalMemoryStoreOptions{10, 4, 8, 0, torch::kCPU});
    FAIL() << "mailbox_size 0 accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "memory store: mailbox_size must be >= 1, got 0");
  }
  EXPECT_THROW(LocalMemoryStore(LocalMemoryStoreOptions{0, 4, 8, 1, torch::kCPU}), ConfigError);
  EXPECT_THROW(LocalMemoryStore(LocalMemoryStoreOptions{5, 0, 8, 1, torch::kCPU}), ConfigError);
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(
        LocalMemoryStore(LocalMemoryStoreOptions{5, 4, 8, 1, torch::Device(torch::kCUDA, 0)}),
        ConfigError);
  }
}

TEST(LocalMemoryStore, LoadRejectsAMismatchedCheckpointWithoutChangingState) {
  LocalMemoryStore small(LocalMemoryStoreOptions{4, 2, 4, 1, torch::kCPU});
  small.write(i64({0}), encoded_rows(1, 2, 4, 3.0));
  torch::serialize::OutputArchive out;
  small.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);

  LocalMemoryStore wide(LocalMemoryStoreOptions{4, 3, 6, 1, torch::kCPU});
  wide.write(i64({2}), encoded_rows(1, 3, 6, 1.0));
  std::istringstream in_bytes(bytes.str());
  torch::serialize::InputArchive in;
  in.load_from(in_bytes);
  try {
    wide.load(in);
    FAIL() << "mismatched checkpoint accepted";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "memory checkpoint: tensor 'memory' is Float [4, 2], expected Float [4, 3]");
  }
  EXPECT_EQ(wide.read(i64({2})).memory[0][0].item<float>(), 1.0f);

  torch::serialize::OutputArchive partial;
  partial.write("memory", torch::zeros({4, 3}));
  std::ostringstream partial_bytes;
  partial.save_to(partial_bytes);
  std::istringstream partial_in_bytes(partial_bytes.str());
  torch::serialize::InputArchive partial_in;
  partial_in.load_from(partial_in_bytes);
  try {
    wide.load(partial_in);
    FAIL() << "incomplete checkpoint accepted";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "memory checkpoint: missing tensor 'memory_ts'");
  }
  EXPECT_EQ(wide.read(i64({2})).memory[0][0].item<float>(), 1.0f);
}

TEST(LocalMemoryStore, ReadReturnsCopiesNotViews) {
  LocalMemoryStore store(LocalMemoryStoreOptions{3, 2, 4, 1, torch::kCPU});
  MemoryRows r = store.read(i64({1}));
  r.memory.fill_(9.0f);
  EXPECT_EQ(store.read(i64({1})).memory[0][0].item<float>(), 0.0f);
}

TEST(LocalMemoryStore, WriteIgnoresAutogradHistory) {
  LocalMemoryStore store(LocalMemoryStoreOptions{3, 2, 4, 1, torch::kCPU});
  const torch::Tensor param = torch::ones({1, 2}, torch::requires_grad());
  MemoryRows w = encoded_rows(1, 2, 4);
  w.memory = param * 2.0;
  store.write(i64({0}), w);
  EXPECT_FALSE(store.read(i64({0})).memory.requires_grad());
  EXPECT_EQ(store.read(i64({0})).memory[0][1].item<float>(), 2.0f);
}

TEST(LocalMemoryStoreCuda, KernelPathMatchesCpuPath) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_TRUE(LocalMemoryStore::has_cuda_kernels());
  const torch::Device gpu(torch::kCUDA, 0);
  torch::manual_seed(11);
  for (const std::int64_t slots : {1, 10}) {
    SCOPED_TRACE(slots);
    LocalMemoryStore cpu_store(LocalMemoryStoreOptions{64, 8, 16, slots, torch::kCPU});
    LocalMemoryStore gpu_store(LocalMemoryStoreOptions{64, 8, 16, slots, gpu});
    for (int step = 0; step < 25; ++step) {
      const torch::Tensor nodes = torch::randint(0, 64, {300}, torch::kLong);  // many repeats
      MemoryRows w = encoded_rows(300, 8, 16, static_cast<double>(step));
      w.memory = torch::randn({300, 8});
      w.mail = torch::randn({300, 1, 16});
      w.mail_eid = torch::randint(0, 1000, {300, 1}, torch::kLong);
      cpu_store.write(nodes, w);
      gpu_store.write(nodes.to(gpu), w.to(gpu));
    }
    const torch::Tensor all = torch::arange(64, torch::kLong);
    const MemoryRows a = cpu_store.read(all);
    const MemoryRows b = gpu_store.read(all).to(torch::kCPU);
    EXPECT_TRUE(torch::equal(a.memory, b.memory));
    EXPECT_TRUE(torch::equal(a.memory_ts, b.memory_ts));
    EXPECT_TRUE(torch::equal(a.mail, b.mail));
    EXPECT_TRUE(torch::equal(a.mail_ts, b.mail_ts));
    EXPECT_TRUE(torch::equal(a.mail_eid, b.mail_eid));
  }
}

}  // namespace
}  // namespace disttgl::trainer::testing

// Uniform sampling: draws stay in the eligible window, with replacement when the window is
// large enough, all of it otherwise; reproducible per seed, different across seeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <utility>

#include "disttgl/trainer/sampler/sampler.hpp"
#include "sampler_test_util.hpp"

namespace disttgl::trainer {
namespace {

struct Roots {
  std::vector<NodeId> nodes;
  std::vector<Timestamp> times;
};

Roots random_roots(std::int64_t num_nodes, int count, int max_time, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<NodeId> node(0, num_nodes - 1);
  std::uniform_int_distribution<int> half_steps(0, 2 * max_time + 2);
  Roots r;
  for (int i = 0; i < count; ++i) {
    r.nodes.push_back(node(rng));
    r.times.push_back(0.5 * half_steps(rng));
  }
  return r;
}

SamplerOptions uniform(std::vector<int> fanouts, std::uint64_t seed) {
  return {.fanouts = std::move(fanouts), .strategy = SamplingStrategy::kUniform, .seed = seed};
}

TEST(UniformSamplerTest, DrawsComeFromTheEligibleWindow) {
  const Dataset d = testing::random_dataset(20, 600, 6, 7);
  const TCSR g = TCSR::build(d);
  TemporalSampler sampler(g, uniform({5}, 99));
  const Roots r = random_roots(20, 400, 6, 8);
  const std::vector<TemporalBlock> b = sampler.sample(r.nodes, r.times);
  testing::expect_block_consistent(d, b[0]);

  std::vector<std::int64_t> per_root(r.nodes.size(), 0);
  for (std::int64_t e = 0; e < b[0].num_edges(); ++e) ++per_root[b[0].row[e]];
  std::int64_t full_windows = 0;
  for (std::size_t i = 0; i < r.nodes.size(); ++i) {
    const std::vector<testing::Entry> window =
        testing::brute_force_window(d, r.nodes[i], r.times[i]);
    const auto w = static_cast<std::int64_t>(window.size());
    EXPECT_EQ(per_root[i], std::min<std::int64_t>(w, 5)) << "root " << i;
    full_windows += w >= 5 ? 1 : 0;
    std::set<std::pair<EdgeId, NodeId>> allowed;
    for (const testing::Entry& x : window) allowed.insert({x.eid, x.nbr});
    for (std::int64_t e = 0; e < b[0].num_edges(); ++e) {
      if (b[0].row[e] != static_cast<std::int64_t>(i)) continue;
      EXPECT_TRUE(allowed.count({b[0].eid[e], b[0].nodes[b[0].col[e]]})) << "root " << i;
      // Most recent first within a root.
      if (e > 0 && b[0].row[e - 1] == b[0].row[e]) {
        EXPECT_LE(b[0].eid[e], b[0].eid[e - 1]);
      }
    }
  }
  EXPECT_GT(full_windows, 100);  // the draw path is exercised, not just "take all"
}

TEST(UniformSamplerTest, SmallWindowsAreTakenWhole) {
  // Window of 3 < fanout 10: all three, most recent first, like kRecent.
  const Dataset d = testing::make_dataset({0, 0, 0}, {1, 2, 3}, {1, 2, 3});
  const TCSR g = TCSR::build(d);
  TemporalSampler sampler(g, uniform({10}, 5));
  const std::vector<NodeId> nodes = {0};
  const std::vector<Timestamp> times = {4.0};
  EXPECT_EQ(sampler.sample(nodes, times)[0].eid, (std::vector<EdgeId>{2, 1, 0}));
}

TEST(UniformSamplerTest, DrawsAreWithReplacementWhenTheWindowIsFull) {
  // Windows of exactly `fanout` events: without replacement every root would get its whole
  // window; with replacement most roots repeat an event (P(no repeat) = 10!/10^10).
  std::vector<NodeId> src, dst;
  std::vector<Timestamp> ts;
  for (int e = 0; e < 10; ++e) {
    src.push_back(0);
    dst.push_back(1 + e);
    ts.push_back(e + 1);
  }
  const Dataset d = testing::make_dataset(src, dst, ts);
  const TCSR g = TCSR::build(d);
  TemporalSampler sampler(g, uniform({10}, 3));
  std::vector<NodeId> nodes;
  std::vector<Timestamp> times;
  for (int i = 0; i < 50; ++i) {
    nodes.push_back(0);
    times.push_back(11.0 + i);  // distinct times => independent draws
  }
  const TemporalBlock b = sampler.sample(nodes, times)[0];
  ASSERT_EQ(b.num_edges(), 500);
  int roots_with_repeat = 0;
  for (std::ptrdiff_t i = 0; i < 50; ++i) {
    std::set<EdgeId> distinct(b.eid.begin() + 10 * i, b.eid.begin() + 10 * (i + 1));
    roots_with_repeat += distinct.size() < 10 ? 1 : 0;
  }
  EXPECT_EQ(roots_with_repeat, 50);
}

TEST(UniformSamplerTest, SameSeedReproducesAndOtherSeedsDiffer) {
  const Dataset d = testing::random_dataset(10, 2000, 50, 21);
  const TCSR g = TCSR::build(d);
  const Roots r = random_roots(10, 200, 50, 22);
  TemporalSampler a(g, uniform({10, 10}, 1234));
  TemporalSampler b(g, uniform({10, 10}, 1234));
  TemporalSampler c(g, uniform({10, 10}, 1235));
  const std::vector<TemporalBlock> ba = a.sample(r.nodes, r.times);
  testing::expect_blocks_equal(b.sample(r.nodes, r.times), ba);
  testing::expect_blocks_equal(a.sample(r.nodes, r.times), ba);  // and across calls
  const std::vector<TemporalBlock> bc = c.sample(r.nodes, r.times);
  ASSERT_EQ(bc[0].num_edges(), ba[0].num_edges());  // same windows, so same counts
  EXPECT_NE(bc[0].eid, ba[0].eid);
  EXPECT_NE(bc[1].eid, ba[1].eid);
}

// Training passes the epoch as the stream: each epoch redraws; evaluation (stream 0) is
// fixed by the seed; neither depends on the thread count.
TEST(UniformSamplerTest, StreamsRedrawPerEpochAndStayThreadCountIndependent) {
  const Dataset d = testing::random_dataset(10, 2000, 50, 41);
  const TCSR g = TCSR::build(d);
  const Roots r = random_roots(10, 200, 50, 42);
  SamplerOptions one = uniform({10, 10}, 7);
  SamplerOptions two = one;
  two.num_threads = 2;
  TemporalSampler a(g, one);
  TemporalSampler b(g, two);
  const std::vector<TemporalBlock> eval = a.sample(r.nodes, r.times);
  testing::expect_blocks_equal(a.sample(r.nodes, r.times, 0), eval);  // 0 is the default
  testing::expect_blocks_equal(b.sample(r.nodes, r.times, 0), eval);
  const std::vector<TemporalBlock> epoch1 = a.sample(r.nodes, r.times, 1);
  const std::vector<TemporalBlock> epoch2 = a.sample(r.nodes, r.times, 2);
  testing::expect_blocks_equal(b.sample(r.nodes, r.times, 1), epoch1);
  testing::expect_blocks_equal(b.sample(r.nodes, r.times, 2), epoch2);
  testing::expect_blocks_equal(a.sample(r.nodes, r.times, 1), epoch1);  // same epoch again
  ASSERT_EQ(epoch1[0].num_edges(), epoch2[0].num_edges());  // same windows
  EXPECT_NE(epoch1[0].eid, epoch2[0].eid);
  EXPECT_NE(epoch1[1].eid, epoch2[1].eid);
  EXPECT_NE(epoch1[0].eid, eval[0].eid);
  // The recent strategy has nothing to redraw.
  SamplerOptions recent = one;
  recent.strategy = SamplingStrategy::kRecent;
  TemporalSampler c(g, recent);
  testing::expect_blocks_equal(c.sample(r.nodes, r.times, 5), c.sample(r.nodes, r.times, 0));
}

TEST(UniformSamplerTest, EqualRootsGetEqualSamples) {
  // A positive root and its negative-sampled twin at the same (node, time).
  const Dataset d = testing::random_dataset(5, 500, 40, 31);
  const TCSR g = TCSR::build(d);
  TemporalSampler sampler(g, uniform({8}, 77));
  const std::vector<NodeId> nodes = {3, 1, 3};
  const std::vector<Timestamp> times = {30.0, 30.0, 30.0};
  const TemporalBlock b = sampler.sample(nodes, times)[0];
  ASSERT_EQ(b.num_edges(), 24);
  EXPECT_TRUE(std::equal(b.eid.begin(), b.eid.begin() + 8, b.eid.begin() + 16));
  EXPECT_FALSE(std::equal(b.eid.begin(), b.eid.begin() + 8, b.eid.begin() + 8));
}

}  // namespace
}  // namespace disttgl::trainer

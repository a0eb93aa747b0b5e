// Most-recent sampling: exact agreement with brute force, the strict-earlier rule, the
// earliest event, equal-time batches, and hand-written 2-layer blocks.
#include <gtest/gtest.h>

#include <random>

#include "disttgl/trainer/sampler/sampler.hpp"
#include "sampler_test_util.hpp"

namespace disttgl::trainer {
namespace {

using testing::brute_force_recent;
using testing::expect_blocks_equal;
using testing::make_dataset;

std::vector<TemporalBlock> sample(const Dataset& d, std::vector<NodeId> nodes,
                                  std::vector<Timestamp> times, std::vector<int> fanouts,
                                  SamplingStrategy strategy = SamplingStrategy::kRecent) {
  const TCSR g = TCSR::build(d);
  TemporalSampler sampler(g, {.fanouts = std::move(fanouts), .strategy = strategy});
  return sampler.sample(nodes, times);
}

TEST(RecentSamplerTest, MatchesBruteForceOnGraphsWithManyEqualTimes) {
  for (std::uint64_t seed : {11, 12, 13, 14}) {
    for (const std::vector<int>& fanouts : {std::vector<int>{3}, std::vector<int>{4, 2}}) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " layers " + std::to_string(fanouts.size()));
      // 30 nodes, 400 events, times in {1..5}: windows cut through long runs of equal times.
      const Dataset d = testing::random_dataset(30, 400, 5, seed);
      const TCSR g = TCSR::build(d);
      TemporalSampler sampler(g, {.fanouts = fanouts});
      std::mt19937_64 rng(seed);
      std::uniform_int_distribution<NodeId> node(0, 29);
      std::uniform_int_distribution<int> half_steps(0, 12);  // times 0, 0.5, ..., 6
      std::vector<NodeId> nodes;
      std::vector<Timestamp> times;
      for (int i = 0; i < 300; ++i) {
        nodes.push_back(node(rng));
        times.push_back(0.5 * half_steps(rng));
      }
      const std::vector<TemporalBlock> blocks = sampler.sample(nodes, times);
      expect_blocks_equal(blocks, brute_force_recent(d, nodes, times, fanouts));
      for (const TemporalBlock& b : blocks) testing::expect_block_consistent(d, b);
      // Real content, not vacuous agreement on empty blocks.
      EXPECT_GT(blocks[0].num_edges(), 300);
    }
  }
}

TEST(RecentSamplerTest, EventsAtTheRootTimeAreExcluded) {
  // (u,v,3), (u,w,5), (u,v,5) with u=0, v=1, w=2: at t=5 only the t=3 event is earlier.
  const Dataset d = make_dataset({0, 0, 0}, {1, 2, 1}, {3, 5, 5});
  for (SamplingStrategy s : {SamplingStrategy::kRecent, SamplingStrategy::kUniform}) {
    const std::vector<TemporalBlock> b = sample(d, {0}, {5.0}, {10}, s);
    EXPECT_EQ(b[0].nodes, (std::vector<NodeId>{0, 1}));
    EXPECT_EQ(b[0].times, (std::vector<Timestamp>{5, 3}));
    EXPECT_EQ(b[0].eid, (std::vector<EdgeId>{0}));
    EXPECT_EQ(b[0].dt, (std::vector<Timestamp>{2}));
  }
}

TEST(RecentSamplerTest, EarliestEventIsSampleable) {
  // Node 0 has events at t=1, 2, 3 (TGL PR #15: TGL never returns the first one).
  const Dataset d = make_dataset({0, 0, 0}, {1, 2, 3}, {1, 2, 3});
  for (SamplingStrategy s : {SamplingStrategy::kRecent, SamplingStrategy::kUniform}) {
    const std::vector<TemporalBlock> b = sample(d, {0, 0, 0, 0}, {2.0, 1.5, 1.0, 3.5}, {10}, s);
    EXPECT_EQ(b[0].row, (std::vector<std::int64_t>{0, 1, 3, 3, 3}));
    EXPECT_EQ(b[0].eid, (std::vector<EdgeId>{0, 0, 2, 1, 0}));
    EXPECT_EQ(b[0].dt, (std::vector<Timestamp>{1.0, 0.5, 0.5, 1.5, 2.5}));
  }
}

TEST(RecentSamplerTest, EventsOfOneBatchSeeEachOtherOnlyLater) {
  // Batch {(A,B,1), (A,C,1)}: a root (A, 2) sees both, most recent (highest eid) first;
  // a root (A, 1) sees neither.
  const Dataset d = make_dataset({0, 0}, {1, 2}, {1, 1});
  const std::vector<TemporalBlock> b = sample(d, {0, 0}, {2.0, 1.0}, {10});
  EXPECT_EQ(b[0].nodes, (std::vector<NodeId>{0, 0, 2, 1}));
  EXPECT_EQ(b[0].row, (std::vector<std::int64_t>{0, 0}));
  EXPECT_EQ(b[0].eid, (std::vector<EdgeId>{1, 0}));
}

TEST(RecentSamplerTest, TwoLayersOnAChainMatchHandWrittenBlocks) {
  // e0 (0,1,1.5)  e1 (1,2,2.25)  e2 (2,3,3.0)  e3 (1,2,3.5); root (2, 3.5), fanouts [2, 1].
  const Dataset d = make_dataset({0, 1, 2, 1}, {1, 2, 3, 2}, {1.5, 2.25, 3.0, 3.5});
  const std::vector<TemporalBlock> b = sample(d, {2}, {3.5}, {2, 1});
  ASSERT_EQ(b.size(), 2u);
  // Layer 0: e3 ties the root time; e2 then e1.
  EXPECT_EQ(b[0].num_roots, 1);
  EXPECT_EQ(b[0].nodes, (std::vector<NodeId>{2, 3, 1}));
  EXPECT_EQ(b[0].times, (std::vector<Timestamp>{3.5, 3.0, 2.25}));
  EXPECT_EQ(b[0].row, (std::vector<std::int64_t>{0, 0}));
  EXPECT_EQ(b[0].col, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(b[0].eid, (std::vector<EdgeId>{2, 1}));
  EXPECT_EQ(b[0].dt, (std::vector<Timestamp>{0.5, 1.25}));
  // Layer 1, roots (2,3.5) (3,3.0) (1,2.25): node 3's only event is at 3.0 (excluded);
  // node 1 at 2.25 has only e0 earlier.
  EXPECT_EQ(b[1].num_roots, 3);
  EXPECT_EQ(b[1].nodes, (std::vector<NodeId>{2, 3, 1, 3, 0}));
  EXPECT_EQ(b[1].times, (std::vector<Timestamp>{3.5, 3.0, 2.25, 3.0, 1.5}));
  EXPECT_EQ(b[1].row, (std::vector<std::int64_t>{0, 2}));
  EXPECT_EQ(b[1].col, (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(b[1].eid, (std::vector<EdgeId>{2, 0}));
  EXPECT_EQ(b[1].dt, (std::vector<Timestamp>{0.5, 0.75}));
}

TEST(RecentSamplerTest, SelfLoopIsSampledOncePerDirection) {
  const Dataset d = make_dataset({0, 0}, {0, 1}, {1, 2});
  const std::vector<TemporalBlock> b = sample(d, {0}, {3.0}, {10});
  EXPECT_EQ(b[0].nodes, (std::vector<NodeId>{0, 1, 0, 0}));
  EXPECT_EQ(b[0].eid, (std::vector<EdgeId>{1, 0, 0}));
}

TEST(RecentSamplerTest, EmptyRootsAndNodesWithoutEventsGiveEmptyBlocks) {
  const Dataset d = make_dataset({0}, {1}, {1}, 3);
  const std::vector<TemporalBlock> none = sample(d, {}, {}, {5, 5});
  ASSERT_EQ(none.size(), 2u);
  EXPECT_EQ(none[1].num_nodes(), 0);
  const std::vector<TemporalBlock> lonely = sample(d, {2}, {9.0}, {5});
  EXPECT_EQ(lonely[0].num_edges(), 0);
  EXPECT_EQ(lonely[0].nodes, (std::vector<NodeId>{2}));
}

}  // namespace
}  // namespace disttgl::trainer

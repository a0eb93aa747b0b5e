// Negative sampling: candidate range, determinism, batching independence, coverage.
#include "disttgl/trainer/sampler/negative.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <set>
#include <utility>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/eval/metrics.hpp"
#include "sampler_test_util.hpp"

namespace disttgl::trainer {
namespace {

Dataset bipartite_dataset() {
  // Sources [0, 3), destinations [3, 7).
  Dataset d = testing::make_dataset({0, 1, 2}, {3, 4, 6}, {1, 2, 3}, 7);
  d.bipartite = true;
  d.num_src_nodes = 3;
  return d;
}

TEST(NegativeSamplerTest, BipartiteGraphsDrawOnlyDestinations) {
  const NegativeSampler bipartite(bipartite_dataset());
  EXPECT_EQ(bipartite.lo(), 3);
  EXPECT_EQ(bipartite.hi(), 7);
  const std::vector<NodeId> neg = bipartite.sample(0, 3, 300, 1);
  ASSERT_EQ(neg.size(), 900u);
  EXPECT_EQ(*std::min_element(neg.begin(), neg.end()), 3);
  EXPECT_EQ(*std::max_element(neg.begin(), neg.end()), 6);

  Dataset plain = bipartite_dataset();
  plain.bipartite = false;
  const NegativeSampler all(plain);
  EXPECT_EQ(all.lo(), 0);
  EXPECT_EQ(all.hi(), 7);
  const std::vector<NodeId> any = all.sample(0, 3, 300, 1);
  EXPECT_EQ(*std::min_element(any.begin(), any.end()), 0);
  EXPECT_EQ(*std::max_element(any.begin(), any.end()), 6);
}

TEST(NegativeSamplerTest, FixedBySeedAndIndependentOfBatching) {
  const NegativeSampler s(0, 1000);
  const std::vector<NodeId> whole = s.sample(100, 300, 49, 7);
  EXPECT_EQ(s.sample(100, 300, 49, 7), whole);
  std::vector<NodeId> pieces;
  for (auto [first, num] : {std::pair<EdgeId, std::int64_t>{100, 37}, {137, 200}, {337, 63}}) {
    const std::vector<NodeId> part = s.sample(first, num, 49, 7);
    pieces.insert(pieces.end(), part.begin(), part.end());
  }
  EXPECT_EQ(pieces, whole);
  EXPECT_EQ(s.draw(250, 48, 7), whole[(250 - 100) * 49 + 48]);
  // Fewer negatives per event are a prefix of more: negative i depends on i only.
  const std::vector<NodeId> one = s.sample(100, 300, 1, 7);
  for (std::size_t k = 0; k < one.size(); ++k) ASSERT_EQ(one[k], whole[k * 49]);
  // Another seed gives another set.
  const std::vector<NodeId> other = s.sample(100, 300, 49, 8);
  const auto same = std::inner_product(other.begin(), other.end(), whole.begin(), 0, std::plus<>(),
                                       std::equal_to<>());
  EXPECT_LT(same, 100);  // about 14700 / 1000 = 15 coincidences expected
}

TEST(NegativeSamplerTest, EveryCandidateIsDrawnAndCountsAreRoughlyEven) {
  const NegativeSampler s(10, 30);
  const std::vector<NodeId> neg = s.sample(0, 4000, 1, 3);
  std::vector<int> count(20, 0);
  for (NodeId n : neg) ++count[n - 10];
  // 200 expected per candidate; a binomial sd is about 14, so [120, 280] is > 5 sd wide.
  for (int c : count) {
    EXPECT_GE(c, 120);
    EXPECT_LE(c, 280);
  }
}

// Source 0's history, hand-made: training is events 0..3.
//   e0 (0,1,t1) e1 (0,2,t2) e2 (1,3,t3) e3 (0,1,t4) | e4 (0,3,t5) e5 (0,4,t6) e6 (0,2,t6)
//   e7 (0,5,t8)
Dataset history_dataset() {
  Dataset d = testing::make_dataset({0, 0, 1, 0, 0, 0, 0, 0}, {1, 2, 3, 1, 3, 4, 2, 5},
                                    {1, 2, 3, 4, 5, 6, 6, 8}, 6);
  d.split.train_end = 4;
  d.split.val_end = 6;
  return d;
}

std::set<NodeId> drawn(const NegativeSampler& s, EdgeId e, NegativeStrategy strategy) {
  const std::vector<NodeId> v = s.sample(e, 1, 400, 5, strategy);
  return {v.begin(), v.end()};
}

TEST(NegativeSamplerTest, StrategiesDrawFromTheirExactPools) {
  const Dataset d = history_dataset();
  const NegativeSampler s(d);
  using V = std::vector<NodeId>;
  const auto kH = NegativeStrategy::kHistorical;
  const auto kI = NegativeStrategy::kInductive;
  const auto kR = NegativeStrategy::kRandom;
  // e6 (0,2,t6): pairs of 0 first seen strictly before t6 are 1, 2, 3 (4 is first seen AT t6);
  // the true destination 2 is never a negative.
  EXPECT_EQ(s.pool(6, kH), (V{1, 3}));
  EXPECT_EQ(s.pool(6, kI), (V{3}));  // (0,3) first occurs after training; (0,1) in training
  EXPECT_EQ(s.pool(6, kR), (V{0, 1, 3, 4, 5}));
  // e7 (0,5,t8): every earlier pair of 0; inductive only the ones training never saw.
  EXPECT_EQ(s.pool(7, kH), (V{1, 2, 3, 4}));
  EXPECT_EQ(s.pool(7, kI), (V{3, 4}));
  // e3 (0,1,t4) repeats a pair: its own pair is excluded, the rest of the history stays.
  EXPECT_EQ(s.pool(3, kH), (V{2}));
  EXPECT_EQ(s.pool_size(3, kH), 1);
  // Empty pools fall back to random (minus the true destination) and say so.
  EXPECT_EQ(s.pool_size(2, kH), 0);  // source 1 has no earlier pair
  EXPECT_EQ(s.pool(2, kH), (V{0, 1, 2, 4, 5}));
  EXPECT_EQ(s.pool_size(4, kI), 0);  // before t5 no pair of 0 is new since training
  EXPECT_EQ(s.pool_size(4, kH), 2);
  EXPECT_EQ(s.pool_size(0, kR), 5);
  // The draws cover exactly the pools (400 draws over at most 5 values).
  for (EdgeId e = 0; e < d.num_events(); ++e) {
    for (const NegativeStrategy strategy : all_negative_strategies()) {
      const V pool = s.pool(e, strategy);
      EXPECT_EQ(drawn(s, e, strategy), std::set<NodeId>(pool.begin(), pool.end()))
          << "event " << e << " " << to_string(strategy);
    }
  }
  // Historical negatives are all previously seen pairs (source kept, destination seen with it
  // strictly earlier).
  for (EdgeId e = 0; e < d.num_events(); ++e) {
    if (s.pool_size(e, kH) == 0) continue;
    for (const NodeId n : s.sample(e, 1, 50, 9, kH)) {
      bool seen = false;
      for (EdgeId f = 0; f < d.num_events(); ++f) {
        seen = seen || (d.src[f] == d.src[e] && d.dst[f] == n && d.ts[f] < d.ts[e]);
      }
      EXPECT_TRUE(seen) << "event " << e << " drew " << n;
    }
  }
}

TEST(NegativeSamplerTest, StrategiesAreFixedBySeedAndIndependentOfBatching) {
  const Dataset d = testing::random_dataset(30, 3000, 400, 12);
  Dataset split = d;
  split.split.train_end = 2000;
  const NegativeSampler s(split);
  for (const NegativeStrategy strategy : all_negative_strategies()) {
    const std::vector<NodeId> whole = s.sample(1500, 1000, 49, 7, strategy);
    std::vector<NodeId> pieces;
    for (auto [first, num] : {std::pair<EdgeId, std::int64_t>{1500, 200}, {1700, 600}, {2300, 200}}) {
      const std::vector<NodeId> part = s.sample(first, num, 49, 7, strategy);
      pieces.insert(pieces.end(), part.begin(), part.end());
    }
    EXPECT_EQ(pieces, whole) << to_string(strategy);
    const std::vector<NodeId> one = s.sample(1500, 1000, 1, 7, strategy);
    for (std::size_t k = 0; k < one.size(); ++k) ASSERT_EQ(one[k], whole[k * 49]);
    for (std::int64_t k = 0; k < 1000; ++k) {
      for (int i = 0; i < 49; ++i) {
        ASSERT_NE(whole[static_cast<std::size_t>(k * 49 + i)], split.dst[1500 + k]);
      }
    }
  }
  // The strategies draw different negatives for the same events and seed.
  EXPECT_NE(s.sample(2500, 300, 1, 7, NegativeStrategy::kRandom),
            s.sample(2500, 300, 1, 7, NegativeStrategy::kHistorical));
  EXPECT_NE(s.sample(2500, 300, 1, 7, NegativeStrategy::kHistorical),
            s.sample(2500, 300, 1, 7, NegativeStrategy::kInductive));
}

// With two destination candidates an unexcluded uniform draw would hit the true destination
// about half the time; excluded, every negative is the other destination and a perfect
// scorer ranks every positive first.
TEST(NegativeSamplerTest, TheTrueDestinationIsNeverANegativeSoAPerfectScorerHasMrrOne) {
  std::vector<NodeId> src, dst;
  std::vector<Timestamp> ts;
  for (int e = 0; e < 500; ++e) {
    src.push_back(e % 3);
    dst.push_back(3 + (e * 7) % 2);
    ts.push_back(e);
  }
  Dataset d = testing::make_dataset(src, dst, ts, 5);
  d.bipartite = true;
  d.num_src_nodes = 3;
  const NegativeSampler s(d);
  const std::vector<NodeId> neg = s.sample(0, 500, 49, 11);
  std::vector<double> pos_scores(500, 1.0), neg_scores;
  for (std::size_t k = 0; k < neg.size(); ++k) {
    ASSERT_EQ(neg[k], dst[k / 49] == 3 ? 4 : 3) << "draw " << k;
    neg_scores.push_back(neg[k] == dst[k / 49] ? 1.0 : 0.0);
  }
  EXPECT_DOUBLE_EQ(mean_reciprocal_rank(pos_scores, neg_scores), 1.0);
  // Without a dataset there is no destination to exclude: both candidates are drawn.
  const NegativeSampler plain(3, 5);
  const std::vector<NodeId> any = plain.sample(0, 500, 1, 11);
  EXPECT_EQ(std::set<NodeId>(any.begin(), any.end()), (std::set<NodeId>{3, 4}));
}

TEST(NegativeSamplerTest, StrategyNamesParseAndBadOnesNameTheField) {
  EXPECT_EQ(parse_negative_strategy("historical", "x"), NegativeStrategy::kHistorical);
  try {
    parse_negative_strategy("hist", "--negatives");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "--negatives: unknown negative strategy 'hist' (expected random, historical or "
                 "inductive)");
  }
  const NegativeSampler plain(0, 5);
  EXPECT_THROW(plain.sample(0, 1, 1, 0, NegativeStrategy::kHistorical), ConfigError);
  const Dataset d = history_dataset();
  EXPECT_THROW(NegativeSampler(d).sample(7, 2, 1, 0), ConfigError);  // event 8 does not exist
}

TEST(NegativeSamplerTest, BadArgumentsAreConfigErrors) {
  EXPECT_THROW(NegativeSampler(5, 5), ConfigError);
  EXPECT_THROW(NegativeSampler(-1, 5), ConfigError);
  Dataset no_destinations = bipartite_dataset();
  no_destinations.num_src_nodes = 7;
  EXPECT_THROW(NegativeSampler{no_destinations}, ConfigError);
  const NegativeSampler s(0, 5);
  EXPECT_THROW(s.sample(-1, 1, 1, 0), ConfigError);
  EXPECT_THROW(s.sample(0, -1, 1, 0), ConfigError);
  EXPECT_THROW(s.sample(0, 1, -1, 0), ConfigError);
  EXPECT_TRUE(s.sample(0, 10, 0, 0).empty());
}

}  // namespace
}  // namespace disttgl::trainer

// Negative sampling: candidate range, determinism, batching independence, coverage.
#include "disttgl/trainer/sampler/negative.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <utility>

#include "disttgl/common/error.hpp"
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
  const std::vector<NodeId> neg = bipartite.sample(0, 500, 2, 1);
  ASSERT_EQ(neg.size(), 1000u);
  EXPECT_EQ(*std::min_element(neg.begin(), neg.end()), 3);
  EXPECT_EQ(*std::max_element(neg.begin(), neg.end()), 6);

  Dataset plain = bipartite_dataset();
  plain.bipartite = false;
  const NegativeSampler all(plain);
  EXPECT_EQ(all.lo(), 0);
  EXPECT_EQ(all.hi(), 7);
  const std::vector<NodeId> any = all.sample(0, 500, 2, 1);
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

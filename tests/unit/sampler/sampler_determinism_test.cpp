// Results do not depend on thread count, cursor hints, query order or reset(); bad options
// and bad roots are rejected.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/sampler/negative.hpp"
#include "disttgl/trainer/sampler/sampler.hpp"
#include "sampler_test_util.hpp"

namespace disttgl::trainer {
namespace {

// Batches of 600 events as roots [src, dst, neg] at the event times, as in training.
struct Batches {
  std::vector<std::vector<NodeId>> nodes;
  std::vector<std::vector<Timestamp>> times;
};

Batches make_batches(const Dataset& d, std::int64_t batch_size) {
  const NegativeSampler negatives(d);
  Batches b;
  for (std::int64_t first = 0; first < d.num_events(); first += batch_size) {
    const std::int64_t n = std::min(batch_size, d.num_events() - first);
    std::vector<NodeId> nodes(d.src.begin() + first, d.src.begin() + first + n);
    nodes.insert(nodes.end(), d.dst.begin() + first, d.dst.begin() + first + n);
    const std::vector<NodeId> neg = negatives.sample(first, n, 1, 5);
    nodes.insert(nodes.end(), neg.begin(), neg.end());
    std::vector<Timestamp> times;
    for (int k = 0; k < 3; ++k)
      times.insert(times.end(), d.ts.begin() + first, d.ts.begin() + first + n);
    b.nodes.push_back(std::move(nodes));
    b.times.push_back(std::move(times));
  }
  return b;
}

class SamplerDeterminismTest
    : public ::testing::TestWithParam<std::pair<SamplingStrategy, std::vector<int>>> {
 protected:
  // 300 nodes, 6000 events on 1500 distinct times (about 4 events per time).
  SamplerDeterminismTest()
      : data_(testing::random_dataset(300, 6000, 1500, 41)),
        graph_(TCSR::build(data_)),
        batches_(make_batches(data_, 600)) {}

  SamplerOptions options(int threads, bool cursor) const {
    return {.fanouts = GetParam().second,
            .strategy = GetParam().first,
            .num_threads = threads,
            .seed = 2024,
            .use_cursor = cursor};
  }

  // The reference: one thread, no cursor, a plain binary search per root.
  std::vector<TemporalBlock> reference(std::size_t batch) const {
    TemporalSampler ref(graph_, options(1, false));
    return ref.sample(batches_.nodes[batch], batches_.times[batch]);
  }

  // Samples `order` of batches with `sampler` and compares each with the reference.
  void expect_matches_reference(TemporalSampler& sampler, const std::vector<std::size_t>& order) {
    for (std::size_t batch : order) {
      SCOPED_TRACE("batch " + std::to_string(batch));
      const std::vector<TemporalBlock> got =
          sampler.sample(batches_.nodes[batch], batches_.times[batch]);
      testing::expect_blocks_equal(got, reference(batch));
      if (::testing::Test::HasFailure()) return;
    }
  }

  std::vector<std::size_t> in_order() const {
    std::vector<std::size_t> order(batches_.nodes.size());
    std::iota(order.begin(), order.end(), 0);
    return order;
  }

  Dataset data_;
  TCSR graph_;
  Batches batches_;
};

TEST_P(SamplerDeterminismTest, ThreadCountAndCursorDoNotChangeResults) {
  for (int threads : {1, 2, 3}) {
    for (bool cursor : {true, false}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + " cursor " + std::to_string(cursor));
      TemporalSampler sampler(graph_, options(threads, cursor));
      expect_matches_reference(sampler, in_order());
    }
  }
}

TEST_P(SamplerDeterminismTest, OutOfOrderQueriesWithAndWithoutResetMatch) {
  TemporalSampler sampler(graph_, options(2, true));
  // A full in-order epoch leaves every cursor at the end of the stream ...
  expect_matches_reference(sampler, in_order());
  // ... so a second epoch without reset() queries behind every hint,
  expect_matches_reference(sampler, in_order());
  // a shuffled epoch jumps both ways,
  std::vector<std::size_t> shuffled = in_order();
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(3));
  expect_matches_reference(sampler, shuffled);
  // and after reset() the same holds from the rewound cursors.
  sampler.reset();
  expect_matches_reference(sampler, shuffled);
  sampler.reset();
  expect_matches_reference(sampler, in_order());
}

TEST_P(SamplerDeterminismTest, BlocksAreConsistentWithTheEvents) {
  TemporalSampler sampler(graph_, options(2, true));
  std::int64_t edges = 0;
  for (std::size_t batch : in_order()) {
    for (const TemporalBlock& b : sampler.sample(batches_.nodes[batch], batches_.times[batch])) {
      testing::expect_block_consistent(data_, b);
      edges += b.num_edges();
    }
  }
  EXPECT_GT(edges, 100000);
}

std::string mode_name(
    const ::testing::TestParamInfo<std::pair<SamplingStrategy, std::vector<int>>>& param) {
  return std::string(param.param.first == SamplingStrategy::kRecent ? "Recent" : "Uniform") +
         std::to_string(param.param.second.size()) + "Layer";
}

INSTANTIATE_TEST_SUITE_P(
    Modes, SamplerDeterminismTest,
    ::testing::Values(std::pair{SamplingStrategy::kRecent, std::vector<int>{10}},
                      std::pair{SamplingStrategy::kUniform, std::vector<int>{10}},
                      std::pair{SamplingStrategy::kRecent, std::vector<int>{5, 5}},
                      std::pair{SamplingStrategy::kUniform, std::vector<int>{5, 5}}),
    mode_name);

TEST(SamplerOptionsTest, BadOptionsAreConfigErrors) {
  const TCSR g = TCSR::build(testing::make_dataset({0}, {1}, {1}));
  EXPECT_THROW(TemporalSampler(g, {.fanouts = {}}), ConfigError);
  try {
    const TemporalSampler sampler(g, {.fanouts = {10, 0}});
    FAIL() << "fanout 0 accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "sampler: fanouts[1] is 0, must be >= 1");
  }
  try {
    const TemporalSampler sampler(g, {.num_threads = 0});
    FAIL() << "0 threads accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "sampler: num_threads is 0, must be >= 1");
  }
}

TEST(SamplerOptionsTest, BadRootsAreInternalErrors) {
  const TCSR g = TCSR::build(testing::make_dataset({0}, {1}, {1}));
  TemporalSampler sampler(g, {});
  const std::vector<NodeId> out_of_range = {0, 2};
  const std::vector<Timestamp> two_times = {1.0, 1.0};
  const std::vector<Timestamp> one_time = {1.0};
  EXPECT_THROW(sampler.sample(out_of_range, two_times), InternalError);
  EXPECT_THROW(sampler.sample(std::vector<NodeId>{0, 1}, one_time), InternalError);
}

}  // namespace
}  // namespace disttgl::trainer

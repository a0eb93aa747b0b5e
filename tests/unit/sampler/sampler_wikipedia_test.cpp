// On the real Wikipedia stream: over a full pass of 600-event batches with roots
// [src, dst, negatives] in time order, no sampled event is at or after its root's time,
// every sampled edge is a real event of its root, and each root gets exactly
// min(fanout, #earlier events) neighbours (both strategies).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "disttgl/trainer/data/import.hpp"
#include "disttgl/trainer/sampler/negative.hpp"
#include "disttgl/trainer/sampler/sampler.hpp"
#include "sampler_test_util.hpp"

namespace disttgl::trainer {
namespace {

constexpr std::int64_t kBatchEvents = 600;
constexpr int kFanout = 10;

// The imported stream, its T-CSR and, straight from the event list, each node's event times
// (for the brute-force counts); loaded once for all tests.
struct Wikipedia {
  Dataset dataset;
  TCSR graph;
  std::vector<std::vector<Timestamp>> node_times;
};

const Wikipedia& wikipedia() {
  static const Wikipedia w = [] {
    Wikipedia x;
    x.dataset =
        import_dataset(std::string(DISTTGL_SHARED_DIR) + "/datasets/wikipedia/wikipedia.csv");
    x.graph = TCSR::build(x.dataset);
    x.node_times.resize(static_cast<std::size_t>(x.dataset.num_nodes));
    for (EdgeId e = 0; e < x.dataset.num_events(); ++e) {
      x.node_times[x.dataset.src[e]].push_back(x.dataset.ts[e]);
      if (x.dataset.dst[e] != x.dataset.src[e]) {
        x.node_times[x.dataset.dst[e]].push_back(x.dataset.ts[e]);
      }
    }
    return x;
  }();
  return w;
}

// Brute force: number of events of n strictly earlier than t, capped at the fanout.
std::int64_t expected_count(NodeId n, Timestamp t) {
  const std::vector<Timestamp>& times = wikipedia().node_times[n];
  const auto earlier = std::lower_bound(times.begin(), times.end(), t) - times.begin();
  return std::min<std::int64_t>(earlier, kFanout);
}

class WikipediaSamplerTest : public ::testing::TestWithParam<SamplingStrategy> {};

TEST_P(WikipediaSamplerTest, NoSampledEventIsAtOrAfterItsRoot) {
  const Dataset& d = wikipedia().dataset;
  ASSERT_EQ(d.num_events(), 157474);
  ASSERT_EQ(d.num_nodes, 9227);
  TemporalSampler sampler(
      wikipedia().graph,
      {.fanouts = {kFanout}, .strategy = GetParam(), .num_threads = 2, .seed = 17});
  const NegativeSampler negatives(d);
  std::int64_t batches = 0;
  std::int64_t sampled = 0;
  std::int64_t expected = 0;
  std::int64_t at_or_after = 0;
  for (std::int64_t first = 0; first < d.num_events(); first += kBatchEvents) {
    const std::int64_t n = std::min(kBatchEvents, d.num_events() - first);
    std::vector<NodeId> nodes(d.src.begin() + first, d.src.begin() + first + n);
    nodes.insert(nodes.end(), d.dst.begin() + first, d.dst.begin() + first + n);
    const std::vector<NodeId> neg = negatives.sample(first, n, 1, 99);
    nodes.insert(nodes.end(), neg.begin(), neg.end());
    std::vector<Timestamp> times;
    for (int k = 0; k < 3; ++k) {
      times.insert(times.end(), d.ts.begin() + first, d.ts.begin() + first + n);
    }
    const TemporalBlock b = sampler.sample(nodes, times)[0];
    testing::expect_block_consistent(d, b);
    std::vector<std::int64_t> per_root(nodes.size(), 0);
    for (std::int64_t e = 0; e < b.num_edges(); ++e) {
      ++per_root[b.row[e]];
      at_or_after += d.ts[b.eid[e]] >= times[b.row[e]] ? 1 : 0;
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const std::int64_t want = expected_count(nodes[i], times[i]);
      ASSERT_EQ(per_root[i], want) << "batch " << batches << " root " << i;
      expected += want;
    }
    sampled += b.num_edges();
    ++batches;
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(batches, 263);
  EXPECT_EQ(at_or_after, 0);
  EXPECT_EQ(sampled, expected);
  EXPECT_GT(sampled, 3 * 157474 * 8);  // most roots have a full fanout of history
}

std::string strategy_name(const ::testing::TestParamInfo<SamplingStrategy>& param) {
  return param.param == SamplingStrategy::kRecent ? "Recent" : "Uniform";
}

INSTANTIATE_TEST_SUITE_P(Strategies, WikipediaSamplerTest,
                         ::testing::Values(SamplingStrategy::kRecent, SamplingStrategy::kUniform),
                         strategy_name);

}  // namespace
}  // namespace disttgl::trainer

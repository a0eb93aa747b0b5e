// Builders and brute-force references shared by the sampler tests. The references read the
// Dataset's event list directly, never the T-CSR, so they check the sampler independently.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <random>
#include <span>
#include <vector>

#include "disttgl/trainer/data/dataset.hpp"
#include "disttgl/trainer/sampler/block.hpp"
#include "disttgl/trainer/sampler/sampler.hpp"

namespace disttgl::trainer {

/// Readable test names and failure messages for parameterised tests (found by ADL).
inline void PrintTo(SamplingStrategy s, std::ostream* os) {
  *os << (s == SamplingStrategy::kRecent ? "recent" : "uniform");
}

}  // namespace disttgl::trainer

namespace disttgl::trainer::testing {

/// A dataset holding exactly the given events; num_nodes defaults to max id + 1.
inline Dataset make_dataset(std::vector<NodeId> src, std::vector<NodeId> dst,
                            std::vector<Timestamp> ts, std::int64_t num_nodes = -1) {
  Dataset d;
  d.name = "test";
  if (num_nodes < 0) {
    num_nodes = 0;
    for (std::size_t e = 0; e < src.size(); ++e) {
      num_nodes = std::max({num_nodes, src[e] + 1, dst[e] + 1});
    }
  }
  d.num_nodes = num_nodes;
  d.num_src_nodes = num_nodes;
  d.label.assign(ts.size(), 0);
  d.src = std::move(src);
  d.dst = std::move(dst);
  d.ts = std::move(ts);
  d.split.train_end = d.num_events();
  d.split.val_end = d.num_events();
  return d;
}

/// Random time-sorted events whose times come from {1, ..., num_times}: with a small
/// num_times most events tie with many others. Self loops occur when allow_self_loops.
inline Dataset random_dataset(std::int64_t num_nodes, std::int64_t num_events, int num_times,
                              std::uint64_t seed, bool allow_self_loops = true) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<NodeId> node(0, num_nodes - 1);
  std::uniform_int_distribution<int> time(1, num_times);
  std::vector<NodeId> src, dst;
  std::vector<Timestamp> ts;
  for (std::int64_t e = 0; e < num_events; ++e) {
    NodeId u = node(rng);
    NodeId v = node(rng);
    while (!allow_self_loops && v == u) v = node(rng);
    src.push_back(u);
    dst.push_back(v);
    ts.push_back(time(rng));
  }
  std::sort(ts.begin(), ts.end());
  return make_dataset(std::move(src), std::move(dst), std::move(ts), num_nodes);
}

/// One direction of one event as seen from a node.
struct Entry {
  NodeId nbr;
  EdgeId eid;
  Timestamp ts;
};

/// All entries of node n with ts < t (a self loop counts twice), sorted by (ts, eid)
/// descending: the brute-force eligible window, most recent first.
inline std::vector<Entry> brute_force_window(const Dataset& d, NodeId n, Timestamp t) {
  std::vector<Entry> out;
  for (EdgeId e = 0; e < d.num_events(); ++e) {
    if (!(d.ts[e] < t)) continue;
    if (d.src[e] == n) out.push_back({d.dst[e], e, d.ts[e]});
    if (d.dst[e] == n) out.push_back({d.src[e], e, d.ts[e]});
  }
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return a.ts != b.ts ? a.ts > b.ts : a.eid > b.eid;
  });
  return out;
}

/// Brute-force most-recent sampling of fanouts.size() layers: for each root take the first
/// `fanout` entries of its brute-force window.
inline std::vector<TemporalBlock> brute_force_recent(const Dataset& d, std::vector<NodeId> nodes,
                                                     std::vector<Timestamp> times,
                                                     const std::vector<int>& fanouts) {
  std::vector<TemporalBlock> blocks;
  for (int fanout : fanouts) {
    TemporalBlock b;
    b.num_roots = static_cast<std::int64_t>(nodes.size());
    b.nodes = nodes;
    b.times = times;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      std::vector<Entry> window = brute_force_window(d, nodes[i], times[i]);
      const std::size_t take = std::min(window.size(), static_cast<std::size_t>(fanout));
      for (std::size_t j = 0; j < take; ++j) {
        b.row.push_back(static_cast<std::int64_t>(i));
        b.col.push_back(b.num_nodes());
        b.nodes.push_back(window[j].nbr);
        b.times.push_back(window[j].ts);
        b.eid.push_back(window[j].eid);
        b.dt.push_back(times[i] - window[j].ts);
      }
    }
    nodes = b.nodes;
    times = b.times;
    blocks.push_back(std::move(b));
  }
  return blocks;
}

/// Every field of every block equal (times and dt compared exactly).
inline void expect_blocks_equal(const std::vector<TemporalBlock>& actual,
                                const std::vector<TemporalBlock>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t l = 0; l < actual.size(); ++l) {
    SCOPED_TRACE("layer " + std::to_string(l));
    EXPECT_EQ(actual[l].num_roots, expected[l].num_roots);
    EXPECT_EQ(actual[l].nodes, expected[l].nodes);
    EXPECT_EQ(actual[l].times, expected[l].times);
    EXPECT_EQ(actual[l].row, expected[l].row);
    EXPECT_EQ(actual[l].col, expected[l].col);
    EXPECT_EQ(actual[l].eid, expected[l].eid);
    EXPECT_EQ(actual[l].dt, expected[l].dt);
  }
}

/// Structural checks of one block against the dataset: each sampled (root, neighbour, event)
/// is a real event of the root with the neighbour as its other endpoint, strictly earlier
/// than the root, with matching time and dt; col is num_roots + e; rows are in root order.
inline void expect_block_consistent(const Dataset& d, const TemporalBlock& b) {
  ASSERT_EQ(b.nodes.size(), b.times.size());
  ASSERT_EQ(b.num_nodes(), b.num_roots + b.num_edges());
  ASSERT_EQ(b.row.size(), b.eid.size());
  ASSERT_EQ(b.col.size(), b.eid.size());
  ASSERT_EQ(b.dt.size(), b.eid.size());
  for (std::int64_t e = 0; e < b.num_edges(); ++e) {
    SCOPED_TRACE("edge " + std::to_string(e));
    const std::int64_t r = b.row[e];
    ASSERT_GE(r, 0);
    ASSERT_LT(r, b.num_roots);
    if (e > 0) {
      ASSERT_GE(r, b.row[e - 1]);
    }
    ASSERT_EQ(b.col[e], b.num_roots + e);
    const EdgeId ev = b.eid[e];
    ASSERT_GE(ev, 0);
    ASSERT_LT(ev, d.num_events());
    const NodeId root = b.nodes[r];
    const NodeId nbr = b.nodes[b.col[e]];
    const bool forward = d.src[ev] == root && d.dst[ev] == nbr;
    const bool backward = d.dst[ev] == root && d.src[ev] == nbr;
    ASSERT_TRUE(forward || backward) << "event " << ev << " is (" << d.src[ev] << ", " << d.dst[ev]
                                     << "), sampled as (" << root << ", " << nbr << ")";
    ASSERT_EQ(b.times[b.col[e]], d.ts[ev]);
    ASSERT_LT(d.ts[ev], b.times[r]);
    ASSERT_EQ(b.dt[e], b.times[r] - d.ts[ev]);
  }
}

}  // namespace disttgl::trainer::testing

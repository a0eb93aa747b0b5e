// T-CSR construction: degrees, both directions, self loops, (ts, eid) slice order.
#include "disttgl/trainer/sampler/tcsr.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <tuple>

#include "disttgl/common/error.hpp"
#include "sampler_test_util.hpp"

namespace disttgl::trainer {
namespace {

using testing::make_dataset;

// Events: e0 (0,1,1) e1 (1,2,2) e2 (2,2,2) e3 (0,2,3) e4 (1,0,3); node 3 has no events.
Dataset small_graph() { return make_dataset({0, 1, 2, 0, 1}, {1, 2, 2, 2, 0}, {1, 2, 2, 3, 3}, 4); }

TEST(TCSRTest, DegreesCountBothDirectionsAndSelfLoopsTwice) {
  const TCSR g = TCSR::build(small_graph());
  EXPECT_EQ(g.num_nodes, 4);
  EXPECT_EQ(g.indptr, (std::vector<std::int64_t>{0, 3, 6, 10, 10}));
  EXPECT_EQ(g.degree(0), 3);
  EXPECT_EQ(g.degree(1), 3);
  EXPECT_EQ(g.degree(2), 4);  // e1, e3 and the self loop e2 twice
  EXPECT_EQ(g.degree(3), 0);
  EXPECT_EQ(g.num_entries(), 10);
}

TEST(TCSRTest, SlicesHoldTheOtherEndpointInTimeThenEventOrder) {
  const TCSR g = TCSR::build(small_graph());
  EXPECT_EQ(g.nbr, (std::vector<NodeId>{1, 2, 1, /*1:*/ 0, 2, 0, /*2:*/ 1, 2, 2, 0}));
  EXPECT_EQ(g.eid, (std::vector<EdgeId>{0, 3, 4, /*1:*/ 0, 1, 4, /*2:*/ 1, 2, 2, 3}));
  EXPECT_EQ(g.ts, (std::vector<Timestamp>{1, 3, 3, /*1:*/ 1, 2, 3, /*2:*/ 2, 2, 2, 3}));
}

TEST(TCSRTest, PrefixOfEventsBuildsOnlyThoseEvents) {
  const TCSR g = TCSR::build(small_graph(), 2);
  EXPECT_EQ(g.indptr, (std::vector<std::int64_t>{0, 1, 3, 4, 4}));
  EXPECT_EQ(g.eid, (std::vector<EdgeId>{0, 0, 1, 1}));
  EXPECT_EQ(TCSR::build(small_graph(), 0).num_entries(), 0);
}

TEST(TCSRTest, UnsortedEventsStillGiveTimeThenEventOrder) {
  // e0 at t=5 precedes e1 at t=1 in the event list.
  const TCSR g = TCSR::build(make_dataset({0, 0, 0}, {1, 1, 2}, {5, 1, 5}));
  EXPECT_EQ(g.eid, (std::vector<EdgeId>{1, 0, 2, /*1:*/ 1, 0, /*2:*/ 2}));
  EXPECT_EQ(g.ts, (std::vector<Timestamp>{1, 5, 5, 1, 5, 5}));
  EXPECT_EQ(g.nbr, (std::vector<NodeId>{1, 1, 2, 0, 0, 0}));
}

TEST(TCSRTest, RandomGraphsHaveSortedSlicesAndEveryEventTwice) {
  for (std::uint64_t seed : {1, 2, 3}) {
    const Dataset d = testing::random_dataset(50, 2000, 4, seed);
    const TCSR g = TCSR::build(d);
    ASSERT_EQ(g.num_entries(), 2 * d.num_events());
    std::vector<int> seen(static_cast<std::size_t>(d.num_events()), 0);
    for (NodeId n = 0; n < g.num_nodes; ++n) {
      for (std::int64_t p = g.indptr[n]; p < g.indptr[n + 1]; ++p) {
        const EdgeId e = g.eid[p];
        ++seen[e];
        EXPECT_EQ(g.ts[p], d.ts[e]);
        EXPECT_TRUE((d.src[e] == n && d.dst[e] == g.nbr[p]) ||
                    (d.dst[e] == n && d.src[e] == g.nbr[p]));
        if (p > g.indptr[n]) {
          EXPECT_LE(std::tie(g.ts[p - 1], g.eid[p - 1]), std::tie(g.ts[p], g.eid[p]));
        }
      }
    }
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 2; }));
  }
}

TEST(TCSRTest, BrokenDatasetsAreInternalErrors) {
  EXPECT_THROW(TCSR::build(make_dataset({0}, {5}, {1}, 3)), InternalError);
  EXPECT_THROW(TCSR::build(make_dataset({-1}, {0}, {1}, 3)), InternalError);
  EXPECT_THROW(TCSR::build(make_dataset({0}, {1}, {std::numeric_limits<double>::quiet_NaN()}, 3)),
               InternalError);
  EXPECT_THROW(TCSR::build(small_graph(), 6), InternalError);
}

}  // namespace
}  // namespace disttgl::trainer

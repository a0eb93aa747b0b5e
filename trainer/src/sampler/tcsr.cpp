// T-CSR construction: counting pass + prefix sum + stable fill (see tcsr.hpp).
#include "disttgl/trainer/sampler/tcsr.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <tuple>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer {
namespace {

bool is_time_sorted(const std::vector<Timestamp>& ts, std::int64_t num_events) {
  for (std::int64_t e = 1; e < num_events; ++e) {
    if (ts[e] < ts[e - 1]) return false;
  }
  return true;
}

// Sorts the entries [begin, end) of `g` by (ts, eid, nbr); used only for unsorted input.
void sort_slice(TCSR& g, std::int64_t begin, std::int64_t end) {
  std::vector<std::tuple<Timestamp, EdgeId, NodeId>> entries;
  entries.reserve(static_cast<std::size_t>(end - begin));
  for (std::int64_t p = begin; p < end; ++p) entries.emplace_back(g.ts[p], g.eid[p], g.nbr[p]);
  std::sort(entries.begin(), entries.end());
  for (std::int64_t p = begin; p < end; ++p) {
    std::tie(g.ts[p], g.eid[p], g.nbr[p]) = entries[static_cast<std::size_t>(p - begin)];
  }
}

}  // namespace

TCSR TCSR::build(const Dataset& dataset, std::int64_t num_events) {
  const std::int64_t total = dataset.num_events();
  DISTTGL_CHECK(static_cast<std::int64_t>(dataset.src.size()) == total &&
                    static_cast<std::int64_t>(dataset.dst.size()) == total,
                "dataset src/dst/ts lengths differ");
  if (num_events < 0) num_events = total;
  DISTTGL_CHECK(num_events <= total, "num_events " + std::to_string(num_events) +
                                         " exceeds the dataset's " + std::to_string(total));
  const std::int64_t n = dataset.num_nodes;
  DISTTGL_CHECK(n >= 0, "negative num_nodes");

  TCSR g;
  g.num_nodes = n;
  g.indptr.assign(static_cast<std::size_t>(n + 1), 0);
  for (std::int64_t e = 0; e < num_events; ++e) {
    const NodeId u = dataset.src[e];
    const NodeId v = dataset.dst[e];
    DISTTGL_CHECK(u >= 0 && u < n && v >= 0 && v < n,
                  "event " + std::to_string(e) + " has an endpoint outside [0, num_nodes)");
    DISTTGL_CHECK(!std::isnan(dataset.ts[e]), "event " + std::to_string(e) + " has a NaN time");
    ++g.indptr[u + 1];
    ++g.indptr[v + 1];
  }
  std::partial_sum(g.indptr.begin(), g.indptr.end(), g.indptr.begin());

  const auto size = static_cast<std::size_t>(2 * num_events);
  g.nbr.resize(size);
  g.eid.resize(size);
  g.ts.resize(size);
  std::vector<std::int64_t> next(g.indptr.begin(), g.indptr.end() - 1);
  for (std::int64_t e = 0; e < num_events; ++e) {
    const NodeId u = dataset.src[e];
    const NodeId v = dataset.dst[e];
    const Timestamp t = dataset.ts[e];
    const std::int64_t pu = next[u]++;
    g.nbr[pu] = v;
    g.eid[pu] = e;
    g.ts[pu] = t;
    const std::int64_t pv = next[v]++;
    g.nbr[pv] = u;
    g.eid[pv] = e;
    g.ts[pv] = t;
  }

  // Stable fill + time-sorted events => every slice is in (ts, eid) order. Otherwise repair
  // only the slices that need it rather than trusting the input.
  if (!is_time_sorted(dataset.ts, num_events)) {
    for (NodeId node = 0; node < n; ++node) {
      const std::int64_t begin = g.indptr[node];
      const std::int64_t end = g.indptr[node + 1];
      if (!std::is_sorted(g.ts.begin() + begin, g.ts.begin() + end)) sort_slice(g, begin, end);
    }
  }
  return g;
}

}  // namespace disttgl::trainer

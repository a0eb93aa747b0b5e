// Temporal CSR (T-CSR) over both directions of every event: four flat arrays, built once and
// read through const (TGL gen_graph.py with --add_reverse; disttgl.md §1).
// Thread-safety: immutable after construction; concurrent reads are safe.
#pragma once

#include <cstdint>
#include <vector>

#include "disttgl/common/types.hpp"
#include "disttgl/trainer/data/dataset.hpp"

namespace disttgl::trainer {

struct TCSR {
  std::int64_t num_nodes = 0;
  std::vector<std::int64_t> indptr;  ///< [N + 1] slice of node n is [indptr[n], indptr[n+1])
  std::vector<NodeId> nbr;           ///< [2E] the other endpoint of the event
  std::vector<EdgeId> eid;           ///< [2E] event id (row in the dataset)
  std::vector<Timestamp> ts;         ///< [2E] event time
  // Within a node's slice entries are sorted by (ts, eid) ascending: a stable order, unlike
  // TGL's quicksort (disttgl.md §8).

  /// Builds the T-CSR of events [0, num_events) of `dataset` (all events when -1): event e
  /// (u, v, t) adds (nbr = v, e, t) to u's slice and (nbr = u, e, t) to v's slice, so a self
  /// loop (u, u) appears twice in u's slice. Algorithm: one counting pass over the endpoints,
  /// a prefix sum into `indptr`, then a fill in event order, O(N + E). The fill is stable, so
  /// time-sorted events (the importer's guarantee) already give (ts, eid) order; if the events
  /// are not time-sorted, only the slices that come out unsorted are sorted, by (ts, eid).
  /// Throws InternalError when src/dst/ts differ in length, num_events is outside
  /// [-1, E], an endpoint is outside [0, num_nodes) or a time is NaN (the importers reject
  /// all of these, so they indicate a bug).
  static TCSR build(const Dataset& dataset, std::int64_t num_events = -1);

  std::int64_t degree(NodeId n) const { return indptr[n + 1] - indptr[n]; }
  std::int64_t num_entries() const { return static_cast<std::int64_t>(eid.size()); }
};

}  // namespace disttgl::trainer

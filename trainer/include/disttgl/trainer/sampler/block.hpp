// A message-flow block (MFG) of one temporal neighbour sampling layer, in TGL's layout
// (TemporalGraphBlock, disttgl.md §2) as flat structure-of-arrays.
#pragma once

#include <cstdint>
#include <vector>

#include "disttgl/common/types.hpp"

namespace disttgl::trainer {

/// Node list = [roots..., one entry per sampled edge...]; sampled edge e has
/// row[e] (index of its root in [0, num_roots)) and col[e] = num_roots + e (its position in
/// the node list). Edges are grouped by root in root order; within a root, most recent first.
struct TemporalBlock {
  std::vector<NodeId> nodes;     ///< [num_roots + num_edges] roots then sampled neighbours
  std::vector<Timestamp> times;  ///< [num_roots + num_edges] root time, then event time
  std::int64_t num_roots = 0;
  std::vector<std::int64_t> row;  ///< [num_edges] root index of each sampled edge
  std::vector<std::int64_t> col;  ///< [num_edges] position of the neighbour in `nodes`
  std::vector<EdgeId> eid;        ///< [num_edges] event id
  std::vector<Timestamp> dt;      ///< [num_edges] root time minus event time, always > 0

  std::int64_t num_edges() const { return static_cast<std::int64_t>(eid.size()); }
  std::int64_t num_nodes() const { return static_cast<std::int64_t>(nodes.size()); }
};

}  // namespace disttgl::trainer

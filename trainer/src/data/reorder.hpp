// Time sorting and node-id remapping of RawEvents. Private to the data layer.
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>

#include "disttgl/trainer/data/dataset.hpp"
#include "raw_events.hpp"

namespace disttgl::trainer::detail {

/// Stable-sorts all per-event arrays of `events` by time (ties keep file order) and returns
/// the number of rows whose position changed (0 for an already sorted file).
std::int64_t sort_by_time(RawEvents& events);

/// Remaps the original ids of time-sorted `events` to [0, N) in order of first appearance
/// (per event: source, then destination) and fills `dataset`'s src, dst, num_nodes,
/// num_src_nodes, bipartite and original_ids. With `bipartite`, sources and destinations
/// are numbered separately: sources [0, S) by first appearance as a source, destinations
/// [S, N) by first appearance as a destination.
void remap_nodes(const RawEvents& events, bool bipartite, Dataset& dataset);

}  // namespace disttgl::trainer::detail

// Id and time aliases used across disttgl, declared once with their widths.
#pragma once

#include <cstdint>

namespace disttgl {

/// Node id after remapping to the contiguous range [0, num_nodes).
using NodeId = std::int64_t;
/// Event (edge) id: the event's row index in the time-sorted event list.
using EdgeId = std::int64_t;
/// Event time in the input's own unit (seconds for every shipped dataset). float64 keeps
/// full precision for Unix times, unlike TGL's float32 (disttgl.md §8, pitfalls).
using Timestamp = double;

}  // namespace disttgl

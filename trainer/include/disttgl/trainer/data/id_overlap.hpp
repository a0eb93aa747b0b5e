// How far the two id columns of an edge file share ids: the numbers behind the warning that
// a file read as bipartite (jodie's default) may really be one id space (import.hpp).
// Thread-safety: a stateless function and a plain value.
#pragma once

#include <cstdint>
#include <span>

namespace disttgl::trainer {

struct IdOverlap {
  std::int64_t sources = 0;       ///< distinct source ids
  std::int64_t destinations = 0;  ///< distinct destination ids
  std::int64_t shared = 0;        ///< distinct ids that occur as both

  /// Nodes when the columns are numbered as two id spaces (an id on both sides counts twice).
  std::int64_t bipartite_nodes() const { return sources + destinations; }
  /// Nodes when the columns share one id space.
  std::int64_t one_space_nodes() const { return sources + destinations - shared; }

  /// True when at least kSharedFraction of the smaller id set also occurs on the other side
  /// (and at least one id does). Real bipartite data (JODIE's users and items, numbered
  /// apart) share no ids; a few shared ids can be chance, a tenth is a pattern.
  bool suggests_one_id_space() const {
    const std::int64_t smaller = sources < destinations ? sources : destinations;
    return shared > 0 &&
           static_cast<double>(shared) >= kSharedFraction * static_cast<double>(smaller);
  }

  static constexpr double kSharedFraction = 0.10;
};

/// Counts the distinct ids of `sources` and `destinations` (duplicates allowed, any order)
/// and how many occur in both. O(n log n); copies the ids. Throws nothing but std::bad_alloc.
IdOverlap id_overlap(std::span<const std::int64_t> sources,
                     std::span<const std::int64_t> destinations);

}  // namespace disttgl::trainer

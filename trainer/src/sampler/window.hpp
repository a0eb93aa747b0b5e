// Locating a root's eligible window in its node's time-sorted T-CSR slice: the cut-off is the
// first position whose time is >= the root time, so [begin, cut) holds exactly the events
// strictly earlier than the root (equal times excluded, exact compare).
// Private to the sampler library.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "disttgl/common/types.hpp"

namespace disttgl::trainer::detail {

/// First position p in [begin, end) with ts[p] >= t (end if none): std::lower_bound with an
/// explicit `<`, so a NaN `t` yields `begin`.
inline std::int64_t cut_by_search(const Timestamp* ts, std::int64_t begin, std::int64_t end,
                                  Timestamp t) {
  return std::lower_bound(ts + begin, ts + end, t, [](Timestamp a, Timestamp b) { return a < b; }) -
         ts;
}

/// Same result as cut_by_search, starting from `hint` in [begin, end], the cut of an earlier
/// query on this slice. When every entry before the hint is earlier than t (time-ordered
/// queries) it gallops forward from the hint: O(log distance moved). Otherwise the query is
/// earlier than the hint and it binary-searches [begin, hint - 1].
inline std::int64_t cut_from_hint(const Timestamp* ts, std::int64_t begin, std::int64_t end,
                                  Timestamp t, std::int64_t hint) {
  if (hint > begin && !(ts[hint - 1] < t)) return cut_by_search(ts, begin, hint - 1, t);
  // Invariant: ts[p] < t for every p < lo; the answer lies in [lo, hi].
  std::int64_t lo = hint;
  std::int64_t hi = hint;
  std::int64_t step = 1;
  while (hi < end && ts[hi] < t) {
    lo = hi + 1;
    hi = std::min(end, lo + step);
    step *= 2;
  }
  return cut_by_search(ts, lo, hi, t);
}

/// Cut for node slice [begin, end) using and advancing the node's cursor. Cursors only move
/// forward; two threads racing on one node may leave either value, which is harmless because
/// the cursor is only a hint (any value in [begin, end] gives the same cut).
inline std::int64_t cut_with_cursor(const Timestamp* ts, std::int64_t begin, std::int64_t end,
                                    Timestamp t, std::atomic<std::int64_t>& cursor) {
  const std::int64_t hint = cursor.load(std::memory_order_relaxed);
  const std::int64_t cut = cut_from_hint(ts, begin, end, t, hint);
  if (cut > hint) cursor.store(cut, std::memory_order_relaxed);
  return cut;
}

}  // namespace disttgl::trainer::detail

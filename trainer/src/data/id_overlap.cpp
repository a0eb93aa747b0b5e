#include "disttgl/trainer/data/id_overlap.hpp"

#include <algorithm>
#include <vector>

namespace disttgl::trainer {
namespace {

std::vector<std::int64_t> sorted_unique(std::span<const std::int64_t> ids) {
  std::vector<std::int64_t> out(ids.begin(), ids.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

IdOverlap id_overlap(std::span<const std::int64_t> sources,
                     std::span<const std::int64_t> destinations) {
  const std::vector<std::int64_t> s = sorted_unique(sources);
  const std::vector<std::int64_t> d = sorted_unique(destinations);
  IdOverlap overlap;
  overlap.sources = static_cast<std::int64_t>(s.size());
  overlap.destinations = static_cast<std::int64_t>(d.size());
  // Both are sorted and distinct: one merge pass counts the common ids.
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < s.size() && j < d.size()) {
    if (s[i] < d[j]) {
      ++i;
    } else if (d[j] < s[i]) {
      ++j;
    } else {
      ++overlap.shared;
      ++i;
      ++j;
    }
  }
  return overlap;
}

}  // namespace disttgl::trainer

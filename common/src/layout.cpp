#include "disttgl/common/layout.hpp"

#include <fmt/format.h>

#include <charconv>
#include <sstream>

#include "disttgl/common/error.hpp"

namespace disttgl {

ParallelLayout parse_layout(const std::string& text, const std::string& field) {
  if (text.empty()) throw ConfigError(fmt::format("{}: empty (expected e.g. i=2,j=1,k=2)", field));
  ParallelLayout layout;
  bool seen[3] = {false, false, false};
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const int index = key == "i" ? 0 : key == "j" ? 1 : key == "k" ? 2 : -1;
    if (eq == std::string::npos || index < 0) {
      throw ConfigError(
          fmt::format("{}: '{}' is not i=N, j=N or k=N (in '{}')", field, item, text));
    }
    if (seen[index]) throw ConfigError(fmt::format("{}: {} given twice (in '{}')", field, key, text));
    seen[index] = true;
    const std::string value = item.substr(eq + 1);
    std::int64_t parsed = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || parsed < 1 ||
        parsed > kMaxLayoutFactor) {
      throw ConfigError(fmt::format("{}: {} must be a whole number in [1, {}], got '{}'", field,
                                    key, kMaxLayoutFactor, value));
    }
    (index == 0 ? layout.i : index == 1 ? layout.j : layout.k) = static_cast<std::int32_t>(parsed);
  }
  if (text.back() == ',') {
    throw ConfigError(fmt::format("{}: trailing ',' (in '{}')", field, text));
  }
  const std::int64_t world = std::int64_t{layout.i} * layout.j * layout.k;
  if (world > kMaxLayoutFactor) {
    throw ConfigError(fmt::format("{}: i*j*k = {} exceeds {} ranks (in '{}')", field, world,
                                  kMaxLayoutFactor, text));
  }
  return layout;
}

std::string to_string(const ParallelLayout& layout) {
  return fmt::format("i={},j={},k={}", layout.i, layout.j, layout.k);
}

void check_world_size(const ParallelLayout& layout, std::int64_t world_size,
                      const std::string& field) {
  if (layout.world_size() != world_size) {
    throw ConfigError(fmt::format("{}: layout {} needs a world size of {} (i*j*k), got {}", field,
                                  to_string(layout), layout.world_size(), world_size));
  }
}

RankPlace place_of(const ParallelLayout& layout, std::int64_t rank, const std::string& field) {
  if (rank < 0 || rank >= layout.world_size()) {
    throw ConfigError(fmt::format("{}: rank {} is outside [0, {}) for layout {}", field, rank,
                                  layout.world_size(), to_string(layout)));
  }
  const auto r = static_cast<std::int32_t>(rank);
  return {r / layout.group_size(), (r % layout.group_size()) / layout.i, r % layout.i};
}

std::int32_t rank_of(const ParallelLayout& layout, const RankPlace& place,
                     const std::string& field) {
  if (place.group < 0 || place.group >= layout.k || place.slot < 0 || place.slot >= layout.j ||
      place.shard < 0 || place.shard >= layout.i) {
    throw ConfigError(fmt::format("{}: (g={}, u={}, s={}) is outside layout {}", field,
                                  place.group, place.slot, place.shard, to_string(layout)));
  }
  return place.group * layout.group_size() + place.slot * layout.i + place.shard;
}

}  // namespace disttgl

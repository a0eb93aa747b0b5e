// DistTGL's parallel layout (Zhou et al., SC'23; ../shared/reference/disttgl.md §4): i
// mini-batch shards x j epoch slots x k memory groups, world size W = i*j*k, and the rank
// mapping r = g*(i*j) + u*i + s with memory group g in [0,k), epoch slot u in [0,j) and
// mini-batch shard s in [0,i). One layout string everywhere: "i=2,j=1,k=2".
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace disttgl {

struct ParallelLayout {
  std::int32_t i = 1;  ///< mini-batch parallelism: shards of one logical batch
  std::int32_t j = 1;  ///< epoch parallelism: slots training consecutive batches
  std::int32_t k = 1;  ///< memory parallelism: groups with their own node memory
  std::int32_t world_size() const { return i * j * k; }
  /// Ranks that share one memory group (and its daemon).
  std::int32_t group_size() const { return i * j; }
  bool operator==(const ParallelLayout&) const = default;
};

/// Where one rank sits in the layout.
struct RankPlace {
  std::int32_t group = 0;  ///< g in [0, k)
  std::int32_t slot = 0;   ///< u in [0, j)
  std::int32_t shard = 0;  ///< s in [0, i)
  bool operator==(const RankPlace&) const = default;
};

/// Largest factor a layout may have (a typo guard far above any cluster).
inline constexpr std::int32_t kMaxLayoutFactor = 4096;

/// Parses "i=2,j=1,k=2". Keys may come in any order and may be left out (a missing factor is
/// 1); each at most once. Throws ConfigError naming `field` and the offending part:
///   "--layout: 'x=2' is not i=N, j=N or k=N (in 'i=1,x=2')",
///   "--layout: j must be a whole number in [1, 4096], got '0'", "--layout: i given twice",
///   "--layout: empty", and when i*j*k exceeds kMaxLayoutFactor.
ParallelLayout parse_layout(const std::string& text, const std::string& field);

/// "i=2,j=1,k=2" (parse_layout's inverse).
std::string to_string(const ParallelLayout& layout);

/// Throws ConfigError "FIELD: layout i=2,j=1,k=2 needs a world size of 4 (i*j*k), got 3" unless
/// layout.world_size() == world_size.
void check_world_size(const ParallelLayout& layout, std::int64_t world_size,
                      const std::string& field);

/// The place of `rank` in [0, W). Throws ConfigError naming `field` for a rank outside.
RankPlace place_of(const ParallelLayout& layout, std::int64_t rank, const std::string& field);

/// The rank at `place` (each coordinate in range; ConfigError naming `field` otherwise).
std::int32_t rank_of(const ParallelLayout& layout, const RankPlace& place,
                     const std::string& field);

}  // namespace disttgl

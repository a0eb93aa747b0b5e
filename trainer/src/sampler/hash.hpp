// Counter-based hashing for the sampler's random draws: every draw is a pure function of its
// coordinates (seed, layer, node, time, draw index / event id, draw index), so results do not
// depend on thread count, batch split or call order. splitmix64 is Steele, Lea and Flood's
// finaliser (SplitMix, OOPSLA 2014), a bijection on 64 bits with full avalanche.
// Private to the sampler library.
#pragma once

#include <bit>
#include <cstdint>

namespace disttgl::trainer::detail {

inline constexpr std::uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += kGoldenGamma;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// Folds `value` into the running hash `h` (order-sensitive).
inline std::uint64_t hash_combine(std::uint64_t h, std::uint64_t value) {
  return splitmix64(h ^ splitmix64(value));
}

/// Bit pattern of a time with -0.0 folded onto +0.0, so equal times hash equally.
inline std::uint64_t time_bits(double t) {
  return std::bit_cast<std::uint64_t>(t == 0.0 ? 0.0 : t);
}

/// Maps a 64-bit hash to [0, range) for range >= 1 by the high half of h * range (Lemire,
/// "Fast random integer generation in an interval", 2019, without the rejection step): no
/// division, and a bias below range / 2^64, far under any measurable effect here.
inline std::int64_t bounded(std::uint64_t h, std::int64_t range) {
  __extension__ using Uint128 = unsigned __int128;  // GCC/Clang; __extension__ for -Wpedantic
  return static_cast<std::int64_t>((static_cast<Uint128>(h) * static_cast<std::uint64_t>(range)) >>
                                   64);
}

}  // namespace disttgl::trainer::detail

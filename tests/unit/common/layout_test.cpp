// DistTGL's (i, j, k) layout: parsing, world-size check and the rank mapping
// r = g*(i*j) + u*i + s, exhaustively for every layout with W <= 8.
#include "disttgl/common/layout.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "disttgl/common/error.hpp"

namespace disttgl {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_layout(text, "--layout");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Layout, ParsesAnyOrderAndDefaultsMissingFactorsToOne) {
  EXPECT_EQ(parse_layout("i=2,j=1,k=2", "f"), (ParallelLayout{2, 1, 2}));
  EXPECT_EQ(parse_layout("k=3,i=2", "f"), (ParallelLayout{2, 1, 3}));
  EXPECT_EQ(parse_layout("j=4", "f"), (ParallelLayout{1, 4, 1}));
  EXPECT_EQ(to_string(parse_layout("k=2,j=3,i=4", "f")), "i=4,j=3,k=2");
}

TEST(Layout, RefusesBadTextNamingTheFieldAndThePart) {
  EXPECT_EQ(error_of("i=0,j=1,k=1"), "--layout: i must be a whole number in [1, 4096], got '0'");
  EXPECT_EQ(error_of("i=1,j=-2"), "--layout: j must be a whole number in [1, 4096], got '-2'");
  EXPECT_EQ(error_of("k=1.5"), "--layout: k must be a whole number in [1, 4096], got '1.5'");
  EXPECT_EQ(error_of("k="), "--layout: k must be a whole number in [1, 4096], got ''");
  EXPECT_EQ(error_of("i=1,x=2"), "--layout: 'x=2' is not i=N, j=N or k=N (in 'i=1,x=2')");
  EXPECT_EQ(error_of("i=2,i=2"), "--layout: i given twice (in 'i=2,i=2')");
  EXPECT_EQ(error_of("i2"), "--layout: 'i2' is not i=N, j=N or k=N (in 'i2')");
  EXPECT_EQ(error_of("i=2,"), "--layout: trailing ',' (in 'i=2,')");
  EXPECT_EQ(error_of(""), "--layout: empty (expected e.g. i=2,j=1,k=2)");
  EXPECT_EQ(error_of("i=64,j=64,k=2"),
            "--layout: i*j*k = 8192 exceeds 4096 ranks (in 'i=64,j=64,k=2')");
}

TEST(Layout, WorldSizeMustMatch) {
  const ParallelLayout l{2, 1, 2};
  check_world_size(l, 4, "DISTTGL_WORLD_SIZE");
  try {
    check_world_size(l, 3, "DISTTGL_WORLD_SIZE");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "DISTTGL_WORLD_SIZE: layout i=2,j=1,k=2 needs a world size of 4 (i*j*k), got 3");
  }
}

// Every layout with W <= 8: the mapping is a bijection onto [0, W), matches DistTGL's formula,
// ranks of one memory group are contiguous, and out-of-range ranks and places are refused.
TEST(Layout, RankMappingIsDistTglsBijectionForEveryLayoutUpToEightRanks) {
  int layouts = 0;
  for (std::int32_t i = 1; i <= 8; ++i) {
    for (std::int32_t j = 1; i * j <= 8; ++j) {
      for (std::int32_t k = 1; i * j * k <= 8; ++k) {
        const ParallelLayout l{i, j, k};
        ++layouts;
        std::set<std::int32_t> ranks;
        for (std::int32_t g = 0; g < k; ++g) {
          for (std::int32_t u = 0; u < j; ++u) {
            for (std::int32_t s = 0; s < i; ++s) {
              const std::int32_t r = rank_of(l, {g, u, s}, "f");
              EXPECT_EQ(r, g * (i * j) + u * i + s);
              EXPECT_EQ(place_of(l, r, "f"), (RankPlace{g, u, s}));
              EXPECT_GE(r, g * l.group_size());
              EXPECT_LT(r, (g + 1) * l.group_size());
              ranks.insert(r);
            }
          }
        }
        EXPECT_EQ(static_cast<std::int32_t>(ranks.size()), l.world_size());
        EXPECT_EQ(*ranks.rbegin(), l.world_size() - 1);
        EXPECT_THROW(place_of(l, l.world_size(), "f"), ConfigError);
        EXPECT_THROW(place_of(l, -1, "f"), ConfigError);
        EXPECT_THROW(rank_of(l, {k, 0, 0}, "f"), ConfigError);
        EXPECT_THROW(rank_of(l, {0, j, 0}, "f"), ConfigError);
        EXPECT_THROW(rank_of(l, {0, 0, i}, "f"), ConfigError);
        EXPECT_EQ(parse_layout(to_string(l), "f"), l);
      }
    }
  }
  EXPECT_EQ(layouts, 38);  // ordered triples with product <= 8
}

}  // namespace
}  // namespace disttgl

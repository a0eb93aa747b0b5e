// id_overlap and the warning for a jodie file (bipartite by default) whose two id columns
// share ids.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <numeric>
#include <sstream>

#include "data_test_util.hpp"
#include "disttgl/trainer/data/id_overlap.hpp"
#include "disttgl/trainer/data/import.hpp"

namespace disttgl::trainer {
namespace {

std::vector<std::int64_t> range(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(last - first + 1));
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

TEST(IdOverlap, DisjointColumns) {
  const IdOverlap o =
      id_overlap(std::vector<std::int64_t>{1, 2, 3, 1}, std::vector<std::int64_t>{4, 5, 5});
  EXPECT_EQ(o.sources, 3);
  EXPECT_EQ(o.destinations, 2);
  EXPECT_EQ(o.shared, 0);
  EXPECT_EQ(o.bipartite_nodes(), 5);
  EXPECT_EQ(o.one_space_nodes(), 5);
  EXPECT_FALSE(o.suggests_one_id_space());
}

TEST(IdOverlap, SameIdsOnBothSidesCountOnce) {
  const IdOverlap o =
      id_overlap(std::vector<std::int64_t>{3, 1, 2, 2}, std::vector<std::int64_t>{2, 3, 1, 1, 3});
  EXPECT_EQ(o.sources, 3);
  EXPECT_EQ(o.destinations, 3);
  EXPECT_EQ(o.shared, 3);
  EXPECT_EQ(o.bipartite_nodes(), 6);
  EXPECT_EQ(o.one_space_nodes(), 3);
  EXPECT_TRUE(o.suggests_one_id_space());
}

TEST(IdOverlap, ThresholdIsATenthOfTheSmallerSet) {
  // 10 sources, 20 destinations, 1 shared: exactly a tenth of the smaller set.
  const IdOverlap at = id_overlap(range(0, 9), range(9, 28));
  EXPECT_EQ(at.sources, 10);
  EXPECT_EQ(at.destinations, 20);
  EXPECT_EQ(at.shared, 1);
  EXPECT_TRUE(at.suggests_one_id_space());
  // 11 sources: 1 shared is less than a tenth.
  const IdOverlap below = id_overlap(range(0, 10), range(10, 29));
  EXPECT_EQ(below.sources, 11);
  EXPECT_EQ(below.shared, 1);
  EXPECT_FALSE(below.suggests_one_id_space());
  // The smaller side decides: 2 of 20 destinations shared with 1000 sources.
  const IdOverlap small_side = id_overlap(range(0, 999), range(998, 1017));
  EXPECT_EQ(small_side.destinations, 20);
  EXPECT_EQ(small_side.shared, 2);
  EXPECT_TRUE(small_side.suggests_one_id_space());
}

TEST(IdOverlap, EmptyColumns) {
  const IdOverlap o = id_overlap({}, {});
  EXPECT_EQ(o.sources, 0);
  EXPECT_EQ(o.destinations, 0);
  EXPECT_EQ(o.shared, 0);
  EXPECT_FALSE(o.suggests_one_id_space());
}

// Captures what the data layer logs at warn level and above while alive.
class WarningCapture {
 public:
  WarningCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    sink->set_pattern("%v");
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::warn);
    spdlog::set_default_logger(logger);
  }
  WarningCapture(const WarningCapture&) = delete;
  WarningCapture& operator=(const WarningCapture&) = delete;
  ~WarningCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return text_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream text_;
};

// Users 1, 2, 3 and items 2, 1: two ids on both sides.
constexpr const char* kSharedJodie = "u,i,ts,label\n1,2,1,0\n2,1,2,0\n3,1,3,0\n";

TEST(SharedIdWarning, JodieFileWithSharedIdsWarnsWithTheNumbers) {
  test::TempDir tmp;
  test::write_file(tmp.file("shared.csv"), kSharedJodie);
  WarningCapture capture;
  const Dataset d = import_dataset(tmp.file("shared.csv"));
  EXPECT_TRUE(d.bipartite);
  EXPECT_EQ(d.num_nodes, 5);
  EXPECT_EQ(d.num_src_nodes, 3);
  EXPECT_EQ(capture.text(),
            "import: " + tmp.file("shared.csv") +
                ": 2 ids occur in both columns (3 source ids, 2 destination ids); read as "
                "bipartite (5 nodes). If the two columns share one id space, use --general (3 "
                "nodes)\n");
}

TEST(SharedIdWarning, NoWarningWhenTheNumberingWasChosen) {
  test::TempDir tmp;
  test::write_file(tmp.file("shared.csv"), kSharedJodie);
  WarningCapture capture;
  ImportOptions general;
  general.general = true;
  EXPECT_EQ(import_dataset(tmp.file("shared.csv"), general).num_nodes, 3);
  ImportOptions bipartite;
  bipartite.bipartite = true;
  EXPECT_EQ(import_dataset(tmp.file("shared.csv"), bipartite).num_nodes, 5);
  EXPECT_EQ(capture.text(), "");
}

TEST(SharedIdWarning, NoWarningForDisjointUsersAndItems) {
  WarningCapture capture;
  // Users 7, 3 and items 0, 2.
  EXPECT_EQ(import_dataset(test::fixture("jodie_small.csv")).num_nodes, 4);
  EXPECT_EQ(capture.text(), "");
}

}  // namespace
}  // namespace disttgl::trainer

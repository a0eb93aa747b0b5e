// Stable time sort, remap-after-sort and the quantile split.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "data_test_util.hpp"
#include "disttgl/trainer/data/import.hpp"
#include "disttgl/trainer/data/prepared.hpp"

namespace disttgl::trainer {
namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// Indices of CollegeMsg rows whose timestamp no other row shares, so moving them cannot
// change the stable order of tied rows.
std::vector<std::size_t> unique_time_rows(const std::vector<std::string>& lines) {
  std::map<std::string, int> count;
  std::vector<std::string> times;
  for (const auto& line : lines) {
    times.push_back(line.substr(line.rfind(' ') + 1));
    ++count[times.back()];
  }
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (count[times[i]] == 1) rows.push_back(i);
  }
  return rows;
}

TEST(Reorder, UnsortedCollegeMsgGivesTheSamePreparedDataset) {
  test::TempDir tmp;
  const std::string sorted_path = test::shared_dataset("collegemsg/CollegeMsg.txt");
  std::vector<std::string> lines = split_lines(test::read_file(sorted_path));
  ASSERT_EQ(lines.size(), 59835U);
  const std::vector<std::size_t> unique = unique_time_rows(lines);
  ASSERT_GT(unique.size(), 50000U);
  // Three disjoint swaps of unique-time rows: each moves exactly 2 rows.
  const std::pair<std::size_t, std::size_t> swaps[] = {
      {unique[10], unique[20000]}, {unique[30000], unique[30001]}, {unique[40000], unique[50000]}};
  for (const auto& [a, b] : swaps) std::swap(lines[a], lines[b]);
  const std::string shuffled_path = tmp.file("CollegeMsg.txt");
  test::write_file(shuffled_path, join_lines(lines));

  const Dataset sorted = import_dataset(sorted_path);
  const Dataset shuffled = import_dataset(shuffled_path);
  EXPECT_EQ(sorted.reordered_rows, 0);
  EXPECT_EQ(shuffled.reordered_rows, 6);
  test::expect_same_dataset(shuffled, sorted, /*same_provenance=*/false);

  // The same holds for the prepared files on disk.
  write_prepared(sorted, tmp.file("sorted_out"));
  write_prepared(shuffled, tmp.file("shuffled_out"));
  const Dataset sorted_loaded = load_prepared(tmp.file("sorted_out"));
  const Dataset shuffled_loaded = load_prepared(tmp.file("shuffled_out"));
  test::expect_same_dataset(shuffled_loaded, sorted_loaded, /*same_provenance=*/false);
  EXPECT_EQ(shuffled_loaded.reordered_rows, 6);
}

TEST(Reorder, MovingOneRowShiftsEveryRowInBetween) {
  test::TempDir tmp;
  std::vector<std::string> lines =
      split_lines(test::read_file(test::shared_dataset("collegemsg/CollegeMsg.txt")));
  const std::vector<std::size_t> unique = unique_time_rows(lines);
  // Move a late unique-time row to the front: it and every row before its old position
  // change position.
  const std::size_t from = unique[30000];
  const std::string moved = lines[from];
  lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(from));
  lines.insert(lines.begin(), moved);
  test::write_file(tmp.file("moved.txt"), join_lines(lines));
  const Dataset d = import_dataset(tmp.file("moved.txt"));
  EXPECT_EQ(d.reordered_rows, static_cast<std::int64_t>(from) + 1);
  test::expect_same_dataset(d, import_dataset(test::shared_dataset("collegemsg/CollegeMsg.txt")),
                            /*same_provenance=*/false);
}

TEST(Reorder, TiesKeepFileOrder) {
  test::TempDir tmp;
  // Rows 1..3 tie at t=5 and must stay in file order after row 4 (t=1) moves first.
  test::write_file(tmp.file("ties.txt"), "1 2 5\n3 4 5\n5 6 5\n7 8 1\n");
  const Dataset d = import_dataset(tmp.file("ties.txt"));
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{1, 5, 5, 5}));
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{7, 8, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 2, 4, 6}));
  EXPECT_EQ(d.reordered_rows, 4);
}

TEST(QuantileSplit, MatchesNumpyLinear) {
  // np.quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [0.7, 0.85]) = [7.3, 8.65]
  const std::vector<Timestamp> ts = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const Split split = quantile_split(ts, 0.70, 0.85);
  EXPECT_EQ(split.source, "quantile");
  EXPECT_EQ(split.val_time, 7.3);
  EXPECT_EQ(split.test_time, 8.649999999999999);  // numpy repr, bit-exact
  EXPECT_EQ(split.train_end, 7);
  EXPECT_EQ(split.val_end, 8);
}

TEST(QuantileSplit, EdgeCases) {
  EXPECT_EQ(quantile_split({}, 0.7, 0.85).train_end, 0);
  const Split one = quantile_split({4.0}, 0.7, 0.85);
  EXPECT_EQ(one.val_time, 4.0);
  EXPECT_EQ(one.train_end, 1);
  EXPECT_EQ(one.val_end, 1);
  // All times tied: everything is <= val_time, so all events are training events.
  const Split tied = quantile_split({3, 3, 3, 3}, 0.7, 0.85);
  EXPECT_EQ(tied.train_end, 4);
  EXPECT_EQ(tied.val_end, 4);
  // q = 0 and q = 1 give the first and last time.
  const Split bounds = quantile_split({1, 2, 3}, 0.0, 1.0);
  EXPECT_EQ(bounds.val_time, 1.0);
  EXPECT_EQ(bounds.test_time, 3.0);
  EXPECT_EQ(bounds.train_end, 1);
  EXPECT_EQ(bounds.val_end, 3);
}

}  // namespace
}  // namespace disttgl::trainer

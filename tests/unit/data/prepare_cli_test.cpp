// `disttgl-trainer prepare` through the real binary: the shared datasets, exit code 2 with
// no output left for every bad input, and replacement of an earlier output only on success.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bad_inputs.hpp"
#include "data_test_util.hpp"
#include "disttgl/trainer/data/prepared.hpp"

namespace disttgl::trainer {
namespace {

std::string quoted(const std::string& text) { return "'" + text + "'"; }

struct SharedCase {
  std::string label;
  std::string file;
  std::int64_t nodes;
  std::int64_t events;
  bool bipartite;
  std::int64_t train, val, test;
  std::string summary;  // the expected stdout
};

void PrintTo(const SharedCase& c, std::ostream* os) { *os << c.label; }

class PrepareShared : public ::testing::TestWithParam<SharedCase> {};

TEST_P(PrepareShared, WritesTheDatasetAndPrintsASummary) {
  const SharedCase& c = GetParam();
  test::TempDir tmp;
  const std::string out = tmp.file("out");
  const test::CommandResult result = test::run_trainer(
      "prepare --input " + quoted(test::shared_dataset(c.file)) + " --output " + quoted(out),
      tmp.path() / "logs");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, test::expand(c.summary, out, ""));
  EXPECT_EQ(test::list_dir(tmp.path()), (std::vector<std::string>{"logs", "out"}));

  const auto json = nlohmann::json::parse(test::read_file(out + "/dataset.json"));
  EXPECT_EQ(json["num_nodes"], c.nodes);
  EXPECT_EQ(json["num_events"], c.events);
  EXPECT_EQ(json["bipartite"], c.bipartite);
  EXPECT_EQ(json["split"]["train"], c.train);
  EXPECT_EQ(json["split"]["val"], c.val);
  EXPECT_EQ(json["split"]["test"], c.test);
  EXPECT_EQ(json["reordered_rows"], 0);
  EXPECT_EQ(json["source_file"], test::shared_dataset(c.file));

  const Dataset d = load_prepared(out);
  EXPECT_EQ(d.num_nodes, c.nodes);
  EXPECT_EQ(d.num_events(), c.events);
  EXPECT_EQ(d.num_train(), c.train);
  EXPECT_EQ(d.num_val(), c.val);
  EXPECT_EQ(d.num_test(), c.test);
}

INSTANTIATE_TEST_SUITE_P(
    Cli, PrepareShared,
    ::testing::Values(
        SharedCase{"wikipedia", "wikipedia/wikipedia.csv", 9227, 157474, true, 110232, 23621, 23621,
                   "prepared wikipedia (jodie) -> {p}\n"
                   "  nodes      9227 (bipartite: 8227 sources + 1000 destinations)\n"
                   "  events     157474 over a time span of 2678373\n"
                   "  features   edge 0, node 0\n"
                   "  split      train 110232 / val 23621 / test 23621 (quantile)\n"
                   "  reordered  0 rows\n"},
        SharedCase{"collegemsg", "collegemsg/CollegeMsg.txt", 1899, 59835, false, 41884, 8975, 8976,
                   "prepared CollegeMsg (snap) -> {p}\n"
                   "  nodes      1899 (not bipartite)\n"
                   "  events     59835 over a time span of 16736181\n"
                   "  features   edge 0, node 0\n"
                   "  split      train 41884 / val 8975 / test 8976 (quantile)\n"
                   "  reordered  0 rows\n"},
        SharedCase{"enron", "enron/ml_enron.csv", 184, 125235, false, 87664, 18786, 18785,
                   "prepared enron (dyglib) -> {p}\n"
                   "  nodes      184 (not bipartite)\n"
                   "  events     125235 over a time span of 113740399\n"
                   "  features   edge 0, node 0\n"
                   "  split      train 87664 / val 18786 / test 18785 (quantile)\n"
                   "  reordered  0 rows\n"},
        SharedCase{"canparl", "canparl/ml_CanParl.csv", 734, 74478, false, 52556, 11809, 10113,
                   "prepared CanParl (dyglib) -> {p}\n"
                   "  nodes      734 (not bipartite)\n"
                   "  events     74478 over a time span of 410227200\n"
                   "  features   edge 0, node 0\n"
                   "  split      train 52556 / val 11809 / test 10113 (quantile)\n"
                   "  reordered  0 rows\n"}),
    [](const auto& param_info) { return param_info.param.label; });

class PrepareBadInput : public ::testing::TestWithParam<test::BadInput> {};

TEST_P(PrepareBadInput, ExitsTwoAndLeavesNoOutput) {
  const test::BadInput& bad = GetParam();
  test::TempDir tmp;
  const std::string input = tmp.file(bad.file);
  test::write_file(input, bad.content);
  for (const auto& [name, content] : bad.extra_files) test::write_file(tmp.file(name), content);
  const std::string out = tmp.file("out");
  test::expect_prepare_fails(
      tmp,
      "prepare --input " + quoted(input) + " --format " + bad.format + " --output " + quoted(out),
      test::expand(bad.message, input, tmp.path().string()));
}

// One case per kind of bad input: every process start loads LibTorch (about 1 s), and
// validation_test.cpp already checks every case of the table in-process.
std::vector<test::BadInput> cli_cases() {
  const std::vector<std::string> names = {
      "jodie_column_count",    "jodie_non_numeric_id", "jodie_nan_ts",
      "jodie_nan_feature",     "jodie_negative_id",    "empty_file",
      "jodie_header_only",     "jodie_fewer_features", "tgl_ext_roll_order",
      "tgl_edge_feature_rows", "dyglib_padding_id",    "snap_two_columns"};
  std::vector<test::BadInput> cases;
  for (const std::string& name : names) {
    const auto& all = test::bad_inputs();
    const auto it = std::find_if(all.begin(), all.end(),
                                 [&name](const test::BadInput& bad) { return bad.name == name; });
    if (it != all.end()) cases.push_back(*it);
  }
  EXPECT_EQ(cases.size(), names.size());
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cli, PrepareBadInput, ::testing::ValuesIn(cli_cases()),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(PrepareCli, FailedRunKeepsTheEarlierOutputAndSuccessReplacesIt) {
  test::TempDir tmp;
  const std::string out = tmp.file("out");
  const auto logs = tmp.path() / "logs";
  ASSERT_EQ(test::run_trainer("prepare --input " + quoted(test::fixture("snap_small.txt")) +
                                  " --output " + quoted(out),
                              logs)
                .exit_code,
            0);
  const std::string first_bin = test::read_file(out + "/dataset.bin");

  test::write_file(tmp.file("bad.txt"), "1 2 3\n4 5\n");
  const test::CommandResult failed = test::run_trainer(
      "prepare --input " + quoted(tmp.file("bad.txt")) + " --output " + quoted(out), logs);
  EXPECT_EQ(failed.exit_code, 2);
  EXPECT_EQ(test::read_file(out + "/dataset.bin"), first_bin);

  ASSERT_EQ(test::run_trainer("prepare --input " + quoted(test::fixture("ml_tiny.csv")) +
                                  " --output " + quoted(out),
                              logs)
                .exit_code,
            0);
  EXPECT_EQ(load_prepared(out).name, "tiny");
  EXPECT_EQ(test::list_dir(tmp.path()), (std::vector<std::string>{"bad.txt", "logs", "out"}));
}

TEST(PrepareCli, OptionsReachTheImporter) {
  test::TempDir tmp;
  const std::string out = tmp.file("out");
  const test::CommandResult result = test::run_trainer(
      "prepare --input " + quoted(test::fixture("snap_small.txt")) + " --format snap --output " +
          quoted(out) + " --val-quantile 0.25 --test-quantile 0.5 --bipartite",
      tmp.path() / "logs");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Dataset d = load_prepared(out);
  EXPECT_TRUE(d.bipartite);
  EXPECT_EQ(d.num_nodes, 6);
  // np.quantile([999, 1000, 1001, 1001], [0.25, 0.5]) = [999.75, 1000.5].
  EXPECT_EQ(d.split.val_time, 999.75);
  EXPECT_EQ(d.split.test_time, 1000.5);
  EXPECT_EQ(d.num_train(), 1);
  EXPECT_EQ(d.num_val(), 1);
  EXPECT_EQ(d.num_test(), 2);
  EXPECT_EQ(d.reordered_rows, 2);
}

TEST(PrepareCli, BadFlagsExitTwo) {
  test::TempDir tmp;
  const std::string out = tmp.file("out");
  const test::CommandResult quantile =
      test::run_trainer("prepare --input " + quoted(test::fixture("snap_small.txt")) +
                            " --output " + quoted(out) + " --val-quantile 0.9",
                        tmp.path() / "logs");
  EXPECT_EQ(quantile.exit_code, 2);
  EXPECT_EQ(
      quantile.err,
      "disttgl-trainer: error: --val-quantile (0.9) must not exceed --test-quantile (0.85)\n");
  const test::CommandResult format =
      test::run_trainer("prepare --input " + quoted(test::fixture("snap_small.txt")) +
                            " --output " + quoted(out) + " --format csv",
                        tmp.path() / "logs");
  EXPECT_EQ(format.exit_code, 2);
  const test::CommandResult both =
      test::run_trainer("prepare --input " + quoted(test::fixture("snap_small.txt")) +
                            " --output " + quoted(out) + " --bipartite --general",
                        tmp.path() / "logs");
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_EQ(both.err, "disttgl-trainer: error: --bipartite and --general exclude each other\n");
  const test::CommandResult missing =
      test::run_trainer("prepare --output " + quoted(out), tmp.path() / "logs");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(PrepareCli, RefusesToReplaceANonDatasetDirectory) {
  test::TempDir tmp;
  std::filesystem::create_directories(tmp.path() / "precious");
  test::write_file(tmp.file("precious/notes.txt"), "keep me");
  const test::CommandResult result =
      test::run_trainer("prepare --input " + quoted(test::fixture("ml_tiny.csv")) + " --output " +
                            quoted(tmp.file("precious")),
                        tmp.path() / "logs");
  EXPECT_EQ(result.exit_code, 74);
  EXPECT_EQ(result.err, "disttgl-trainer: error: " + tmp.file("precious") +
                            " exists and is not a prepared dataset directory; not replacing it\n");
  EXPECT_EQ(test::read_file(tmp.file("precious/notes.txt")), "keep me");
}

}  // namespace
}  // namespace disttgl::trainer

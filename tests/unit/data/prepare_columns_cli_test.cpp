// `disttgl-trainer prepare --columns/--delimiter/--header` through the real binary: a
// SNAP-like file, gzip, exit code 2 with no output left for every bad input or mapping, the
// undetectable-file hint, and the warning for a jodie file whose columns share ids.
#include <gtest/gtest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include "bad_columns.hpp"
#include "bad_inputs.hpp"
#include "data_test_util.hpp"
#include "disttgl/trainer/data/prepared.hpp"

namespace disttgl::trainer {
namespace {

std::string quoted(const std::string& text) { return "'" + text + "'"; }

TEST(PrepareColumnsCli, SnapSignedLayout) {
  test::TempDir tmp;
  test::write_file(tmp.file("signed.csv"),
                   "6,2,4,1289241911.5\n6,5,2,1289241941.5\n1,15,1,1289243140\n"
                   "4,3,-7,1289241000.5\n13,16,8,1289245277\n");
  const std::string out = tmp.file("out");
  const test::CommandResult result =
      test::run_trainer("prepare --input " + quoted(tmp.file("signed.csv")) + " --output " +
                            quoted(out) + " --columns src,dst,feat,time --delimiter ,",
                        tmp.path() / "logs");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "prepared signed (columns) -> " + out +
                            "\n"
                            "  nodes      9 (not bipartite)\n"
                            "  events     5 over a time span of 4276.5\n"
                            "  features   edge 1, node 0\n"
                            "  split      train 3 / val 1 / test 1 (quantile)\n"
                            "  reordered  4 rows\n");
  const Dataset d = load_prepared(out);
  EXPECT_EQ(d.source_format, "columns");
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{1289241000.5, 1289241911.5, 1289241941.5, 1289243140,
                                          1289245277}));
  EXPECT_EQ(d.edge_features, (std::vector<float>{-7.0F, 4.0F, 2.0F, 1.0F, 8.0F}));
  const auto json = nlohmann::json::parse(test::read_file(out + "/dataset.json"));
  EXPECT_EQ(json["source_format"], "columns");
  EXPECT_EQ(json["num_nodes"], 9);
}

TEST(PrepareColumnsCli, GzipTabSeparatedWithHeader) {
  test::TempDir tmp;
  const std::string text = "a\tb\tlabel\tt\n1\t2\t1\t7\n2\t3\t0\t3\n3\t1\t1\t5\n";
  const std::string path = tmp.file("edges.tsv.gz");
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  gzwrite(file, text.data(), static_cast<unsigned>(text.size()));
  ASSERT_EQ(gzclose(file), Z_OK);
  const std::string out = tmp.file("out");
  const test::CommandResult result = test::run_trainer(
      "prepare --input " + quoted(path) + " --output " + quoted(out) +
          " --columns src,dst,label,time --delimiter '\\t' --header --val-quantile 0.5",
      tmp.path() / "logs");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Dataset d = load_prepared(out);
  EXPECT_EQ(d.name, "edges");
  EXPECT_EQ(d.num_events(), 3);
  EXPECT_EQ(d.num_nodes, 3);
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{3, 5, 7}));
  EXPECT_EQ(d.label, (std::vector<std::int32_t>{0, 1, 1}));
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{2, 3, 1}));
}

TEST(PrepareColumnsCli, BipartiteOption) {
  test::TempDir tmp;
  test::write_file(tmp.file("s.txt"), "1 2  1\n2   1 2\n");
  const std::string out = tmp.file("out");
  const test::CommandResult result =
      test::run_trainer("prepare --input " + quoted(tmp.file("s.txt")) + " --output " +
                            quoted(out) + " --columns src,dst,time --delimiter space --bipartite",
                        tmp.path() / "logs");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Dataset d = load_prepared(out);
  EXPECT_TRUE(d.bipartite);
  EXPECT_EQ(d.num_nodes, 4);
  EXPECT_EQ(d.num_src_nodes, 2);
}

class PrepareBadColumns : public ::testing::TestWithParam<test::BadColumns> {};

TEST_P(PrepareBadColumns, ExitsTwoAndLeavesNoOutput) {
  const test::BadColumns& bad = GetParam();
  test::TempDir tmp;
  const std::string input = tmp.file("in.csv");
  test::write_file(input, bad.content);
  const std::string out = tmp.file("out");
  test::expect_prepare_fails(tmp,
                             "prepare --input " + quoted(input) + " --output " + quoted(out) +
                                 " --columns " + quoted(bad.columns) + " --delimiter " +
                                 quoted(bad.delimiter) +
                                 (bad.header ? " --header" : " --no-header"),
                             test::expand(bad.message, input, tmp.path().string()));
}

INSTANTIATE_TEST_SUITE_P(Cli, PrepareBadColumns, ::testing::ValuesIn(test::bad_columns()),
                         [](const auto& param_info) { return param_info.param.name; });

// Flags that do not go together exit 2 before anything is read or written.
TEST(PrepareColumnsCli, FlagsThatDoNotGoTogether) {
  test::TempDir tmp;
  test::write_file(tmp.file("s.csv"), "1,2,3\n");
  const std::string base =
      "prepare --input " + quoted(tmp.file("s.csv")) + " --output " + quoted(tmp.file("out")) + " ";
  const auto logs = tmp.path() / "logs";
  const test::CommandResult with_format =
      test::run_trainer(base + "--columns src,dst,time --format jodie", logs);
  EXPECT_EQ(with_format.exit_code, 2);
  EXPECT_EQ(with_format.err,
            "disttgl-trainer: error: --columns cannot be combined with --format jodie (--columns "
            "is a format of its own)\n");
  const test::CommandResult header = test::run_trainer(base + "--header", logs);
  EXPECT_EQ(header.exit_code, 2);
  EXPECT_EQ(header.err, "disttgl-trainer: error: --header applies only with --columns\n");
  const test::CommandResult delimiter = test::run_trainer(base + "--delimiter tab", logs);
  EXPECT_EQ(delimiter.exit_code, 2);
  EXPECT_EQ(delimiter.err.substr(0, delimiter.err.find('\n')), "--delimiter requires --columns");
  const test::CommandResult empty = test::run_trainer(base + "--columns ''", logs);
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_EQ(empty.err.substr(0, empty.err.find('\n')),
            "--columns: empty; expected roles such as src,dst,time");
  EXPECT_FALSE(std::filesystem::exists(tmp.file("out")));
}

TEST(PrepareColumnsCli, UndetectableFileShowsTheColumnsOption) {
  test::TempDir tmp;
  test::write_file(tmp.file("signed.csv"), "6,2,4,1289241911.72836\n");
  const test::CommandResult result = test::run_trainer(
      "prepare --input " + quoted(tmp.file("signed.csv")) + " --output " + quoted(tmp.file("out")),
      tmp.path() / "logs");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err, "disttgl-trainer: error: " + tmp.file("signed.csv") +
                            ": cannot detect the format from the first line "
                            "'6,2,4,1289241911.72836'; choose one with --format "
                            "jodie|tgl|dyglib|snap, or map the columns with --columns "
                            "src,dst,time[,label][,feat...] (e.g. --columns src,dst,skip,time "
                            "--delimiter ,)\n");
  EXPECT_FALSE(std::filesystem::exists(tmp.file("out")));
}

// A JODIE-layout file whose users and items are one id space: read as bipartite, as
// documented, with a warning that gives the numbers; --general takes it away.
TEST(PrepareColumnsCli, JodieFileWithSharedIdsWarns) {
  test::TempDir tmp;
  std::string text = "source,destination,timestamp,state_label\n";
  for (int i = 0; i < 40; ++i) {
    text += std::to_string(i % 20) + "," + std::to_string((i * 7 + 3) % 20) + "," +
            std::to_string(i) + ",0\n";
  }
  test::write_file(tmp.file("votes.csv"), text);
  const std::string out = tmp.file("out");
  const test::CommandResult result = test::run_trainer(
      "prepare --input " + quoted(tmp.file("votes.csv")) + " --output " + quoted(out),
      tmp.path() / "logs");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string warning = "[warning] import: " + tmp.file("votes.csv") +
                              ": 20 ids occur in both columns (20 source ids, 20 destination "
                              "ids); read as bipartite (40 nodes). If the two columns share one "
                              "id space, use --general (20 nodes)\n";
  EXPECT_NE(result.err.find(warning), std::string::npos) << result.err;
  EXPECT_NE(result.out.find("  nodes      40 (bipartite: 20 sources + 20 destinations)\n"),
            std::string::npos)
      << result.out;

  const test::CommandResult general =
      test::run_trainer("prepare --input " + quoted(tmp.file("votes.csv")) + " --output " +
                            quoted(out) + " --general",
                        tmp.path() / "logs");
  ASSERT_EQ(general.exit_code, 0) << general.err;
  EXPECT_EQ(general.err.find("[warning]"), std::string::npos) << general.err;
  EXPECT_NE(general.out.find("  nodes      20 (not bipartite)\n"), std::string::npos);
}

}  // namespace
}  // namespace disttgl::trainer

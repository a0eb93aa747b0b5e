// The general delimited importer (ImportOptions::columns, `prepare --columns`): every role,
// delimiters, header, gzip, and the exact message of every bad input or mapping.
#include <gtest/gtest.h>
#include <zlib.h>

#include <set>

#include "bad_columns.hpp"
#include "bad_inputs.hpp"
#include "data_test_util.hpp"
#include "disttgl/trainer/data/import.hpp"

namespace disttgl::trainer {
namespace {

ImportOptions columns(const std::string& roles, const std::string& delimiter = ",",
                      bool header = false) {
  ImportOptions options;
  options.columns.roles = roles;
  options.columns.delimiter = delimiter;
  options.columns.header = header;
  return options;
}

void write_gzip(const std::string& path, const std::string& text) {
  gzFile out = gzopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(gzwrite(out, text.data(), static_cast<unsigned>(text.size())),
            static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(out), Z_OK);
}

// SNAP's signed networks (soc-sign-bitcoin*): SOURCE,TARGET,RATING,TIME, no header. Row 3
// is the earliest, so the sorted order is rows 3,0,1,2,4.
constexpr const char* kSigned =
    "6,2,4,1289241911.72836\n"
    "6,5,2,1289241941.53378\n"
    "1,15,1,1289243140.39148\n"
    "4,3,-7,1289241000.5\n"
    "13,16,8,1289245277.36975\n";

void expect_signed_events(const Dataset& d) {
  EXPECT_EQ(d.source_format, "columns");
  EXPECT_FALSE(d.bipartite);
  EXPECT_EQ(d.num_events(), 5);
  // First appearance in time order: 4 3 | 6 2 | 5 | 1 15 | 13 16.
  EXPECT_EQ(d.num_nodes, 9);
  EXPECT_EQ(d.num_src_nodes, 9);
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{4, 3, 6, 2, 5, 1, 15, 13, 16}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 2, 2, 5, 7}));
  EXPECT_EQ(d.dst, (std::vector<NodeId>{1, 3, 4, 6, 8}));
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{1289241000.5, 1289241911.72836, 1289241941.53378,
                                          1289243140.39148, 1289245277.36975}));
  EXPECT_EQ(d.label, (std::vector<std::int32_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(d.reordered_rows, 4);
}

TEST(ImportColumns, SnapSignedLayoutWithTheRatingAsAFeature) {
  test::TempDir tmp;
  test::write_file(tmp.file("signed.csv"), kSigned);
  const Dataset d = import_dataset(tmp.file("signed.csv"), columns("src,dst,feat,time"));
  expect_signed_events(d);
  EXPECT_EQ(d.name, "signed");
  EXPECT_EQ(d.source_file, tmp.file("signed.csv"));
  EXPECT_EQ(d.edge_feature_dim, 1);
  EXPECT_EQ(d.edge_features, (std::vector<float>{-7.0F, 4.0F, 2.0F, 1.0F, 8.0F}));
}

TEST(ImportColumns, SnapSignedLayoutWithTheRatingSkipped) {
  test::TempDir tmp;
  test::write_file(tmp.file("signed.csv"), kSigned);
  const Dataset d = import_dataset(tmp.file("signed.csv"), columns("src,dst,skip,time"));
  expect_signed_events(d);
  EXPECT_EQ(d.edge_feature_dim, 0);
  EXPECT_TRUE(d.edge_features.empty());
}

// A SNAP-like file of 2000 rows: row i is (1000 + i % 500, 3i mod 700, i mod 21 - 10,
// 7919i mod 2000 + 0.25). The sources (1000..1499) and destinations (0..699) are disjoint,
// and the times are a permutation of k + 0.25: sorted event k comes from row 1679k mod 2000
// (1679 = 7919^-1 mod 2000).
TEST(ImportColumns, SnapLikeFileCountsAndSortedTimes) {
  test::TempDir tmp;
  std::string text;
  for (int i = 0; i < 2000; ++i) {
    text += std::to_string(1000 + i % 500) + "," + std::to_string(3 * i % 700) + "," +
            std::to_string(i % 21 - 10) + "," + std::to_string(7919 * i % 2000) + ".25\n";
  }
  test::write_file(tmp.file("soc-sign-like.csv"), text);
  const Dataset d = import_dataset(tmp.file("soc-sign-like.csv"), columns("src,dst,feat,time"));
  EXPECT_EQ(d.name, "soc-sign-like");
  EXPECT_EQ(d.num_events(), 2000);
  EXPECT_EQ(d.num_nodes, 1200);
  EXPECT_EQ(d.reordered_rows, 1998);  // all rows but 0 and 1000 (7919 * 1000 = 1000 mod 2000)
  EXPECT_EQ(d.edge_feature_dim, 1);
  for (std::int64_t k = 0; k < 2000; ++k) {
    const auto e = static_cast<std::size_t>(k);
    const std::int64_t row = 1679 * k % 2000;
    ASSERT_EQ(d.ts[e], static_cast<double>(k) + 0.25) << k;
    ASSERT_EQ(d.original_ids[static_cast<std::size_t>(d.src[e])], 1000 + row % 500) << k;
    ASSERT_EQ(d.original_ids[static_cast<std::size_t>(d.dst[e])], 3 * row % 700) << k;
    ASSERT_EQ(d.edge_features[e], static_cast<float>(row % 21 - 10)) << k;
  }
  // 0.7 and 0.85 quantiles of 0.25..1999.25: train 1400, val 300, test 300.
  EXPECT_EQ(d.num_train(), 1400);
  EXPECT_EQ(d.num_val(), 300);
  EXPECT_EQ(d.num_test(), 300);
}

// Every role in one mapping: skip (any text), time, dst, label, feat, src, feat...
TEST(ImportColumns, EveryRoleInAnyOrder) {
  test::TempDir tmp;
  test::write_file(tmp.file("all.csv"),
                   "x,5,20,1,0.5,10,1.5,2.5\n"
                   "note,2,10,0.0,-1,30,3,4\n"
                   "y z,9,30,0,7,20,5,6\n");
  const Dataset d =
      import_dataset(tmp.file("all.csv"), columns("skip,time,dst,label,feat,src,feat..."));
  // Sorted rows 1,0,2 (times 2, 5, 9).
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{2, 5, 9}));
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{30, 10, 20}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 1, 2}));
  EXPECT_EQ(d.dst, (std::vector<NodeId>{1, 2, 0}));
  EXPECT_EQ(d.label, (std::vector<std::int32_t>{0, 1, 0}));
  // Features in column order: the feat column, then every column after src.
  EXPECT_EQ(d.edge_feature_dim, 3);
  EXPECT_EQ(d.edge_features,
            (std::vector<float>{-1.0F, 3.0F, 4.0F, 0.5F, 1.5F, 2.5F, 7.0F, 5.0F, 6.0F}));
  EXPECT_EQ(d.reordered_rows, 2);
}

TEST(ImportColumns, RestAreFeaturesAloneAndWithNoExtraColumns) {
  test::TempDir tmp;
  test::write_file(tmp.file("a.csv"), "1,2,3,0.25,0.5,0.75\n2,1,4,1,2,3\n");
  const Dataset d = import_dataset(tmp.file("a.csv"), columns("src,dst,time,feat..."));
  EXPECT_EQ(d.edge_feature_dim, 3);
  EXPECT_EQ(d.edge_features, (std::vector<float>{0.25F, 0.5F, 0.75F, 1.0F, 2.0F, 3.0F}));
  // feat... may match no column at all: the first row fixes 0 features.
  test::write_file(tmp.file("b.csv"), "1,2,3\n2,1,4\n");
  const Dataset none = import_dataset(tmp.file("b.csv"), columns("src,dst,time,feat..."));
  EXPECT_EQ(none.edge_feature_dim, 0);
  EXPECT_EQ(none.ts, (std::vector<Timestamp>{3, 4}));
}

TEST(ImportColumns, LabelsAcceptIntegralFloats) {
  test::TempDir tmp;
  test::write_file(tmp.file("l.csv"), "1,2,3,1.0\n2,1,4,-2\n3,1,5,0\n");
  const Dataset d = import_dataset(tmp.file("l.csv"), columns("src,dst,time,label"));
  EXPECT_EQ(d.label, (std::vector<std::int32_t>{1, -2, 0}));
  EXPECT_EQ(d.edge_feature_dim, 0);
}

TEST(ImportColumns, HeaderSkipsExactlyTheFirstNonBlankLine) {
  test::TempDir tmp;
  test::write_file(tmp.file("h.csv"), "\n  \nSOURCE,TARGET,RATING,TIME\n\n6,2,4,10\n1,6,-1,5\n");
  const Dataset d = import_dataset(tmp.file("h.csv"), columns("src,dst,feat,time", ",", true));
  EXPECT_EQ(d.num_events(), 2);
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{5, 10}));
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{1, 6, 2}));
  EXPECT_EQ(d.edge_features, (std::vector<float>{-1.0F, 4.0F}));
  // Without --header the same file stops at the header line, with a hint.
  test::expect_error<InputError>(
      [&] { import_dataset(tmp.file("h.csv"), columns("src,dst,feat,time")); },
      tmp.file("h.csv") +
          ":3: src: expected an integer, found 'SOURCE' (a header line? add "
          "--header)");
}

// The same events written with each delimiter give the same dataset.
TEST(ImportColumns, EveryDelimiterSpelling) {
  test::TempDir tmp;
  const std::string rows[] = {"1,2,0.5,3", "2,3,1.5,1", "3,1,2.5,2"};
  const auto write_with = [&](const std::string& name, const std::string& separator) {
    std::string text;
    for (const std::string& row : rows) {
      std::string line = row;
      for (std::size_t at = line.find(','); at != std::string::npos;
           at = line.find(',', at + separator.size())) {
        line.replace(at, 1, separator);
      }
      text += line + "\n";
    }
    test::write_file(tmp.file(name), text);
    return tmp.file(name);
  };
  const Dataset reference =
      import_dataset(write_with("ref.csv", ","), columns("src,dst,feat,time"));
  EXPECT_EQ(reference.ts, (std::vector<Timestamp>{1, 2, 3}));
  EXPECT_EQ(reference.edge_features, (std::vector<float>{1.5F, 2.5F, 0.5F}));
  const std::pair<std::string, std::string> spellings[] = {
      {"comma", ","},   {"tab", "\t"},     {"\\t", "\t"}, {"\t", "\t"}, {"space", " "},
      {"space", "   "}, {"space", " \t "}, {" ", " "},    {";", ";"},   {"semicolon", ";"},
      {"|", "|"},       {"pipe", " | "},   {":", ":"},
  };
  int n = 0;
  for (const auto& [option, separator] : spellings) {
    std::string trace = "--delimiter '" + option;
    trace += "' on '" + separator + "'";
    SCOPED_TRACE(trace);
    const std::string path = write_with("d" + std::to_string(n++) + ".txt", separator);
    test::expect_same_dataset(import_dataset(path, columns("src,dst,feat,time", option)), reference,
                              /*same_provenance=*/false);
  }
}

// A delimiter other than space separates exactly two fields: an empty field is a column.
TEST(ImportColumns, EmptyFieldsAreColumns) {
  test::TempDir tmp;
  test::write_file(tmp.file("e.tsv"), "1\t\t2\t3\n");
  test::expect_error<InputError>(
      [&] { import_dataset(tmp.file("e.tsv"), columns("src,dst,time", "tab")); },
      tmp.file("e.tsv") +
          ":1: found 4 columns, but --columns maps 3 (map the extra ones with "
          "skip or feat, or end --columns with feat...)");
  const Dataset d = import_dataset(tmp.file("e.tsv"), columns("src,skip,dst,time", "tab"));
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{3}));
}

TEST(ImportColumns, GzipTabSeparatedWithHeaderAndCrlf) {
  test::TempDir tmp;
  const std::string text = "src\tdst\tw\tt\r\n6\t2\t4\t10\r\n1\t6\t-1\t5\r\n";
  write_gzip(tmp.file("edges.tsv.gz"), text);
  test::write_file(tmp.file("edges.tsv"), text);
  const ImportOptions options = columns("src,dst,feat,time", "tab", true);
  const Dataset zipped = import_dataset(tmp.file("edges.tsv.gz"), options);
  EXPECT_EQ(zipped.name, "edges");
  EXPECT_EQ(zipped.source_format, "columns");
  EXPECT_EQ(zipped.num_events(), 2);
  EXPECT_EQ(zipped.num_nodes, 3);
  EXPECT_EQ(zipped.ts, (std::vector<Timestamp>{5, 10}));
  EXPECT_EQ(zipped.edge_features, (std::vector<float>{-1.0F, 4.0F}));
  test::expect_same_dataset(zipped, import_dataset(tmp.file("edges.tsv"), options),
                            /*same_provenance=*/false);
}

TEST(ImportColumns, OneIdSpaceUnlessBipartite) {
  test::TempDir tmp;
  test::write_file(tmp.file("s.csv"), "1,2,1\n2,1,2\n");
  const Dataset one = import_dataset(tmp.file("s.csv"), columns("src,dst,time"));
  EXPECT_FALSE(one.bipartite);
  EXPECT_EQ(one.num_nodes, 2);
  ImportOptions options = columns("src,dst,time");
  options.general = true;
  test::expect_same_dataset(import_dataset(tmp.file("s.csv"), options), one,
                            /*same_provenance=*/true);
  options.general = false;
  options.bipartite = true;
  const Dataset two = import_dataset(tmp.file("s.csv"), options);
  EXPECT_TRUE(two.bipartite);
  EXPECT_EQ(two.num_nodes, 4);
  EXPECT_EQ(two.num_src_nodes, 2);
  EXPECT_EQ(two.original_ids, (std::vector<std::int64_t>{1, 2, 2, 1}));
}

TEST(ImportColumns, OptionsThatDoNotGoTogether) {
  test::TempDir tmp;
  test::write_file(tmp.file("s.csv"), "1,2,1\n");
  ImportOptions options = columns("src,dst,time");
  options.format = "snap";
  test::expect_error<ConfigError>(
      [&] { import_dataset(tmp.file("s.csv"), options); },
      "--columns cannot be combined with --format snap (--columns is a format of its own)");
  ImportOptions delimiter_only;
  delimiter_only.columns.delimiter = "tab";
  test::expect_error<ConfigError>([&] { import_dataset(tmp.file("s.csv"), delimiter_only); },
                                  "--delimiter applies only with --columns");
  ImportOptions header_only;
  header_only.columns.header = true;
  test::expect_error<ConfigError>([&] { import_dataset(tmp.file("s.csv"), header_only); },
                                  "--header applies only with --columns");
}

// A file no format matches: the message shows --columns with an example.
TEST(ImportColumns, UndetectableFileSuggestsColumns) {
  test::TempDir tmp;
  test::write_file(tmp.file("signed.csv"), kSigned);
  test::expect_error<InputError>(
      [&] { import_dataset(tmp.file("signed.csv")); },
      tmp.file("signed.csv") +
          ": cannot detect the format from the first line '6,2,4,1289241911.72836'; choose one "
          "with --format jodie|tgl|dyglib|snap, or map the columns with --columns "
          "src,dst,time[,label][,feat...] (e.g. --columns src,dst,skip,time --delimiter ,)");
}

class BadColumnsTest : public ::testing::TestWithParam<test::BadColumns> {};

TEST_P(BadColumnsTest, ExactMessage) {
  const test::BadColumns& bad = GetParam();
  test::TempDir tmp;
  const std::string path = tmp.file("in.csv");
  test::write_file(path, bad.content);
  const ImportOptions options = columns(bad.columns, bad.delimiter, bad.header);
  const std::string message = test::expand(bad.message, path, tmp.path().string());
  if (bad.option_error) {
    test::expect_error<ConfigError>([&] { import_dataset(path, options); }, message);
    // Checked before the file is read: a missing file does not hide it.
    test::expect_error<ConfigError>([&] { import_dataset(tmp.file("missing.csv"), options); },
                                    message);
  } else {
    test::expect_error<InputError>([&] { import_dataset(path, options); }, message);
  }
}

INSTANTIATE_TEST_SUITE_P(Columns, BadColumnsTest, ::testing::ValuesIn(test::bad_columns()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace disttgl::trainer

// The real shared datasets (other than Wikipedia, see import_jodie_test.cpp) and the gzip
// path: counts and splits against the published statistics in each PROVENANCE.md.
#include <gtest/gtest.h>
#include <zlib.h>

#include "data_test_util.hpp"
#include "disttgl/trainer/data/import.hpp"

namespace disttgl::trainer {
namespace {

using test::shared_dataset;

void expect_collegemsg(const Dataset& d) {
  EXPECT_EQ(d.name, "CollegeMsg");
  EXPECT_EQ(d.source_format, "snap");
  EXPECT_EQ(d.num_nodes, 1899);
  EXPECT_EQ(d.num_events(), 59835);
  EXPECT_FALSE(d.bipartite);
  EXPECT_EQ(d.num_src_nodes, 1899);
  EXPECT_EQ(d.reordered_rows, 0);
  EXPECT_EQ(d.ts.front(), 1082040961.0);
  EXPECT_EQ(d.ts.back(), 1098777142.0);
  EXPECT_EQ(d.num_train(), 41884);
  EXPECT_EQ(d.num_val(), 8975);
  EXPECT_EQ(d.num_test(), 8976);
  // First line "1 2 1082040961".
  EXPECT_EQ(d.original_ids[0], 1);
  EXPECT_EQ(d.original_ids[1], 2);
}

TEST(SharedDatasets, CollegeMsgSnap) {
  expect_collegemsg(import_dataset(shared_dataset("collegemsg/CollegeMsg.txt")));
}

TEST(SharedDatasets, CollegeMsgGzipGivesTheSameDataset) {
  test::TempDir tmp;
  const std::string text = test::read_file(shared_dataset("collegemsg/CollegeMsg.txt"));
  const std::string gz_path = tmp.file("CollegeMsg.txt.gz");
  gzFile out = gzopen(gz_path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(gzwrite(out, text.data(), static_cast<unsigned>(text.size())),
            static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(out), Z_OK);
  ASSERT_LT(std::filesystem::file_size(gz_path), text.size() / 2) << "really compressed";

  EXPECT_EQ(detect_format(gz_path), "snap");
  const Dataset gz = import_dataset(gz_path);
  expect_collegemsg(gz);
  EXPECT_EQ(gz.source_file, gz_path);
  test::expect_same_dataset(gz, import_dataset(shared_dataset("collegemsg/CollegeMsg.txt")),
                            /*same_provenance=*/false);
}

TEST(SharedDatasets, EnronDyglib) {
  const Dataset d = import_dataset(shared_dataset("enron/ml_enron.csv"));
  EXPECT_EQ(d.name, "enron");
  EXPECT_EQ(d.source_format, "dyglib");
  EXPECT_EQ(d.num_nodes, 184);
  EXPECT_EQ(d.num_events(), 125235);
  EXPECT_FALSE(d.bipartite);
  EXPECT_EQ(d.time_span(), 113740399.0);
  EXPECT_EQ(d.num_train(), 87664);
  EXPECT_EQ(d.num_val(), 18786);
  EXPECT_EQ(d.num_test(), 18785);
  // 16,410 self loops survive the remap.
  std::int64_t self_loops = 0;
  for (std::size_t e = 0; e < d.src.size(); ++e) self_loops += d.src[e] == d.dst[e];
  EXPECT_EQ(self_loops, 16410);
  // Original ids are DyGLib's 1-based ids 1..184.
  EXPECT_EQ(*std::min_element(d.original_ids.begin(), d.original_ids.end()), 1);
  EXPECT_EQ(*std::max_element(d.original_ids.begin(), d.original_ids.end()), 184);
}

TEST(SharedDatasets, CanParlDyglib) {
  const Dataset d = import_dataset(shared_dataset("canparl/ml_CanParl.csv"));
  EXPECT_EQ(d.name, "CanParl");
  EXPECT_EQ(d.num_nodes, 734);
  EXPECT_EQ(d.num_events(), 74478);
  EXPECT_EQ(d.num_train(), 52556);
  EXPECT_EQ(d.num_val(), 11809);
  EXPECT_EQ(d.num_test(), 10113);
  EXPECT_EQ(d.split.val_time, 283996800.0);
  EXPECT_EQ(d.split.test_time, 347155200.0);
}

// The raw CanParl.csv (JODIE layout, ids shared by both columns, 0-based) read with
// --general is ml_CanParl.csv plus the vote weight: same events after the remap.
TEST(SharedDatasets, CanParlRawCsvAsGeneralGraphMatchesTheDyglibFile) {
  ImportOptions options;
  options.general = true;
  const Dataset raw = import_dataset(shared_dataset("canparl/CanParl.csv"), options);
  const Dataset ml = import_dataset(shared_dataset("canparl/ml_CanParl.csv"));
  EXPECT_EQ(raw.source_format, "jodie");
  EXPECT_FALSE(raw.bipartite);
  EXPECT_EQ(raw.num_nodes, 734);
  EXPECT_EQ(raw.edge_feature_dim, 1);
  EXPECT_EQ(raw.src, ml.src);
  EXPECT_EQ(raw.dst, ml.dst);
  EXPECT_EQ(raw.ts, ml.ts);
  EXPECT_EQ(raw.num_train(), ml.num_train());
  EXPECT_EQ(raw.num_test(), ml.num_test());
  // Without --general the same file is bipartite: 978 nodes.
  EXPECT_EQ(import_dataset(shared_dataset("canparl/CanParl.csv")).num_nodes, 978);
}

}  // namespace
}  // namespace disttgl::trainer

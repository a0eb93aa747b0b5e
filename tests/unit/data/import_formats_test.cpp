// TGL, DyGLib and SNAP importers on hand-written inputs, and format detection.
#include <gtest/gtest.h>

#include "data_test_util.hpp"
#include "disttgl/trainer/data/import.hpp"

namespace disttgl::trainer {
namespace {

using test::fixture;

// tgl_small/edges.csv rows (src,dst,time,ext_roll): (5,6,10,0) (6,7,30,0) (5,7,20,0)
// (7,5,40,1) (6,5,50,2); sorted order is rows 0,2,1,3,4.
void expect_tgl_small(const Dataset& d) {
  EXPECT_EQ(d.name, "tgl_small");
  EXPECT_EQ(d.source_format, "tgl");
  EXPECT_EQ(d.source_file, fixture("tgl_small/edges.csv"));
  EXPECT_FALSE(d.bipartite);
  EXPECT_EQ(d.num_nodes, 3);
  EXPECT_EQ(d.num_src_nodes, 3);
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{5, 6, 7}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 0, 1, 2, 1}));
  EXPECT_EQ(d.dst, (std::vector<NodeId>{1, 2, 2, 0, 0}));
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{10, 20, 30, 40, 50}));
  EXPECT_EQ(d.label, (std::vector<std::int32_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(d.reordered_rows, 2);
  EXPECT_EQ(d.split.source, "ext_roll");
  EXPECT_EQ(d.split.train_end, 3);
  EXPECT_EQ(d.split.val_end, 4);
  // edge_features.csv row k is (k, k + 0.5), permuted with the events.
  EXPECT_EQ(d.edge_feature_dim, 2);
  EXPECT_EQ(d.edge_features,
            (std::vector<float>{0.0F, 0.5F, 2.0F, 2.5F, 1.0F, 1.5F, 3.0F, 3.5F, 4.0F, 4.5F}));
  // node_features.csv row k is 10 * k; nodes 5, 6, 7 keep their rows.
  EXPECT_EQ(d.node_feature_dim, 1);
  EXPECT_EQ(d.node_features, (std::vector<float>{50.0F, 60.0F, 70.0F}));
}

TEST(ImportTgl, SmallFileWithFeatureCsvs) {
  expect_tgl_small(import_dataset(fixture("tgl_small/edges.csv")));
}

TEST(ImportTgl, DirectoryInputReadsEdgesCsv) {
  expect_tgl_small(import_dataset(fixture("tgl_small")));
}

TEST(ImportTgl, QuantileOptionsDoNotOverrideExtRoll) {
  ImportOptions options;
  options.val_quantile = 0.1;
  options.test_quantile = 0.2;
  const Dataset d = import_dataset(fixture("tgl_small/edges.csv"), options);
  EXPECT_EQ(d.split.train_end, 3);
  EXPECT_EQ(d.split.val_end, 4);
}

TEST(ImportTgl, WithoutFeatureFilesAndWithoutIntRoll) {
  test::TempDir tmp;
  test::write_file(tmp.file("edges.csv"), ",src,dst,time,ext_roll\n0,0,1,1.5,0\n1,1,2,2.5,0\n");
  const Dataset d = import_dataset(tmp.file("edges.csv"));
  EXPECT_EQ(d.num_nodes, 3);
  EXPECT_EQ(d.edge_feature_dim, 0);
  EXPECT_EQ(d.node_feature_dim, 0);
  // All rows are ext_roll 0: everything is training data.
  EXPECT_EQ(d.split.train_end, 2);
  EXPECT_EQ(d.split.val_end, 2);
  EXPECT_EQ(d.name, tmp.path().filename().string());
}

TEST(ImportDyglib, SmallFileExactArrays) {
  const Dataset d = import_dataset(fixture("ml_tiny.csv"));
  EXPECT_EQ(d.name, "tiny");
  EXPECT_EQ(d.source_format, "dyglib");
  EXPECT_FALSE(d.bipartite);
  EXPECT_EQ(d.num_nodes, 3);
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{3, 1, 2}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 1, 2, 0}));
  EXPECT_EQ(d.dst, (std::vector<NodeId>{1, 0, 0, 2}));
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{0.0, 5.0, 5.0, 7.5}));
  EXPECT_EQ(d.label, (std::vector<std::int32_t>{0, 1, 0, 0}));
  EXPECT_EQ(d.reordered_rows, 0);
  // np.quantile([0, 5, 5, 7.5], [0.7, 0.85]) = [5.25, 6.375]: train 3, val 0, test 1.
  EXPECT_EQ(d.split.val_time, 5.249999999999999);  // numpy repr, bit-exact
  EXPECT_EQ(d.split.test_time, 6.375);
  EXPECT_EQ(d.num_train(), 3);
  EXPECT_EQ(d.num_val(), 0);
  EXPECT_EQ(d.num_test(), 1);
}

// snap_small.txt rows (src,dst,ts): (10,20,1000) (20,30,999) (10,30,1001) (30,10,1001);
// sorted order is rows 1,0,2,3 (the tie keeps file order).
TEST(ImportSnap, SmallFileWithCommentsTabsAndBlankLines) {
  const Dataset d = import_dataset(fixture("snap_small.txt"));
  EXPECT_EQ(d.name, "snap_small");
  EXPECT_EQ(d.source_format, "snap");
  EXPECT_EQ(d.num_nodes, 3);
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{20, 30, 10}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 2, 2, 1}));
  EXPECT_EQ(d.dst, (std::vector<NodeId>{1, 0, 1, 2}));
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{999, 1000, 1001, 1001}));
  EXPECT_EQ(d.reordered_rows, 2);
  EXPECT_EQ(d.label, (std::vector<std::int32_t>{0, 0, 0, 0}));
}

TEST(ImportSnap, BipartiteOptionNumbersSidesSeparately) {
  ImportOptions options;
  options.bipartite = true;
  const Dataset d = import_dataset(fixture("snap_small.txt"), options);
  EXPECT_TRUE(d.bipartite);
  EXPECT_EQ(d.num_nodes, 6);
  EXPECT_EQ(d.num_src_nodes, 3);
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{20, 10, 30, 30, 20, 10}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 1, 1, 2}));
  EXPECT_EQ(d.dst, (std::vector<NodeId>{3, 4, 3, 5}));
}

TEST(ImportSnap, HugeSparseIdsUseTheHashMap) {
  test::TempDir tmp;
  test::write_file(tmp.file("big.txt"), "1000000000000000 5 1\n5 1000000000000000 2\n7 5 2\n");
  const Dataset d = import_dataset(tmp.file("big.txt"));
  EXPECT_EQ(d.num_nodes, 3);
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{1000000000000000, 5, 7}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 1, 2}));
  EXPECT_EQ(d.dst, (std::vector<NodeId>{1, 0, 1}));
}

TEST(ImportDyglib, Utf8ByteOrderMarkIsNotData) {
  test::TempDir tmp;
  test::write_file(tmp.file("ml_bom.csv"),
                   "\xEF\xBB\xBF" + test::read_file(fixture("ml_tiny.csv")));
  test::expect_same_dataset(import_dataset(tmp.file("ml_bom.csv")),
                            import_dataset(fixture("ml_tiny.csv")), /*same_provenance=*/false);
}

TEST(DetectFormat, ByNameAndHeader) {
  EXPECT_EQ(detect_format(fixture("jodie_small.csv")), "jodie");
  EXPECT_EQ(detect_format(fixture("tgl_small/edges.csv")), "tgl");
  EXPECT_EQ(detect_format(fixture("ml_tiny.csv")), "dyglib");
  EXPECT_EQ(detect_format(fixture("snap_small.txt")), "snap");
  test::TempDir tmp;
  test::write_file(tmp.file("a.csv"), ",src,dst,time,ext_roll\n0,1,2,3,0\n");
  EXPECT_EQ(detect_format(tmp.file("a.csv")), "tgl");
  test::write_file(tmp.file("b.csv"), ",u,i,ts,label,idx\n0,1,2,3,0,1\n");
  EXPECT_EQ(detect_format(tmp.file("b.csv")), "dyglib");
  test::write_file(tmp.file("c.tsv"), "1\t2\t3\n");
  EXPECT_EQ(detect_format(tmp.file("c.tsv")), "snap");
  test::write_file(tmp.file("d.txt"), "% konect header\n1 2 3\n");
  EXPECT_EQ(detect_format(tmp.file("d.txt")), "snap");
  test::expect_error<InputError>([&] { detect_format(tmp.file("none.csv")); },
                                 tmp.file("none.csv") + ": cannot open: No such file or directory");
}

}  // namespace
}  // namespace disttgl::trainer

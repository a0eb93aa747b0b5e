// JODIE CSV importer: a hand-written file with exact expected arrays, CRLF, and the real
// Wikipedia file.
#include <gtest/gtest.h>

#include <chrono>

#include "data_test_util.hpp"
#include "disttgl/trainer/data/import.hpp"

namespace disttgl::trainer {
namespace {

using test::fixture;
using test::shared_dataset;

// jodie_small.csv rows (user,item,ts,label,f0,f1): (7,0,1.0,0,.5,-1) (3,2,2.5,0,1.5,2)
// (7,2,2.0,1,.25,0) (3,0,4.0,0,-.5,3); sorted order is rows 0,2,1,3.
void expect_jodie_small(const Dataset& d) {
  EXPECT_EQ(d.source_format, "jodie");
  EXPECT_TRUE(d.bipartite);
  EXPECT_EQ(d.num_nodes, 4);
  EXPECT_EQ(d.num_src_nodes, 2);
  // Users 7 -> 0, 3 -> 1; items 0 -> 2, 2 -> 3 (offset by the 2 users).
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{7, 3, 0, 2}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 0, 1, 1}));
  EXPECT_EQ(d.dst, (std::vector<NodeId>{2, 3, 3, 2}));
  EXPECT_EQ(d.ts, (std::vector<Timestamp>{1.0, 2.0, 2.5, 4.0}));
  EXPECT_EQ(d.label, (std::vector<std::int32_t>{0, 1, 0, 0}));
  EXPECT_EQ(d.edge_feature_dim, 2);
  EXPECT_EQ(d.edge_features,
            (std::vector<float>{0.5F, -1.0F, 0.25F, 0.0F, 1.5F, 2.0F, -0.5F, 3.0F}));
  EXPECT_EQ(d.node_feature_dim, 0);
  EXPECT_TRUE(d.node_features.empty());
  EXPECT_EQ(d.reordered_rows, 2);
  // np.quantile([1, 2, 2.5, 4], [0.7, 0.85]) = [2.65, 3.325]: train 3, val 0, test 1.
  EXPECT_EQ(d.split.source, "quantile");
  EXPECT_EQ(d.split.val_time, 2.6499999999999995);  // numpy repr, bit-exact
  EXPECT_EQ(d.split.test_time, 3.3249999999999997);
  EXPECT_EQ(d.num_train(), 3);
  EXPECT_EQ(d.num_val(), 0);
  EXPECT_EQ(d.num_test(), 1);
  EXPECT_DOUBLE_EQ(d.time_span(), 3.0);
}

TEST(ImportJodie, SmallFileExactArrays) {
  const Dataset d = import_dataset(fixture("jodie_small.csv"));
  expect_jodie_small(d);
  EXPECT_EQ(d.name, "jodie_small");
  EXPECT_EQ(d.source_file, fixture("jodie_small.csv"));
}

TEST(ImportJodie, CrlfLineEndsGiveTheSameDataset) {
  test::TempDir tmp;
  std::string text = test::read_file(fixture("jodie_small.csv"));
  std::string crlf;
  for (const char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  test::write_file(tmp.file("jodie_small.csv"), crlf);
  expect_jodie_small(import_dataset(tmp.file("jodie_small.csv")));
}

TEST(ImportJodie, CustomQuantiles) {
  ImportOptions options;
  options.val_quantile = 0.25;  // np.quantile([1, 2, 2.5, 4], 0.25) = 1.75
  options.test_quantile = 0.5;  // np.quantile([1, 2, 2.5, 4], 0.5) = 2.25
  const Dataset d = import_dataset(fixture("jodie_small.csv"), options);
  EXPECT_EQ(d.split.val_time, 1.75);
  EXPECT_EQ(d.split.test_time, 2.25);
  EXPECT_EQ(d.num_train(), 1);
  EXPECT_EQ(d.num_val(), 1);
  EXPECT_EQ(d.num_test(), 2);
}

TEST(ImportJodie, NoFeatureColumnsAndExplicitFormat) {
  test::TempDir tmp;
  test::write_file(tmp.file("plain.csv"), "u,i,ts,label\n0,5,3,1\n1,5,2,0\n");
  ImportOptions options;
  options.format = "jodie";
  const Dataset d = import_dataset(tmp.file("plain.csv"), options);
  EXPECT_EQ(d.edge_feature_dim, 0);
  EXPECT_TRUE(d.edge_features.empty());
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{1, 0, 5}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 1}));
  EXPECT_EQ(d.dst, (std::vector<NodeId>{2, 2}));
  EXPECT_EQ(d.label, (std::vector<std::int32_t>{0, 1}));
  EXPECT_EQ(d.reordered_rows, 2);
}

TEST(ImportJodie, GeneralNumbersBothColumnsAsOneIdSpace) {
  ImportOptions options;
  options.general = true;
  const Dataset d = import_dataset(fixture("jodie_small.csv"), options);
  // Time order (7,0) (7,2) (3,2) (3,0); first appearance, source then destination:
  // 7 -> 0, 0 -> 1, 2 -> 2, 3 -> 3. Item 2 and user 2 would be one node.
  EXPECT_FALSE(d.bipartite);
  EXPECT_EQ(d.num_nodes, 4);
  EXPECT_EQ(d.original_ids, (std::vector<std::int64_t>{7, 0, 2, 3}));
  EXPECT_EQ(d.src, (std::vector<NodeId>{0, 0, 3, 3}));
  EXPECT_EQ(d.dst, (std::vector<NodeId>{1, 2, 2, 1}));
  EXPECT_EQ(d.edge_feature_dim, 2);

  options.bipartite = true;
  test::expect_error<ConfigError>([&] { import_dataset(fixture("jodie_small.csv"), options); },
                                  "--bipartite and --general exclude each other");
}

TEST(ImportJodie, WikipediaCountsAndSplit) {
  const auto start = std::chrono::steady_clock::now();
  const Dataset d = import_dataset(shared_dataset("wikipedia/wikipedia.csv"));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(d.name, "wikipedia");
  EXPECT_EQ(d.source_format, "jodie");
  EXPECT_EQ(d.num_nodes, 9227);
  EXPECT_EQ(d.num_events(), 157474);
  EXPECT_TRUE(d.bipartite);
  EXPECT_EQ(d.num_src_nodes, 8227);
  EXPECT_EQ(d.edge_feature_dim, 0);
  EXPECT_EQ(d.reordered_rows, 0);
  EXPECT_EQ(d.num_train(), 110232);
  EXPECT_EQ(d.num_val(), 23621);
  EXPECT_EQ(d.num_test(), 23621);
  // numpy: np.quantile(ts, [0.7, 0.85]) -> [1862652.1, 2218288.5999999996].
  EXPECT_EQ(d.split.val_time, 1862652.1);
  EXPECT_EQ(d.split.test_time, 2218288.5999999996);
  EXPECT_EQ(d.ts.front(), 0.0);
  EXPECT_EQ(d.ts.back(), 2678373.0);
  // 217 rows carry state_label 1 (JODIE's banned-user count).
  EXPECT_EQ(std::count(d.label.begin(), d.label.end(), 1), 217);
  // The first row is "0,8227,0,0": user 0 -> 0, item 8227 -> 8227 (the first item seen).
  EXPECT_EQ(d.src[0], 0);
  EXPECT_EQ(d.dst[0], 8227);
  EXPECT_EQ(d.original_ids[8227], 8227);
  for (std::size_t e = 0; e < d.src.size(); ++e) {
    ASSERT_LT(d.src[e], 8227);
    ASSERT_GE(d.dst[e], 8227);
    ASSERT_LT(d.dst[e], 9227);
  }
#ifdef NDEBUG
  EXPECT_LT(seconds, 2.0) << "the whole Wikipedia file must import in well under 2 s";
#endif
  std::printf("wikipedia import: %.3f s\n", seconds);
}

}  // namespace
}  // namespace disttgl::trainer

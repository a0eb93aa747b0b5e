// The prepared binary format: round trip, corruption detection, atomic replacement, and
// the dataset.json summary.
#include "disttgl/trainer/data/prepared.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "data_test_util.hpp"
#include "disttgl/trainer/data/import.hpp"

namespace disttgl::trainer {
namespace {

// Overwrites `bytes.size()` bytes of `path` at `offset`.
void patch(const std::string& path, std::size_t offset, const std::string& bytes) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(static_cast<std::streamoff>(offset));
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(file.good());
}

std::string bin_path(const std::string& dir) { return dir + "/dataset.bin"; }

TEST(Prepared, RoundTripWithFeatures) {
  test::TempDir tmp;
  const Dataset original = import_dataset(test::fixture("tgl_small/edges.csv"));
  ASSERT_EQ(original.edge_feature_dim, 2);
  ASSERT_EQ(original.node_feature_dim, 1);
  write_prepared(original, tmp.file("out"));
  EXPECT_TRUE(is_prepared_dir(tmp.file("out")));
  EXPECT_EQ(test::list_dir(tmp.path()), (std::vector<std::string>{"out"}));
  EXPECT_EQ(test::list_dir(tmp.path() / "out"),
            (std::vector<std::string>{"dataset.bin", "dataset.json"}));
  const Dataset loaded = load_prepared(tmp.file("out"));
  test::expect_same_dataset(loaded, original, /*same_provenance=*/true);
}

TEST(Prepared, RoundTripBipartiteWikipedia) {
  test::TempDir tmp;
  const Dataset original = import_dataset(test::shared_dataset("wikipedia/wikipedia.csv"));
  write_prepared(original, tmp.file("wiki/"));  // a trailing slash names the same directory
  const Dataset loaded = load_prepared(tmp.file("wiki"));
  test::expect_same_dataset(loaded, original, /*same_provenance=*/true);
  // header 128 + strings + 3 * 8E + 4E (padded) + 8N bytes.
  const std::string strings_padded = [&] {
    const std::size_t raw = 16 + original.name.size() + original.source_format.size() +
                            original.source_file.size() + original.split.source.size();
    return std::string((raw + 7) / 8 * 8, ' ');
  }();
  EXPECT_EQ(std::filesystem::file_size(bin_path(tmp.file("wiki"))),
            128 + strings_padded.size() + 3 * 8 * 157474 + 4 * 157474 + 8 * 9227);
}

TEST(Prepared, SummaryJson) {
  const Dataset d = import_dataset(test::fixture("jodie_small.csv"));
  const auto json = nlohmann::json::parse(dataset_summary_json(d));
  EXPECT_EQ(json["format_version"], 1);
  EXPECT_EQ(json["name"], "jodie_small");
  EXPECT_EQ(json["source_format"], "jodie");
  EXPECT_EQ(json["source_file"], test::fixture("jodie_small.csv"));
  EXPECT_EQ(json["num_nodes"], 4);
  EXPECT_EQ(json["num_events"], 4);
  EXPECT_EQ(json["bipartite"], true);
  EXPECT_EQ(json["num_src_nodes"], 2);
  EXPECT_EQ(json["edge_feature_dim"], 2);
  EXPECT_EQ(json["node_feature_dim"], 0);
  EXPECT_EQ(json["time_span"], 3.0);
  EXPECT_EQ(json["split"]["train"], 3);
  EXPECT_EQ(json["split"]["val"], 0);
  EXPECT_EQ(json["split"]["test"], 1);
  EXPECT_EQ(json["split"]["source"], "quantile");
  EXPECT_EQ(json["split"]["val_time"], 2.6499999999999995);
  EXPECT_EQ(json["reordered_rows"], 2);
}

class PreparedCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    write_prepared(import_dataset(test::fixture("snap_small.txt")), dir_);
    size_ = std::filesystem::file_size(bin_path(dir_));
  }
  test::TempDir tmp_;
  std::string dir_ = tmp_.file("out");
  std::string bin_ = bin_path(dir_);
  std::size_t size_ = 0;
};

TEST_F(PreparedCorruption, FlippedPayloadByte) {
  std::string bytes = test::read_file(bin_);
  bytes[size_ - 20] = static_cast<char>(bytes[size_ - 20] ^ 0x01);  // inside original_ids
  test::write_file(bin_, bytes);
  test::expect_error<InputError>([&] { load_prepared(dir_); }, bin_ + ": checksum mismatch");
}

TEST_F(PreparedCorruption, FlippedHeaderCountIsCoveredToo) {
  patch(bin_, 80, std::string("\x05", 1));  // reordered_rows
  test::expect_error<InputError>([&] { load_prepared(dir_); }, bin_ + ": checksum mismatch");
}

TEST_F(PreparedCorruption, VersionMismatch) {
  patch(bin_, 8, std::string("\x07\x00\x00\x00", 4));
  test::expect_error<InputError>(
      [&] { load_prepared(dir_); },
      bin_ + ": format version 7, expected 1 (run `disttgl-trainer prepare` again)");
}

TEST_F(PreparedCorruption, BadMagic) {
  patch(bin_, 0, "NOTADATA");
  test::expect_error<InputError>([&] { load_prepared(dir_); },
                                 bin_ + ": not a disttgl prepared dataset (bad magic)");
}

TEST_F(PreparedCorruption, TruncatedPayload) {
  std::filesystem::resize_file(bin_, size_ - 8);
  test::expect_error<InputError>([&] { load_prepared(dir_); },
                                 bin_ + ": truncated: " + std::to_string(size_ - 8) +
                                     " bytes, expected " + std::to_string(size_));
}

TEST_F(PreparedCorruption, TruncatedHeader) {
  std::filesystem::resize_file(bin_, 100);
  test::expect_error<InputError>([&] { load_prepared(dir_); },
                                 bin_ + ": truncated: 100 bytes, shorter than the 128-byte header");
}

TEST_F(PreparedCorruption, TrailingBytes) {
  std::ofstream(bin_, std::ios::app | std::ios::binary) << "extra";
  test::expect_error<InputError>([&] { load_prepared(dir_); },
                                 bin_ + ": corrupt: " + std::to_string(size_ + 5) +
                                     " bytes, expected " + std::to_string(size_));
}

TEST_F(PreparedCorruption, ImpossibleCounts) {
  patch(bin_, 32, std::string(8, '\xff'));  // num_events = -1
  test::expect_error<InputError>([&] { load_prepared(dir_); },
                                 bin_ + ": corrupt: inconsistent counts in the header");
}

TEST(Prepared, MissingDirectory) {
  test::TempDir tmp;
  EXPECT_FALSE(is_prepared_dir(tmp.file("nope")));
  EXPECT_FALSE(is_prepared_dir(tmp.path().string()));
  test::expect_error<InputError>(
      [&] { load_prepared(tmp.file("nope")); },
      tmp.file("nope") + "/dataset.bin: cannot open: No such file or directory");
}

TEST(Prepared, ReplacesAnEarlierPreparedDirectory) {
  test::TempDir tmp;
  write_prepared(import_dataset(test::fixture("snap_small.txt")), tmp.file("out"));
  const Dataset second = import_dataset(test::fixture("ml_tiny.csv"));
  write_prepared(second, tmp.file("out"));
  test::expect_same_dataset(load_prepared(tmp.file("out")), second, /*same_provenance=*/true);
  // No temporary or backup sibling is left behind.
  EXPECT_EQ(test::list_dir(tmp.path()), (std::vector<std::string>{"out"}));
}

TEST(Prepared, WritesIntoAnEmptyDirectoryAndCreatesParents) {
  test::TempDir tmp;
  std::filesystem::create_directories(tmp.path() / "empty");
  write_prepared(import_dataset(test::fixture("ml_tiny.csv")), tmp.file("empty"));
  EXPECT_TRUE(is_prepared_dir(tmp.file("empty")));
  write_prepared(import_dataset(test::fixture("ml_tiny.csv")), tmp.file("a/b/c"));
  EXPECT_TRUE(is_prepared_dir(tmp.file("a/b/c")));
}

TEST(Prepared, RefusesToReplaceOtherDirectories) {
  test::TempDir tmp;
  std::filesystem::create_directories(tmp.path() / "precious");
  test::write_file(tmp.file("precious/notes.txt"), "keep me");
  test::expect_error<IoError>(
      [&] { write_prepared(import_dataset(test::fixture("ml_tiny.csv")), tmp.file("precious")); },
      tmp.file("precious") + " exists and is not a prepared dataset directory; not replacing it");
  EXPECT_EQ(test::read_file(tmp.file("precious/notes.txt")), "keep me");
  test::write_file(tmp.file("plain_file"), "x");
  test::expect_error<IoError>(
      [&] { write_prepared(import_dataset(test::fixture("ml_tiny.csv")), tmp.file("plain_file")); },
      tmp.file("plain_file") + " exists and is not a prepared dataset directory; not replacing it");
  EXPECT_EQ(test::list_dir(tmp.path()), (std::vector<std::string>{"plain_file", "precious"}));
}

}  // namespace
}  // namespace disttgl::trainer

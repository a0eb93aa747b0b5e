// Every malformed input gives an InputError with its exact "FILE:LINE: what" message; bad
// options give a ConfigError naming the flag.
#include <gtest/gtest.h>
#include <zlib.h>

#include "bad_inputs.hpp"
#include "data_test_util.hpp"
#include "disttgl/trainer/data/import.hpp"

namespace disttgl::trainer {
namespace {

class BadInputTest : public ::testing::TestWithParam<test::BadInput> {};

TEST_P(BadInputTest, ExactMessage) {
  const test::BadInput& bad = GetParam();
  test::TempDir tmp;
  const std::string path = tmp.file(bad.file);
  test::write_file(path, bad.content);
  for (const auto& [name, content] : bad.extra_files) test::write_file(tmp.file(name), content);
  ImportOptions options;
  options.format = bad.format;
  test::expect_error<InputError>([&] { import_dataset(path, options); },
                                 test::expand(bad.message, path, tmp.path().string()));
}

INSTANTIATE_TEST_SUITE_P(Validation, BadInputTest, ::testing::ValuesIn(test::bad_inputs()),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(Validation, InputErrorExitCodeIsTwo) {
  EXPECT_EQ(InputError("f", 3, "x").exit_code(), 2);
  EXPECT_EQ(ConfigError("x").exit_code(), 2);
}

TEST(Validation, MissingFileAndDirectory) {
  test::TempDir tmp;
  test::expect_error<InputError>(
      [&] { import_dataset(tmp.file("missing.csv")); },
      tmp.file("missing.csv") + ": cannot open: No such file or directory");
  // A directory without edges.csv is not an input.
  test::expect_error<InputError>([&] { import_dataset(tmp.path().string()); },
                                 tmp.path().string() + ": cannot open: is a directory");
}

TEST(Validation, TruncatedGzip) {
  test::TempDir tmp;
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    text += std::to_string(i) + " " + std::to_string(i * 7 % 1000) + " " + std::to_string(i) + "\n";
  }
  const std::string path = tmp.file("edges.txt.gz");
  gzFile out = gzopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  gzwrite(out, text.data(), static_cast<unsigned>(text.size()));
  ASSERT_EQ(gzclose(out), Z_OK);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  test::expect_error<InputError>([&] { import_dataset(path); },
                                 path + ": gzip: unexpected end of file");
}

TEST(Validation, UnknownFormatOption) {
  ImportOptions options;
  options.format = "parquet";
  test::expect_error<ConfigError>(
      [&] { import_dataset(test::fixture("snap_small.txt"), options); },
      "--format: unknown format 'parquet' (expected auto, jodie, tgl, dyglib or snap)");
}

TEST(Validation, QuantileOptions) {
  ImportOptions options;
  options.val_quantile = 1.5;
  test::expect_error<ConfigError>([&] { import_dataset(test::fixture("snap_small.txt"), options); },
                                  "--val-quantile must be in [0, 1], got 1.5");
  options.val_quantile = 0.9;
  test::expect_error<ConfigError>([&] { import_dataset(test::fixture("snap_small.txt"), options); },
                                  "--val-quantile (0.9) must not exceed --test-quantile (0.85)");
  test::expect_error<ConfigError>(
      [&] {
        quantile_split({1.0, 2.0}, 0.5, -0.1);
      },
      "--test-quantile must be in [0, 1], got -0.1");
}

}  // namespace
}  // namespace disttgl::trainer

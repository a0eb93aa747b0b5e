// Shared helpers for the data-layer tests: a per-test temp directory under /tmp, file
// writing, exact-error assertions, paths of the shared datasets and fixtures, and running
// the real disttgl-trainer binary (and its bad-input contract for `prepare`).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/data/dataset.hpp"

namespace disttgl::trainer::test {

namespace fs = std::filesystem;

/// A fresh directory /tmp/disttgl_data_<pid>_<suite>_<test>, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    path_ = fs::path("/tmp") / ("disttgl_data_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  /// path()/name as a string.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string shared_dataset(const std::string& relative) {
  return std::string(DISTTGL_SHARED_DIR) + "/datasets/" + relative;
}

inline std::string fixture(const std::string& relative) {
  return std::string(DISTTGL_SOURCE_DIR) + "/tests/fixtures/data/" + relative;
}

/// Runs `fn`, expecting exactly ErrorType with exactly `message` as what().
template <typename ErrorType, typename Fn>
void expect_error(Fn&& fn, const std::string& message) {
  try {
    fn();
    ADD_FAILURE() << "expected an error: " << message;
  } catch (const ErrorType& e) {
    EXPECT_EQ(std::string(e.what()), message);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type, message: " << e.what();
  }
}

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs disttgl-trainer with `args` (already shell-quoted), capturing stdout and stderr into
/// files under `scratch`, which must not be the directory under test.
inline CommandResult run_trainer(const std::string& args, const fs::path& scratch) {
  fs::create_directories(scratch);
  const std::string out = (scratch / "stdout.txt").string();
  const std::string err = (scratch / "stderr.txt").string();
  const std::string command =
      std::string("'") + DISTTGL_TRAINER_BIN + "' " + args + " >'" + out + "' 2>'" + err + "'";
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(out);
  result.err = read_file(err);
  return result;
}

/// Names of the entries of `dir`, sorted.
inline std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// The bad-input contract of `disttgl-trainer prepare`: run with `args` (already shell-quoted,
/// writing to tmp/out) and its log under tmp/logs, it exits 2 with exactly
/// "disttgl-trainer: error: MESSAGE", prints nothing, writes no tmp/out and leaves tmp as it
/// was (no temporary directory behind).
inline void expect_prepare_fails(const TempDir& tmp, const std::string& args,
                                 const std::string& message) {
  fs::create_directories(tmp.path() / "logs");
  const std::vector<std::string> before = list_dir(tmp.path());
  const CommandResult result = run_trainer(args, tmp.path() / "logs");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err, "disttgl-trainer: error: " + message + "\n");
  EXPECT_EQ(result.out, "");
  EXPECT_FALSE(fs::exists(tmp.file("out")));
  EXPECT_EQ(list_dir(tmp.path()), before) << "no temporary directory left behind";
}

/// Every array and count of two datasets are equal. `same_provenance` also compares name,
/// source file/format and reordered_rows.
inline void expect_same_dataset(const Dataset& a, const Dataset& b, bool same_provenance) {
  EXPECT_EQ(a.num_nodes, b.num_nodes);
  EXPECT_EQ(a.bipartite, b.bipartite);
  EXPECT_EQ(a.num_src_nodes, b.num_src_nodes);
  EXPECT_EQ(a.src, b.src);
  EXPECT_EQ(a.dst, b.dst);
  EXPECT_EQ(a.ts, b.ts);
  EXPECT_EQ(a.label, b.label);
  EXPECT_EQ(a.edge_feature_dim, b.edge_feature_dim);
  EXPECT_EQ(a.edge_features, b.edge_features);
  EXPECT_EQ(a.node_feature_dim, b.node_feature_dim);
  EXPECT_EQ(a.node_features, b.node_features);
  EXPECT_EQ(a.original_ids, b.original_ids);
  EXPECT_EQ(a.split.train_end, b.split.train_end);
  EXPECT_EQ(a.split.val_end, b.split.val_end);
  EXPECT_EQ(a.split.source, b.split.source);
  EXPECT_EQ(a.split.val_time, b.split.val_time);
  EXPECT_EQ(a.split.test_time, b.split.test_time);
  if (same_provenance) {
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.source_format, b.source_format);
    EXPECT_EQ(a.source_file, b.source_file);
    EXPECT_EQ(a.reordered_rows, b.reordered_rows);
  }
}

}  // namespace disttgl::trainer::test

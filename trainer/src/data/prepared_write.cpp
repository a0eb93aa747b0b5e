// write_prepared: dataset.bin + dataset.json into a temporary sibling directory, renamed into
// place only when complete (see prepared.hpp and prepared_layout.hpp).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "checksum.hpp"
#include "disttgl/common/error.hpp"
#include "disttgl/common/log.hpp"
#include "disttgl/trainer/data/prepared.hpp"
#include "posix_fs.hpp"
#include "prepared_layout.hpp"

namespace disttgl::trainer {
namespace fs = std::filesystem;
namespace {

struct Section {
  const void* data;
  std::uint64_t bytes;
};

std::vector<unsigned char> encode_strings(const Dataset& dataset) {
  std::vector<unsigned char> out;
  for (const std::string* text :
       {&dataset.name, &dataset.source_format, &dataset.source_file, &dataset.split.source}) {
    const auto length = static_cast<std::uint32_t>(text->size());
    const auto* length_bytes = reinterpret_cast<const unsigned char*>(&length);
    out.insert(out.end(), length_bytes, length_bytes + sizeof(length));
    out.insert(out.end(), text->begin(), text->end());
  }
  out.resize(detail::pad8(out.size()), 0);
  return out;
}

// Catches a malformed Dataset (a caller's bug) before anything touches the disk.
void check_consistent(const Dataset& d) {
  const auto e = static_cast<std::size_t>(d.num_events());
  const auto n = static_cast<std::size_t>(d.num_nodes);
  DISTTGL_CHECK(d.src.size() == e && d.dst.size() == e && d.label.size() == e,
                "src/dst/label must have one entry per event");
  DISTTGL_CHECK(d.edge_feature_dim >= 0 &&
                    d.edge_features.size() == e * static_cast<std::size_t>(d.edge_feature_dim),
                "edge_features must be [E, edge_feature_dim]");
  DISTTGL_CHECK(d.node_feature_dim >= 0 &&
                    d.node_features.size() == n * static_cast<std::size_t>(d.node_feature_dim),
                "node_features must be [N, node_feature_dim]");
  DISTTGL_CHECK(d.original_ids.size() == n, "original_ids must have one entry per node");
  DISTTGL_CHECK(d.num_src_nodes >= 0 && d.num_src_nodes <= d.num_nodes,
                "num_src_nodes must be in [0, num_nodes]");
  DISTTGL_CHECK(0 <= d.split.train_end && d.split.train_end <= d.split.val_end &&
                    d.split.val_end <= d.num_events(),
                "split boundaries must satisfy 0 <= train_end <= val_end <= E");
}

class FileWriter {
 public:
  explicit FileWriter(std::string path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (file_ == nullptr) fail();
  }
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;
  ~FileWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }

  void write(const void* data, std::size_t bytes) {
    if (bytes > 0 && std::fwrite(data, 1, bytes, file_) != bytes) fail();
  }
  void close() {
    std::FILE* file = file_;
    file_ = nullptr;
    if (std::fflush(file) != 0 || ::fsync(fileno(file)) != 0) {
      const int err = errno;
      std::fclose(file);
      errno = err;
      fail();
    }
    if (std::fclose(file) != 0) fail();
  }

 private:
  [[noreturn]] void fail() const {
    throw IoError("cannot write " + path_ + ": " + std::strerror(errno));
  }
  std::string path_;
  std::FILE* file_ = nullptr;
};

void write_binary(const Dataset& d, const std::string& path) {
  const std::vector<unsigned char> strings = encode_strings(d);
  const Section sections[] = {
      {strings.data(), strings.size()},
      {d.src.data(), d.src.size() * sizeof(NodeId)},
      {d.dst.data(), d.dst.size() * sizeof(NodeId)},
      {d.ts.data(), d.ts.size() * sizeof(Timestamp)},
      {d.label.data(), d.label.size() * sizeof(std::int32_t)},
      {d.edge_features.data(), d.edge_features.size() * sizeof(float)},
      {d.node_features.data(), d.node_features.size() * sizeof(float)},
      {d.original_ids.data(), d.original_ids.size() * sizeof(std::int64_t)},
  };
  detail::PreparedHeader h;
  h.version = kPreparedFormatVersion;
  h.header_bytes = detail::kPreparedHeaderBytes;
  const std::uint8_t dtypes[4] = {detail::kDtypeInt64, detail::kDtypeFloat64, detail::kDtypeInt32,
                                  detail::kDtypeFloat32};
  std::memcpy(h.dtypes, dtypes, 4);
  h.bipartite = d.bipartite;
  h.num_nodes = d.num_nodes;
  h.num_events = d.num_events();
  h.num_src_nodes = d.num_src_nodes;
  h.edge_feature_dim = d.edge_feature_dim;
  h.node_feature_dim = d.node_feature_dim;
  h.train_end = d.split.train_end;
  h.val_end = d.split.val_end;
  h.reordered_rows = d.reordered_rows;
  h.val_time = d.split.val_time;
  h.test_time = d.split.test_time;
  h.strings_bytes = strings.size();
  for (const Section& s : sections) h.payload_bytes += detail::pad8(s.bytes);

  static constexpr unsigned char kZeros[8] = {};
  unsigned char header[detail::kPreparedHeaderBytes];
  detail::encode_header(h, header);
  detail::Checksum64 checksum;
  checksum.update(header, detail::kChecksumOffset);
  for (const Section& s : sections) {
    checksum.update(s.data, s.bytes);
    checksum.update(kZeros, detail::pad8(s.bytes) - s.bytes);
  }
  h.checksum = checksum.digest();
  detail::encode_header(h, header);

  FileWriter out(path);
  out.write(header, sizeof(header));
  for (const Section& s : sections) {
    out.write(s.data, s.bytes);
    out.write(kZeros, detail::pad8(s.bytes) - s.bytes);
  }
  out.close();
}

void write_text(const std::string& path, const std::string& text) {
  FileWriter out(path);
  out.write(text.data(), text.size());
  out.close();
}

std::string normalized(const std::string& dir) {
  fs::path path = fs::path(dir).lexically_normal();
  if (path.filename().empty()) path = path.parent_path();  // "out/" -> "out"
  return path.string();
}

// Only an earlier prepared dataset (or an empty directory) may be replaced.
void check_replaceable(const std::string& dir) {
  if (!detail::posix::exists(dir)) return;
  if (!detail::posix::is_directory(dir) ||
      (!is_prepared_dir(dir) && !detail::posix::is_empty_directory(dir))) {
    throw IoError(dir + " exists and is not a prepared dataset directory; not replacing it");
  }
}

void write_prepared_impl(const Dataset& dataset, const std::string& dir) {
  check_replaceable(dir);  // before writing anything
  const bool exists = detail::posix::exists(dir);
  const std::string pid = std::to_string(::getpid());
  const std::string tmp = dir + ".tmp-" + pid;
  detail::posix::remove_all(tmp);
  detail::posix::create_directories(tmp);
  try {
    write_binary(dataset, tmp + "/" + detail::kBinaryFile);
    write_text(tmp + "/" + detail::kSummaryFile, dataset_summary_json(dataset) + "\n");
    if (exists) {
      // Two renames: the earlier dataset stays complete until the new one is in place.
      const std::string old = dir + ".old-" + pid;
      detail::posix::remove_all(old);
      detail::posix::rename(dir, old);
      try {
        detail::posix::rename(tmp, dir);
      } catch (...) {
        ::rename(old.c_str(), dir.c_str());  // best effort: put the earlier dataset back
        throw;
      }
      detail::posix::remove_all(old);
    } else {
      detail::posix::rename(tmp, dir);
    }
  } catch (...) {
    try {
      detail::posix::remove_all(tmp);
    } catch (const IoError&) {
      // Keep the original error; a leftover DIR.tmp-PID is harmless and named after us.
    }
    throw;
  }
}

}  // namespace

void check_prepared_output(const std::string& dir) { check_replaceable(normalized(dir)); }

void write_prepared(const Dataset& dataset, const std::string& dir) {
  check_consistent(dataset);
  const std::string target = normalized(dir);
  if (target.empty()) throw IoError("cannot write a prepared dataset to an empty path");
  write_prepared_impl(dataset, target);
  spdlog::info("prepared: dir={} events={} nodes={}", target, dataset.num_events(),
               dataset.num_nodes);
}

}  // namespace disttgl::trainer

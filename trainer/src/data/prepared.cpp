// load_prepared / is_prepared_dir: reads and verifies dataset.bin (see prepared_layout.hpp).
#include "disttgl/trainer/data/prepared.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checksum.hpp"
#include "disttgl/common/error.hpp"
#include "posix_fs.hpp"
#include "prepared_layout.hpp"

namespace disttgl::trainer {
namespace fs = std::filesystem;
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

// Reads the payload sections in order, feeding the checksum as it goes.
class PayloadReader {
 public:
  PayloadReader(std::string path, std::FILE* file, detail::Checksum64& checksum)
      : path_(std::move(path)), file_(file), checksum_(checksum) {}

  void read(void* data, std::uint64_t bytes) {
    if (bytes > 0 && std::fread(data, 1, bytes, file_) != bytes) {
      // The size was checked up front, so this is a real read error or a file that shrank.
      throw InputError(
          path_, 0,
          std::string("read failed: ") + (std::ferror(file_) ? std::strerror(errno) : "truncated"));
    }
    checksum_.update(data, bytes);
  }

  template <typename T>
  void read_array(std::vector<T>& out, std::uint64_t count) {
    out.resize(count);
    read(out.data(), count * sizeof(T));
    unsigned char padding[8];
    read(padding, detail::pad8(count * sizeof(T)) - count * sizeof(T));
  }

 private:
  std::string path_;
  std::FILE* file_;
  detail::Checksum64& checksum_;
};

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw InputError(path, 0, "corrupt: " + what);
}

// Counts must be sane before they size any allocation; returns the payload size they imply.
std::uint64_t expected_payload(const std::string& path, const detail::PreparedHeader& h) {
  if (h.num_nodes < 0 || h.num_events < 0 || h.edge_feature_dim < 0 || h.node_feature_dim < 0 ||
      h.num_src_nodes < 0 || h.num_src_nodes > h.num_nodes || h.train_end < 0 ||
      h.train_end > h.val_end || h.val_end > h.num_events || h.strings_bytes % 8 != 0) {
    corrupt(path, "inconsistent counts in the header");
  }
  const auto e = static_cast<std::uint64_t>(h.num_events);
  const auto n = static_cast<std::uint64_t>(h.num_nodes);
  std::uint64_t edge_floats = 0;
  std::uint64_t node_floats = 0;
  std::uint64_t total = 0;
  bool overflow =
      __builtin_mul_overflow(e, static_cast<std::uint64_t>(h.edge_feature_dim), &edge_floats) ||
      __builtin_mul_overflow(n, static_cast<std::uint64_t>(h.node_feature_dim), &node_floats) ||
      e > (std::uint64_t{1} << 56) || n > (std::uint64_t{1} << 56) ||
      edge_floats > (std::uint64_t{1} << 60) || node_floats > (std::uint64_t{1} << 60);
  if (!overflow) {
    total = h.strings_bytes + std::uint64_t{24} * e + detail::pad8(4 * e) +
            detail::pad8(4 * edge_floats) + detail::pad8(4 * node_floats) + 8 * n;
    overflow = h.strings_bytes > (std::uint64_t{1} << 40);
  }
  if (overflow) corrupt(path, "counts in the header are too large");
  return total;
}

std::string take_string(const std::string& path, const std::vector<unsigned char>& blob,
                        std::size_t& pos) {
  std::uint32_t length = 0;
  if (blob.size() - pos < sizeof(length)) corrupt(path, "strings section");
  std::memcpy(&length, blob.data() + pos, sizeof(length));
  pos += sizeof(length);
  if (blob.size() - pos < length) corrupt(path, "strings section");
  std::string text(reinterpret_cast<const char*>(blob.data() + pos), length);
  pos += length;
  return text;
}

// Cheap invariants the sampler relies on; a checksum-valid file only fails them when the
// writer had a bug.
void check_invariants(const std::string& path, const Dataset& d) {
  const auto in_range = [&d](NodeId v) { return v >= 0 && v < d.num_nodes; };
  if (!std::all_of(d.src.begin(), d.src.end(), in_range) ||
      !std::all_of(d.dst.begin(), d.dst.end(), in_range)) {
    corrupt(path, "node id outside [0, num_nodes)");
  }
  if (!std::is_sorted(d.ts.begin(), d.ts.end())) corrupt(path, "timestamps are not sorted");
}

}  // namespace

bool is_prepared_dir(const std::string& path) {
  return detail::posix::is_directory(path) &&
         detail::posix::is_regular_file((fs::path(path) / detail::kBinaryFile).string());
}

Dataset load_prepared(const std::string& dir) {
  const std::string path = (fs::path(dir) / detail::kBinaryFile).string();
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw InputError(path, 0, std::string("cannot open: ") + std::strerror(errno));
  const std::optional<std::uint64_t> file_size = detail::posix::file_size(path);
  if (!file_size) throw InputError(path, 0, std::string("cannot stat: ") + std::strerror(errno));
  const std::uint64_t size = *file_size;
  if (size < detail::kPreparedHeaderBytes) {
    throw InputError(path, 0,
                     "truncated: " + std::to_string(size) + " bytes, shorter than the " +
                         std::to_string(detail::kPreparedHeaderBytes) + "-byte header");
  }
  unsigned char header[detail::kPreparedHeaderBytes];
  if (std::fread(header, 1, sizeof(header), file.get()) != sizeof(header)) {
    throw InputError(path, 0, std::string("read failed: ") + std::strerror(errno));
  }
  if (std::memcmp(header, detail::kPreparedMagic, sizeof(detail::kPreparedMagic)) != 0) {
    throw InputError(path, 0, "not a disttgl prepared dataset (bad magic)");
  }
  const detail::PreparedHeader h = detail::decode_header(header);
  if (h.version != kPreparedFormatVersion) {
    throw InputError(path, 0,
                     "format version " + std::to_string(h.version) + ", expected " +
                         std::to_string(kPreparedFormatVersion) +
                         " (run `disttgl-trainer prepare` again)");
  }
  const std::uint8_t dtypes[4] = {detail::kDtypeInt64, detail::kDtypeFloat64, detail::kDtypeInt32,
                                  detail::kDtypeFloat32};
  if (h.header_bytes != detail::kPreparedHeaderBytes || std::memcmp(h.dtypes, dtypes, 4) != 0) {
    corrupt(path, "unexpected header size or dtypes");
  }
  const std::uint64_t payload = expected_payload(path, h);
  if (h.payload_bytes != payload) corrupt(path, "payload size does not match the counts");
  const std::uint64_t expected_size = detail::kPreparedHeaderBytes + payload;
  if (size < expected_size) {
    throw InputError(
        path, 0,
        "truncated: " + std::to_string(size) + " bytes, expected " + std::to_string(expected_size));
  }
  if (size > expected_size) {
    corrupt(path, std::to_string(size) + " bytes, expected " + std::to_string(expected_size));
  }

  detail::Checksum64 checksum;
  checksum.update(header, detail::kChecksumOffset);
  PayloadReader reader(path, file.get(), checksum);
  std::vector<unsigned char> strings(h.strings_bytes);
  reader.read(strings.data(), strings.size());
  const auto e = static_cast<std::uint64_t>(h.num_events);
  const auto n = static_cast<std::uint64_t>(h.num_nodes);
  Dataset d;
  reader.read_array(d.src, e);
  reader.read_array(d.dst, e);
  reader.read_array(d.ts, e);
  reader.read_array(d.label, e);
  reader.read_array(d.edge_features, e * static_cast<std::uint64_t>(h.edge_feature_dim));
  reader.read_array(d.node_features, n * static_cast<std::uint64_t>(h.node_feature_dim));
  reader.read_array(d.original_ids, n);
  if (checksum.digest() != h.checksum) throw InputError(path, 0, "checksum mismatch");

  std::size_t pos = 0;
  d.name = take_string(path, strings, pos);
  d.source_format = take_string(path, strings, pos);
  d.source_file = take_string(path, strings, pos);
  d.split.source = take_string(path, strings, pos);
  d.num_nodes = h.num_nodes;
  d.bipartite = h.bipartite;
  d.num_src_nodes = h.num_src_nodes;
  d.edge_feature_dim = h.edge_feature_dim;
  d.node_feature_dim = h.node_feature_dim;
  d.split.train_end = h.train_end;
  d.split.val_end = h.val_end;
  d.split.val_time = h.val_time;
  d.split.test_time = h.test_time;
  d.reordered_rows = h.reordered_rows;
  check_invariants(path, d);
  return d;
}

}  // namespace disttgl::trainer

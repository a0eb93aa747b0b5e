// Byte layout of dataset.bin (format version 1). All integers and floats little-endian.
//
//   offset size  field
//   0      8     magic "DTGLDATA"
//   8      4     u32 format version (kPreparedFormatVersion)
//   12     4     u32 header size in bytes (128)
//   16     4     u8 dtype codes: node id, timestamp, label, feature (kDtype*)
//   20     1     u8 bipartite (0/1), then 3 zero bytes
//   24     8x8   i64 num_nodes, num_events, num_src_nodes, edge_feature_dim,
//                    node_feature_dim, train_end, val_end, reordered_rows
//   88     8     f64 split val_time
//   96     8     f64 split test_time
//   104    8     u64 strings section size (a multiple of 8)
//   112    8     u64 payload size (everything after the header)
//   120    8     u64 checksum (Checksum64 of header bytes [0, 120) then the payload)
//
// Payload, each section zero-padded to a multiple of 8 bytes:
//   strings  name, source_format, source_file, split.source, each u32 length + bytes
//   src      int64 [E]        dst  int64 [E]        ts  float64 [E]     label  int32 [E]
//   edge_features float32 [E * edge_feature_dim]   node_features float32 [N * node_feature_dim]
//   original_ids  int64 [N]
// Private to the data layer.
// Thread-safety: constants and pure functions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace disttgl::trainer::detail {

static_assert(std::endian::native == std::endian::little,
              "dataset.bin is little-endian and read/written with memcpy");

inline constexpr char kPreparedMagic[8] = {'D', 'T', 'G', 'L', 'D', 'A', 'T', 'A'};
inline constexpr std::size_t kPreparedHeaderBytes = 128;
inline constexpr std::size_t kChecksumOffset = 120;
inline constexpr std::uint8_t kDtypeInt64 = 1;
inline constexpr std::uint8_t kDtypeFloat64 = 2;
inline constexpr std::uint8_t kDtypeInt32 = 3;
inline constexpr std::uint8_t kDtypeFloat32 = 4;
inline constexpr const char* kBinaryFile = "dataset.bin";
inline constexpr const char* kSummaryFile = "dataset.json";

struct PreparedHeader {
  std::uint32_t version = 0;
  std::uint32_t header_bytes = 0;
  std::uint8_t dtypes[4] = {};
  bool bipartite = false;
  std::int64_t num_nodes = 0;
  std::int64_t num_events = 0;
  std::int64_t num_src_nodes = 0;
  std::int64_t edge_feature_dim = 0;
  std::int64_t node_feature_dim = 0;
  std::int64_t train_end = 0;
  std::int64_t val_end = 0;
  std::int64_t reordered_rows = 0;
  double val_time = 0.0;
  double test_time = 0.0;
  std::uint64_t strings_bytes = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t checksum = 0;
};

inline constexpr std::uint64_t pad8(std::uint64_t bytes) { return (bytes + 7) / 8 * 8; }

template <typename T>
void put(unsigned char* out, std::size_t offset, T value) {
  std::memcpy(out + offset, &value, sizeof(T));
}
template <typename T>
T get(const unsigned char* in, std::size_t offset) {
  T value;
  std::memcpy(&value, in + offset, sizeof(T));
  return value;
}

inline void encode_header(const PreparedHeader& h, unsigned char* out) {
  std::memset(out, 0, kPreparedHeaderBytes);
  std::memcpy(out, kPreparedMagic, sizeof(kPreparedMagic));
  put(out, 8, h.version);
  put(out, 12, h.header_bytes);
  std::memcpy(out + 16, h.dtypes, 4);
  put<std::uint8_t>(out, 20, h.bipartite ? 1 : 0);
  const std::int64_t counts[8] = {h.num_nodes,        h.num_events,       h.num_src_nodes,
                                  h.edge_feature_dim, h.node_feature_dim, h.train_end,
                                  h.val_end,          h.reordered_rows};
  for (std::size_t k = 0; k < 8; ++k) put(out, 24 + 8 * k, counts[k]);
  put(out, 88, h.val_time);
  put(out, 96, h.test_time);
  put(out, 104, h.strings_bytes);
  put(out, 112, h.payload_bytes);
  put(out, kChecksumOffset, h.checksum);
}

/// Decodes every field; the caller checks the magic (bytes [0, 8)) and the values.
inline PreparedHeader decode_header(const unsigned char* in) {
  PreparedHeader h;
  h.version = get<std::uint32_t>(in, 8);
  h.header_bytes = get<std::uint32_t>(in, 12);
  std::memcpy(h.dtypes, in + 16, 4);
  h.bipartite = get<std::uint8_t>(in, 20) != 0;
  std::int64_t* counts[8] = {&h.num_nodes,        &h.num_events,       &h.num_src_nodes,
                             &h.edge_feature_dim, &h.node_feature_dim, &h.train_end,
                             &h.val_end,          &h.reordered_rows};
  for (std::size_t k = 0; k < 8; ++k) *counts[k] = get<std::int64_t>(in, 24 + 8 * k);
  h.val_time = get<double>(in, 88);
  h.test_time = get<double>(in, 96);
  h.strings_bytes = get<std::uint64_t>(in, 104);
  h.payload_bytes = get<std::uint64_t>(in, 112);
  h.checksum = get<std::uint64_t>(in, kChecksumOffset);
  return h;
}

}  // namespace disttgl::trainer::detail

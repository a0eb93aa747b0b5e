// The versioned binary dataset that `disttgl-trainer prepare` writes and training loads.
//
// DIR/dataset.bin (layout in trainer/src/data/prepared_layout.hpp): a 128-byte header
// (magic "DTGLDATA", u32 format version, dtype codes, counts, split, payload size, and a
// 64-bit checksum of the header fields plus the payload) followed by the arrays, little-
// endian: int64 src[E], int64 dst[E], float64 ts[E], int32 label[E], float32
// edge_features[E, de], float32 node_features[N, dn], int64 original_ids[N], and the
// strings (name, source format, source file, split source).
// DIR/dataset.json: the human-readable summary (see dataset_summary_json).
// Writing goes to a temporary sibling directory DIR.tmp-<pid> that is renamed into place,
// so a failed run leaves nothing behind and an earlier DIR is replaced only on success.
// Thread-safety: stateless functions; concurrent writers to the same DIR are not supported.
#pragma once

#include <cstdint>
#include <string>

#include "disttgl/trainer/data/dataset.hpp"

namespace disttgl::trainer {

/// Current binary format version; loading any other version is an InputError.
inline constexpr std::uint32_t kPreparedFormatVersion = 1;

/// Writes `dataset` to `dir` atomically (temp sibling dir + rename), creating missing
/// parent directories. `dir` may be absent, empty, or an earlier prepared dataset (replaced).
/// Throws IoError when `dir` exists and is anything else ("DIR exists and is not a prepared
/// dataset directory; not replacing it") or on a write failure ("cannot write ..."), and
/// InternalError when `dataset`'s arrays disagree with its counts.
void write_prepared(const Dataset& dataset, const std::string& dir);

/// Throws the IoError write_prepared would throw for an existing `dir` that it may not
/// replace; lets a command fail before a long import.
void check_prepared_output(const std::string& dir);

/// Loads DIR/dataset.bin. Throws InputError "DIR/dataset.bin: WHAT" with WHAT one of
/// "cannot open: REASON", "truncated: N bytes, shorter than the 128-byte header",
/// "not a disttgl prepared dataset (bad magic)", "format version 7, expected 1 (run
/// `disttgl-trainer prepare` again)", "truncated: N bytes, expected M", "checksum mismatch",
/// or "corrupt: ..." (impossible counts, trailing bytes, ids out of range, unsorted times).
Dataset load_prepared(const std::string& dir);

/// True when `path` is a directory containing a regular file dataset.bin.
bool is_prepared_dir(const std::string& path);

/// The dataset.json text for `dataset` (pretty-printed, 2 spaces): format, format_version,
/// name, source_file, source_format, num_nodes, num_events, bipartite, num_src_nodes,
/// edge_feature_dim, node_feature_dim, time_min, time_max, time_span, split {source, train,
/// val, test, train_end, val_end[, val_time, test_time]}, reordered_rows, dtypes, data_file.
std::string dataset_summary_json(const Dataset& dataset);

}  // namespace disttgl::trainer

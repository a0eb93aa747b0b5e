// The versioned binary dataset that `disttgl-trainer prepare` writes and training loads.
//
// DIR/dataset.bin: a fixed header (magic "DTGLDATA", format version, counts, dtypes, a
// 64-bit checksum of the payload) followed by the arrays: int64 src/dst, float64 ts,
// int32 label, float32 edge/node features, int64 original ids. DIR/dataset.json: the
// human-readable summary (num_nodes, num_events, bipartite, edge_feature_dim,
// node_feature_dim, time_span, split {train, val, test}, reordered_rows, ...).
// Writing goes to a temporary sibling directory that is renamed into place, so a failed run
// leaves nothing behind.
#pragma once

#include <cstdint>
#include <string>

#include "disttgl/trainer/data/dataset.hpp"

namespace disttgl::trainer {

/// Current binary format version; loading any other version is an InputError.
inline constexpr std::uint32_t kPreparedFormatVersion = 1;

/// Writes `dataset` to `dir` atomically (temp dir + rename). Throws IoError when `dir`
/// exists and is not a prepared dataset directory, or on write failure.
void write_prepared(const Dataset& dataset, const std::string& dir);

/// Loads a prepared dataset directory. Throws InputError naming the file on a bad magic,
/// a version mismatch ("... format version 7, expected 1"), a checksum mismatch or
/// truncation.
Dataset load_prepared(const std::string& dir);

/// True when `path` is a directory containing dataset.bin.
bool is_prepared_dir(const std::string& path);

/// The dataset.json summary text for `dataset` (pretty-printed JSON).
std::string dataset_summary_json(const Dataset& dataset);

}  // namespace disttgl::trainer

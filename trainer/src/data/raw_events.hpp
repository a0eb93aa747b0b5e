// The events of one input file as read, before sorting, remapping and splitting: original
// node ids in file order. Each format's reader (readers.hpp) fills one; import.cpp turns it
// into a Dataset. Private to the data layer.
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "disttgl/common/types.hpp"

namespace disttgl::trainer::detail {

struct RawEvents {
  std::vector<std::int64_t> src;    ///< [E] original source id (>= 0)
  std::vector<std::int64_t> dst;    ///< [E] original destination id (>= 0)
  std::vector<Timestamp> ts;        ///< [E] finite, in file order
  std::vector<std::int32_t> label;  ///< [E] 0 when the format has none
  std::int64_t edge_feature_dim = 0;
  std::vector<float> edge_features;  ///< [E, edge_feature_dim] row-major
  /// Sources and destinations are separate id spaces (JODIE users and items).
  bool bipartite = false;
  /// TGL only: [E] ext_roll (0 train, 1 val, 2 test) and [E] 1-based file line, so that a
  /// split that is not chronological can be reported at its line after sorting.
  std::vector<std::int8_t> ext_roll;
  std::vector<std::int64_t> line;
  /// TGL only: [num_rows, node_feature_dim] rows indexed by ORIGINAL node id.
  std::int64_t node_feature_dim = 0;
  std::vector<float> node_features;
  std::string node_features_file;  ///< for error messages; empty when absent

  std::int64_t size() const { return static_cast<std::int64_t>(ts.size()); }
};

}  // namespace disttgl::trainer::detail

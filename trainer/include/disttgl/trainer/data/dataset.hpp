// The in-memory temporal interaction dataset: a validated, time-sorted, id-remapped event
// list with its chronological split. Produced by the importers (import.hpp), written and
// read by prepared.hpp, consumed by the T-CSR and the sampler.
// Thread-safety: a plain value; concurrent const access is safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "disttgl/common/types.hpp"

namespace disttgl::trainer {

/// Chronological split as event-index boundaries over the time-sorted events:
/// train = [0, train_end), val = [train_end, val_end), test = [val_end, num_events).
struct Split {
  std::int64_t train_end = 0;
  std::int64_t val_end = 0;
  /// Where the boundaries came from: "quantile" (TGN/DyGLib np.quantile(ts,[q_val,q_test]))
  /// or "ext_roll" (TGL's column).
  std::string source = "quantile";
  /// Quantile source only: the thresholds np.quantile(ts, [q_val, q_test]); 0 for ext_roll.
  double val_time = 0.0;
  double test_time = 0.0;
};

struct Dataset {
  std::string name;                 ///< input file stem, e.g. "wikipedia"
  std::string source_format;        ///< "jodie", "tgl", "dyglib", "snap" or "columns"
  std::int64_t num_nodes = 0;       ///< N; ids are contiguous in [0, N)
  bool bipartite = false;           ///< sources and destinations are disjoint id ranges
  std::int64_t num_src_nodes = 0;   ///< bipartite: sources are [0, num_src_nodes), destinations
                                    ///< [num_src_nodes, N); otherwise equal to N
  std::vector<NodeId> src;          ///< [E] source node of each event
  std::vector<NodeId> dst;          ///< [E] destination node of each event
  std::vector<Timestamp> ts;        ///< [E] non-decreasing event times
  std::vector<std::int32_t> label;  ///< [E] JODIE state label / DyGLib label; 0 when absent
  std::int64_t edge_feature_dim = 0;
  std::vector<float> edge_features;  ///< [E, edge_feature_dim] row-major, float32
  std::int64_t node_feature_dim = 0;
  std::vector<float> node_features;  ///< [N, node_feature_dim] row-major, float32
  Split split;
  std::int64_t reordered_rows = 0;  ///< rows the stable time sort moved from their file position
  /// [N] original id of each remapped node, as written in the input file. Bipartite: for
  /// v < num_src_nodes the original user (source) id, otherwise the original item
  /// (destination) id; the two id spaces may overlap.
  std::vector<std::int64_t> original_ids;
  std::string source_file;  ///< input path as given to import_dataset

  std::int64_t num_events() const { return static_cast<std::int64_t>(ts.size()); }
  /// Last minus first event time (0 for an empty dataset), in the input's time unit.
  double time_span() const { return ts.empty() ? 0.0 : ts.back() - ts.front(); }
  std::int64_t num_train() const { return split.train_end; }
  std::int64_t num_val() const { return split.val_end - split.train_end; }
  std::int64_t num_test() const { return num_events() - split.val_end; }
};

}  // namespace disttgl::trainer

// dataset_summary_json: the human-readable DIR/dataset.json beside dataset.bin.
#include <nlohmann/json.hpp>

#include "disttgl/trainer/data/prepared.hpp"

namespace disttgl::trainer {

std::string dataset_summary_json(const Dataset& d) {
  nlohmann::ordered_json split = {
      {"source", d.split.source}, {"train", d.num_train()},         {"val", d.num_val()},
      {"test", d.num_test()},     {"train_end", d.split.train_end}, {"val_end", d.split.val_end},
  };
  if (d.split.source == "quantile") {
    split["val_time"] = d.split.val_time;
    split["test_time"] = d.split.test_time;
  }
  const nlohmann::ordered_json summary = {
      {"format", "disttgl-prepared-dataset"},
      {"format_version", kPreparedFormatVersion},
      {"name", d.name},
      {"source_file", d.source_file},
      {"source_format", d.source_format},
      {"num_nodes", d.num_nodes},
      {"num_events", d.num_events()},
      {"bipartite", d.bipartite},
      {"num_src_nodes", d.num_src_nodes},
      {"edge_feature_dim", d.edge_feature_dim},
      {"node_feature_dim", d.node_feature_dim},
      {"time_min", d.ts.empty() ? 0.0 : d.ts.front()},
      {"time_max", d.ts.empty() ? 0.0 : d.ts.back()},
      {"time_span", d.time_span()},
      {"split", split},
      {"reordered_rows", d.reordered_rows},
      {"dtypes",
       {{"node_id", "int64"},
        {"timestamp", "float64"},
        {"label", "int32"},
        {"feature", "float32"}}},
      {"data_file", "dataset.bin"},
  };
  return summary.dump(2);
}

}  // namespace disttgl::trainer

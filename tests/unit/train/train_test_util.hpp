// Torch-free helpers shared by the trainer tests: the ConfigError message of a YAML config,
// and a dataset of uniformly random events.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/data/import.hpp"
#include "disttgl/trainer/train/config.hpp"

namespace disttgl::test {

/// What parse_config(yaml) throws as a ConfigError, or "no error".
inline std::string error_of(const std::string& yaml) {
  try {
    trainer::parse_config(yaml, "c.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

/// Uniformly random endpoints and times: nothing about the future is predictable. One id space
/// of `num_nodes`, labels 0, the 70/85 % quantile split; the same `seed` gives the same graph.
inline trainer::Dataset random_graph(std::int64_t num_nodes, std::int64_t num_events,
                                     std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<NodeId> node(0, num_nodes - 1);
  std::uniform_real_distribution<double> time(0.0, 1e6);
  trainer::Dataset d;
  d.name = "random";
  d.num_nodes = num_nodes;
  d.num_src_nodes = num_nodes;
  for (std::int64_t i = 0; i < num_events; ++i) d.ts.push_back(time(rng));
  std::sort(d.ts.begin(), d.ts.end());
  for (std::int64_t i = 0; i < num_events; ++i) {
    d.src.push_back(node(rng));
    d.dst.push_back(node(rng));
  }
  d.label.assign(d.ts.size(), 0);
  d.split = trainer::quantile_split(d.ts, 0.70, 0.85);
  return d;
}

}  // namespace disttgl::test

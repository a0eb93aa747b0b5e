// Negative sampling for temporal link prediction (disttgl.md §3.5).
//  * Candidates: all nodes, or for bipartite graphs the destination set (DistTGL's rule;
//    our importers give destinations the id range [num_src_nodes, N)).
//  * Draws are uniform over the candidates and counter-based: draw i for event e is a hash of
//    (seed, e, i) (splitmix64), so a set of negatives is fixed by its seed and independent of
//    batch size, batch boundaries and thread count. Training uses a fresh seed per epoch (or
//    per negative set); evaluation uses one fixed seed: 1 per positive for AP/AUC, 49 for MRR.
// Thread-safety: const methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <vector>

#include "disttgl/common/types.hpp"
#include "disttgl/trainer/data/dataset.hpp"

namespace disttgl::trainer {

class NegativeSampler {
 public:
  /// Candidates are [lo, hi): [num_src_nodes, N) for a bipartite dataset, else [0, N).
  /// Throws ConfigError when that range is empty.
  explicit NegativeSampler(const Dataset& dataset);
  /// Candidates are [lo, hi). Throws ConfigError unless 0 <= lo < hi.
  NegativeSampler(NodeId lo, NodeId hi);

  /// `count` negatives for each of the events [first, first + num): result[k * count + i] is
  /// negative i of event first + k, uniform over [lo, hi). Deterministic in (seed, event id,
  /// i). Throws ConfigError when first < 0, num < 0 or count < 0.
  std::vector<NodeId> sample(EdgeId first, std::int64_t num, int count, std::uint64_t seed) const;

  /// Negative i of event `event` alone: sample(event, 1, i + 1, seed)[i].
  NodeId draw(EdgeId event, int i, std::uint64_t seed) const;

  NodeId lo() const { return lo_; }
  NodeId hi() const { return hi_; }

 private:
  NodeId lo_;
  NodeId hi_;
};

}  // namespace disttgl::trainer

// Negative sampling for temporal link prediction (disttgl.md §3.5; Poursafaei et al.,
// "Towards Better Evaluation for Dynamic Link Prediction", NeurIPS 2022, §4).
// A negative of the positive event e = (s, d, t) keeps the source s and replaces d by a
// destination drawn from the strategy's pool, never d itself (TGB's rule: a negative equal to
// the true destination would tie with the positive and be no negative at all):
//  * kRandom: the candidates, all nodes or for bipartite graphs the destination set
//    (DistTGL's rule; our importers give destinations the id range [num_src_nodes, N)).
//  * kHistorical: destinations d' != d such that the pair (s, d') occurred strictly before t
//    ("edges observed at previous timestamps").
//  * kInductive: as historical, restricted to pairs that never occur in the training split
//    ("edges observed during evaluation but not during training").
// Poursafaei et al. and DyGLib draw whole negative edges (s', d') from those sets; keeping the
// positive's source (as TGB's per-source negatives do) lets every strategy share the batch
// layout and the MRR ranking. When an event's pool is empty its draw falls back to kRandom
// (DyGLib fills short historical sets with random edges the same way); pool_size() tells.
// Draws are counter-based: draw i for event e is a hash of (strategy, seed, e, i)
// (splitmix64), uniform over the pool with replacement, so a set of negatives is fixed by its
// seed and independent of batch size, batch boundaries and thread count. Training uses
// kRandom with a fresh seed per epoch (or per negative set); evaluation uses one fixed seed.
// Thread-safety: const methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "disttgl/common/types.hpp"
#include "disttgl/trainer/data/dataset.hpp"

namespace disttgl::trainer {

enum class NegativeStrategy { kRandom, kHistorical, kInductive };

/// "random", "historical" or "inductive".
const char* to_string(NegativeStrategy strategy);
/// Parses a strategy name; throws ConfigError naming `field` and the three choices otherwise.
NegativeStrategy parse_negative_strategy(const std::string& name, const std::string& field);
/// The three strategies, in the order above.
const std::vector<NegativeStrategy>& all_negative_strategies();

class NegativeSampler {
 public:
  /// Every strategy over `dataset` (which must outlive the sampler), with dataset.split's
  /// train_end as the end of training for kInductive. Random candidates are
  /// [num_src_nodes, N) for a bipartite dataset, else [0, N). O(E) time and memory for the
  /// pair index. Throws ConfigError when the candidate range is empty.
  explicit NegativeSampler(const Dataset& dataset);
  /// kRandom only, over [lo, hi), with no true destination to exclude (tests, benchmarks).
  /// Throws ConfigError unless 0 <= lo < hi.
  NegativeSampler(NodeId lo, NodeId hi);

  /// `count` negatives for each of the events [first, first + num): result[k * count + i] is
  /// negative i of event first + k. Deterministic in (strategy, seed, event id, i), so fewer
  /// negatives per event are a prefix of more. Throws ConfigError when first < 0, num < 0,
  /// count < 0, an event is outside the dataset, or a strategy other than kRandom is asked of
  /// a sampler built without a dataset.
  std::vector<NodeId> sample(EdgeId first, std::int64_t num, int count, std::uint64_t seed,
                             NegativeStrategy strategy = NegativeStrategy::kRandom) const;

  /// Negative i of event `event` alone: sample(event, 1, i + 1, seed, strategy)[i].
  NodeId draw(EdgeId event, int i, std::uint64_t seed,
              NegativeStrategy strategy = NegativeStrategy::kRandom) const;

  /// The sorted pool event `event` draws from under `strategy` (the fallback's random pool
  /// when its own is empty, minus the true destination). For tests and documentation: O(N).
  std::vector<NodeId> pool(EdgeId event, NegativeStrategy strategy) const;
  /// Size of the strategy's own pool for `event` (0: the draw falls back to kRandom).
  std::int64_t pool_size(EdgeId event, NegativeStrategy strategy) const;

  NodeId lo() const { return lo_; }
  NodeId hi() const { return hi_; }

 private:
  struct Range {
    std::int64_t begin, end;  // [begin, end) of pair_dst_
    std::int64_t skip;        // position of the true destination in it, or -1
    std::int64_t size() const { return end - begin - (skip >= 0 ? 1 : 0); }
  };
  Range pair_range(EdgeId event, NegativeStrategy strategy) const;
  NodeId draw_one(EdgeId event, int i, std::uint64_t seed, NegativeStrategy strategy) const;
  void check_event(EdgeId event) const;

  const Dataset* dataset_ = nullptr;
  NodeId lo_;
  NodeId hi_;
  // The distinct (source, destination) pairs, grouped by source and in order of first
  // occurrence within a source: source s owns [pair_offsets_[s], pair_offsets_[s + 1]).
  std::vector<std::int64_t> pair_offsets_;
  std::vector<NodeId> pair_dst_;
  std::vector<Timestamp> pair_first_time_;  // time of the pair's first event
  // Per source, how many of its pairs first occur in the training split (they come first).
  std::vector<std::int64_t> train_pairs_;
  // Per event, the position of its own pair in pair_dst_.
  std::vector<std::int64_t> event_pair_;
};

}  // namespace disttgl::trainer

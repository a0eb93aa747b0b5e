// Temporal neighbour sampler, the TGL design (sampler_core.cpp; disttgl.md §2) with its
// known defects fixed:
//  * only events strictly earlier than the root's time are sampled (exact compare, no 1e-7);
//  * the node's earliest event is sampleable (TGL PR #15's off-by-one);
//  * uniform draws are seeded per (seed, stream, layer, node, time), so results are identical
//    for any thread count and two roots with the same (node, time) — a positive and its
//    negative-sampled twin — get identical samples. The trainer passes the epoch as the
//    stream of training batches, so every epoch redraws (as TGL and DyGLib do), and stream 0
//    for evaluation and replay, whose draws stay fixed by the seed.
// Strategies, for a root (n, t) whose eligible window W = events of n with ts < t holds w
// entries:
//  * kRecent: the min(w, fanout) most recent entries of W, by (ts, eid) descending.
//  * kUniform: when w >= fanout, `fanout` draws WITH replacement from W (TGL's rule, so an
//    event may appear twice); when w < fanout, all w entries (no duplicates are invented to
//    fill the fanout). Entries of a root are emitted most recent first in both cases.
// Multi-layer: layer l+1 samples for every node of layer l's block at that node's time.
// Parallelism: roots are split into contiguous static chunks, one per thread of a persistent
// pool; each thread fills its own buffers and a prefix-sum merge writes flat arrays in root
// order.
// Per-node cursors remember where the last query cut off, which makes time-ordered batches
// cheap (a short gallop forward instead of a binary search); they are only a search hint, so
// out-of-order queries stay correct and give identical results.
// Thread-safety: `sample` and `reset` may be called from one thread at a time (sample uses
// the worker pool); the graph is shared read-only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "disttgl/trainer/sampler/block.hpp"
#include "disttgl/trainer/sampler/tcsr.hpp"

namespace disttgl::trainer {

enum class SamplingStrategy { kRecent, kUniform };

struct SamplerOptions {
  std::vector<int> fanouts = {10};  ///< neighbours per root, one entry per layer
  SamplingStrategy strategy = SamplingStrategy::kRecent;
  int num_threads = 1;     ///< worker threads; results do not depend on it
  std::uint64_t seed = 0;  ///< uniform strategy only
  /// Use the per-node cursors as a search hint. Off = a binary search per root (DistTGL's
  /// `use_ptr = false`); results are identical either way.
  bool use_cursor = true;
};

class TemporalSampler {
 public:
  /// `graph` must outlive the sampler. Throws ConfigError on an empty fanout list, a fanout
  /// < 1 or num_threads < 1.
  TemporalSampler(const TCSR& graph, SamplerOptions options);
  ~TemporalSampler();
  TemporalSampler(const TemporalSampler&) = delete;
  TemporalSampler& operator=(const TemporalSampler&) = delete;

  /// Samples fanouts.size() layers for the roots (nodes[i], times[i]); returns one block per
  /// layer, blocks[0] for the given roots, blocks[l + 1] rooted at blocks[l].nodes with
  /// blocks[l].times. Throws InternalError when the spans differ in length or a node id is
  /// outside [0, graph.num_nodes). A NaN root time has an empty window.
  /// `stream` selects an independent set of uniform draws under the same seed (the training
  /// epoch; 0 = evaluation); the recent strategy ignores it.
  std::vector<TemporalBlock> sample(std::span<const NodeId> nodes,
                                    std::span<const Timestamp> times,
                                    std::uint64_t stream = 0) const;

  /// Rewinds the per-node cursors (call at each epoch start; correctness never needs it).
  void reset();

  const SamplerOptions& options() const { return options_; }

 private:
  struct Impl;
  const TCSR& graph_;
  SamplerOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace disttgl::trainer

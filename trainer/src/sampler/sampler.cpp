// Temporal neighbour sampler: per-layer static chunking over a persistent worker pool,
// per-thread buffers, prefix-sum merge (see sampler.hpp for the sampling rules).
#include "disttgl/trainer/sampler/sampler.hpp"

#include <algorithm>
#include <functional>
#include <numeric>
#include <string>

#include "disttgl/common/error.hpp"
#include "hash.hpp"
#include "window.hpp"
#include "worker_pool.hpp"

namespace disttgl::trainer {
namespace {

// Below these sizes waking the workers costs more than the work itself; the results do not
// depend on how the roots are chunked, only the speed does.
constexpr std::int64_t kMinRootsPerChunk = 128;
constexpr std::int64_t kMinEdgesForParallelMerge = std::int64_t{1} << 16;

// One thread's output for its chunk of roots; sized on demand and reused across calls, so
// the sampling loop writes by index and never allocates.
struct ThreadBuffer {
  std::vector<NodeId> nbr;
  std::vector<Timestamp> ts;
  std::vector<EdgeId> eid;
  std::vector<std::int64_t> row;
  std::vector<Timestamp> dt;
  std::vector<std::int64_t> draws;  // uniform: the fanout drawn positions of one root
  std::int64_t count = 0;

  void ensure(std::int64_t capacity, int fanout) {
    const auto cap = static_cast<std::size_t>(capacity);
    if (nbr.size() < cap) {
      nbr.resize(cap);
      ts.resize(cap);
      eid.resize(cap);
      row.resize(cap);
      dt.resize(cap);
    }
    if (draws.size() < static_cast<std::size_t>(fanout)) draws.resize(fanout);
    count = 0;
  }
};

// Sink writing into a ThreadBuffer by index (multi-chunk calls, merged afterwards).
struct BufferSink {
  explicit BufferSink(ThreadBuffer& b)
      : nbr(b.nbr.data()), ts(b.ts.data()), eid(b.eid.data()), row(b.row.data()), dt(b.dt.data()) {}
  void emit(std::int64_t root, NodeId n, Timestamp t_event, EdgeId e, Timestamp delta) {
    nbr[k] = n;
    ts[k] = t_event;
    eid[k] = e;
    row[k] = root;
    dt[k] = delta;
    ++k;
  }
  NodeId* nbr;
  Timestamp* ts;
  EdgeId* eid;
  std::int64_t* row;
  Timestamp* dt;
  std::int64_t k = 0;
};

// Sink appending straight to the output block (single-chunk calls: nothing to merge). The
// block's vectors are reserved for the worst case, so push_back never reallocates.
struct BlockSink {
  void emit(std::int64_t root, NodeId n, Timestamp t_event, EdgeId e, Timestamp delta) {
    block.col.push_back(static_cast<std::int64_t>(block.nodes.size()));
    block.nodes.push_back(n);
    block.times.push_back(t_event);
    block.eid.push_back(e);
    block.row.push_back(root);
    block.dt.push_back(delta);
  }
  TemporalBlock& block;
};

// Everything one layer's chunk loop reads, gathered so the loop touches flat arrays only.
struct LayerJob {
  const TCSR* graph;
  std::atomic<std::int64_t>* cursors;  // nullptr when cursors are off
  const NodeId* nodes;
  const Timestamp* times;
  int fanout;
  SamplingStrategy strategy;
  std::uint64_t layer_seed;  // hash of (seed, layer)
};

// Samples roots [lo, hi) of `job` into `sink`; `draws` has room for `fanout` positions.
template <typename Sink>
void sample_roots(const LayerJob& job, std::int64_t lo, std::int64_t hi, std::int64_t* draws,
                  Sink& sink) {
  const std::int64_t* indptr = job.graph->indptr.data();
  const NodeId* g_nbr = job.graph->nbr.data();
  const EdgeId* g_eid = job.graph->eid.data();
  const Timestamp* g_ts = job.graph->ts.data();
  const std::int64_t fanout = job.fanout;

  for (std::int64_t i = lo; i < hi; ++i) {
    const NodeId n = job.nodes[i];
    const Timestamp t = job.times[i];
    const std::int64_t begin = indptr[n];
    const std::int64_t end = indptr[n + 1];
    const std::int64_t cut = job.cursors
                                 ? detail::cut_with_cursor(g_ts, begin, end, t, job.cursors[n])
                                 : detail::cut_by_search(g_ts, begin, end, t);
    const std::int64_t window = cut - begin;
    if (job.strategy == SamplingStrategy::kUniform && window >= fanout) {
      const std::uint64_t h =
          detail::hash_combine(detail::hash_combine(job.layer_seed, static_cast<std::uint64_t>(n)),
                               detail::time_bits(t));
      for (std::int64_t j = 0; j < fanout; ++j) {
        // j-th output of a splitmix64 stream started at h.
        const std::uint64_t r =
            detail::splitmix64(h + static_cast<std::uint64_t>(j) * detail::kGoldenGamma);
        draws[j] = begin + detail::bounded(r, window);
      }
      std::sort(draws, draws + fanout, std::greater<>());
      for (std::int64_t j = 0; j < fanout; ++j) {
        const std::int64_t p = draws[j];
        sink.emit(i, g_nbr[p], g_ts[p], g_eid[p], t - g_ts[p]);
      }
    } else {
      const std::int64_t stop = cut - std::min(window, fanout);
      for (std::int64_t p = cut - 1; p >= stop; --p) {
        sink.emit(i, g_nbr[p], g_ts[p], g_eid[p], t - g_ts[p]);
      }
    }
  }
}

}  // namespace

struct TemporalSampler::Impl {
  explicit Impl(int num_threads) : pool(num_threads), buffers(num_threads) {}

  detail::WorkerPool pool;
  std::vector<ThreadBuffer> buffers;
  std::unique_ptr<std::atomic<std::int64_t>[]> cursors;

  TemporalBlock sample_layer(const LayerJob& job, std::int64_t num_roots);
};

TemporalBlock TemporalSampler::Impl::sample_layer(const LayerJob& job, std::int64_t num_roots) {
  const std::int64_t chunks =
      std::clamp<std::int64_t>(num_roots / kMinRootsPerChunk, 1, pool.size());
  const auto max_edges = static_cast<std::size_t>(num_roots * job.fanout);
  const auto roots = static_cast<std::size_t>(num_roots);
  TemporalBlock block;
  block.num_roots = num_roots;

  if (chunks == 1) {
    block.nodes.reserve(roots + max_edges);
    block.times.reserve(roots + max_edges);
    block.row.reserve(max_edges);
    block.col.reserve(max_edges);
    block.eid.reserve(max_edges);
    block.dt.reserve(max_edges);
    block.nodes.assign(job.nodes, job.nodes + num_roots);
    block.times.assign(job.times, job.times + num_roots);
    ThreadBuffer& scratch = buffers[0];
    if (scratch.draws.size() < static_cast<std::size_t>(job.fanout))
      scratch.draws.resize(job.fanout);
    BlockSink sink{block};
    sample_roots(job, 0, num_roots, scratch.draws.data(), sink);
    return block;
  }

  auto chunk_begin = [&](std::int64_t c) { return num_roots * c / chunks; };
  pool.run([&](int c) {
    if (c >= chunks) return;
    const std::int64_t lo = chunk_begin(c);
    const std::int64_t hi = chunk_begin(c + 1);
    ThreadBuffer& buffer = buffers[static_cast<std::size_t>(c)];
    buffer.ensure((hi - lo) * job.fanout, job.fanout);
    BufferSink sink(buffer);
    sample_roots(job, lo, hi, buffer.draws.data(), sink);
    buffer.count = sink.k;
  });

  std::vector<std::int64_t> offset(static_cast<std::size_t>(chunks + 1), 0);
  for (std::int64_t c = 0; c < chunks; ++c) offset[c + 1] = offset[c] + buffers[c].count;
  const std::int64_t num_edges = offset[chunks];
  const auto edges = static_cast<std::size_t>(num_edges);

  if (num_edges < kMinEdgesForParallelMerge) {
    // Serial merge by appending: no zero-fill of the output.
    block.nodes.reserve(roots + edges);
    block.times.reserve(roots + edges);
    block.nodes.assign(job.nodes, job.nodes + num_roots);
    block.times.assign(job.times, job.times + num_roots);
    block.row.reserve(edges);
    block.eid.reserve(edges);
    block.dt.reserve(edges);
    for (std::int64_t c = 0; c < chunks; ++c) {
      const ThreadBuffer& b = buffers[static_cast<std::size_t>(c)];
      const auto n = static_cast<std::ptrdiff_t>(b.count);
      block.nodes.insert(block.nodes.end(), b.nbr.begin(), b.nbr.begin() + n);
      block.times.insert(block.times.end(), b.ts.begin(), b.ts.begin() + n);
      block.row.insert(block.row.end(), b.row.begin(), b.row.begin() + n);
      block.eid.insert(block.eid.end(), b.eid.begin(), b.eid.begin() + n);
      block.dt.insert(block.dt.end(), b.dt.begin(), b.dt.begin() + n);
    }
    block.col.resize(edges);
    std::iota(block.col.begin(), block.col.end(), num_roots);
    return block;
  }

  // Parallel merge: each chunk copies its buffer to its prefix-sum offset.
  block.nodes.resize(roots + edges);
  block.times.resize(roots + edges);
  block.row.resize(edges);
  block.col.resize(edges);
  block.eid.resize(edges);
  block.dt.resize(edges);
  std::copy(job.nodes, job.nodes + num_roots, block.nodes.begin());
  std::copy(job.times, job.times + num_roots, block.times.begin());
  pool.run([&](int c) {
    if (c >= chunks) return;
    const ThreadBuffer& b = buffers[static_cast<std::size_t>(c)];
    const std::int64_t base = offset[c];
    const auto n = static_cast<std::ptrdiff_t>(b.count);
    std::copy_n(b.nbr.begin(), n, block.nodes.begin() + num_roots + base);
    std::copy_n(b.ts.begin(), n, block.times.begin() + num_roots + base);
    std::copy_n(b.row.begin(), n, block.row.begin() + base);
    std::copy_n(b.eid.begin(), n, block.eid.begin() + base);
    std::copy_n(b.dt.begin(), n, block.dt.begin() + base);
    std::iota(block.col.begin() + base, block.col.begin() + base + n, num_roots + base);
  });
  return block;
}

TemporalSampler::TemporalSampler(const TCSR& graph, SamplerOptions options)
    : graph_(graph), options_(std::move(options)) {
  if (options_.fanouts.empty()) throw ConfigError("sampler: fanouts must list at least one layer");
  for (std::size_t l = 0; l < options_.fanouts.size(); ++l) {
    if (options_.fanouts[l] < 1) {
      throw ConfigError("sampler: fanouts[" + std::to_string(l) + "] is " +
                        std::to_string(options_.fanouts[l]) + ", must be >= 1");
    }
  }
  if (options_.num_threads < 1) {
    throw ConfigError("sampler: num_threads is " + std::to_string(options_.num_threads) +
                      ", must be >= 1");
  }
  DISTTGL_CHECK(static_cast<std::int64_t>(graph_.indptr.size()) == graph_.num_nodes + 1,
                "T-CSR indptr does not have num_nodes + 1 entries");
  impl_ = std::make_unique<Impl>(options_.num_threads);
  impl_->cursors =
      std::make_unique<std::atomic<std::int64_t>[]>(static_cast<std::size_t>(graph_.num_nodes));
  reset();
}

TemporalSampler::~TemporalSampler() = default;

void TemporalSampler::reset() {
  for (std::int64_t n = 0; n < graph_.num_nodes; ++n) {
    impl_->cursors[n].store(graph_.indptr[n], std::memory_order_relaxed);
  }
}

std::vector<TemporalBlock> TemporalSampler::sample(std::span<const NodeId> nodes,
                                                   std::span<const Timestamp> times,
                                                   std::uint64_t stream) const {
  DISTTGL_CHECK(nodes.size() == times.size(), "sample: " + std::to_string(nodes.size()) +
                                                  " root nodes but " +
                                                  std::to_string(times.size()) + " root times");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    DISTTGL_CHECK(nodes[i] >= 0 && nodes[i] < graph_.num_nodes,
                  "sample: root " + std::to_string(i) + " has node id " + std::to_string(nodes[i]) +
                      " outside [0, " + std::to_string(graph_.num_nodes) + ")");
  }

  std::vector<TemporalBlock> blocks;
  blocks.reserve(options_.fanouts.size());
  const NodeId* layer_nodes = nodes.data();
  const Timestamp* layer_times = times.data();
  auto num_roots = static_cast<std::int64_t>(nodes.size());
  // Stream 0 keeps the draws of the seed alone (evaluation, and every run before streams).
  std::uint64_t seed_hash = detail::splitmix64(options_.seed);
  if (stream != 0) seed_hash = detail::hash_combine(seed_hash, stream);
  for (std::size_t l = 0; l < options_.fanouts.size(); ++l) {
    const LayerJob job{&graph_,
                       options_.use_cursor ? impl_->cursors.get() : nullptr,
                       layer_nodes,
                       layer_times,
                       options_.fanouts[l],
                       options_.strategy,
                       detail::hash_combine(seed_hash, l)};
    blocks.push_back(impl_->sample_layer(job, num_roots));
    // The next layer's roots are this block's nodes; vector buffers survive the move above.
    layer_nodes = blocks.back().nodes.data();
    layer_times = blocks.back().times.data();
    num_roots = blocks.back().num_nodes();
  }
  return blocks;
}

}  // namespace disttgl::trainer

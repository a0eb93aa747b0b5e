// Counter-based negative sampling with random, historical and inductive pools (negative.hpp).
#include "disttgl/trainer/sampler/negative.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "disttgl/common/error.hpp"
#include "hash.hpp"

namespace disttgl::trainer {
namespace {

// Domain-separation constant so negative draws never share a hash stream with the
// neighbour sampler's uniform draws under the same seed; each strategy has its own stream.
constexpr std::uint64_t kNegativeDomain = 0x6E65676174697665ULL;  // "negative"

std::uint64_t draw_hash(NegativeStrategy strategy, std::uint64_t seed, EdgeId event, int i) {
  const std::uint64_t domain = kNegativeDomain + static_cast<std::uint64_t>(strategy);
  return detail::hash_combine(
      detail::hash_combine(detail::hash_combine(domain, seed), static_cast<std::uint64_t>(event)),
      static_cast<std::uint64_t>(i));
}

}  // namespace

const char* to_string(NegativeStrategy strategy) {
  switch (strategy) {
    case NegativeStrategy::kRandom: return "random";
    case NegativeStrategy::kHistorical: return "historical";
    case NegativeStrategy::kInductive: return "inductive";
  }
  return "?";
}

const std::vector<NegativeStrategy>& all_negative_strategies() {
  static const std::vector<NegativeStrategy> all = {
      NegativeStrategy::kRandom, NegativeStrategy::kHistorical, NegativeStrategy::kInductive};
  return all;
}

NegativeStrategy parse_negative_strategy(const std::string& name, const std::string& field) {
  for (const NegativeStrategy s : all_negative_strategies()) {
    if (name == to_string(s)) return s;
  }
  throw ConfigError(field + ": unknown negative strategy '" + name +
                    "' (expected random, historical or inductive)");
}

NegativeSampler::NegativeSampler(const Dataset& dataset)
    : NegativeSampler(dataset.bipartite ? dataset.num_src_nodes : 0, dataset.num_nodes) {
  dataset_ = &dataset;
  const std::int64_t n = dataset.num_nodes;
  const EdgeId events = dataset.num_events();
  // Pass 1: each pair's index within its source, in order of first occurrence.
  std::unordered_map<std::uint64_t, std::int64_t> local;
  local.reserve(static_cast<std::size_t>(events));
  std::vector<std::int64_t> count(static_cast<std::size_t>(n), 0);
  std::vector<std::int64_t> event_local(static_cast<std::size_t>(events));
  std::vector<EdgeId> first_event;  // per new pair, in order of discovery
  train_pairs_.assign(static_cast<std::size_t>(n), 0);
  for (EdgeId e = 0; e < events; ++e) {
    const auto s = static_cast<std::uint64_t>(dataset.src[e]);
    const auto key = s * static_cast<std::uint64_t>(n) + static_cast<std::uint64_t>(dataset.dst[e]);
    const auto [it, inserted] = local.try_emplace(key, count[s]);
    if (inserted) {
      ++count[s];
      first_event.push_back(e);
      if (e < dataset.split.train_end) ++train_pairs_[s];
    }
    event_local[e] = it->second;
  }
  // Pass 2: flatten by source. Within a source, discovery order is first-occurrence order, so
  // first times are non-decreasing and the training split's pairs come first.
  pair_offsets_.assign(static_cast<std::size_t>(n + 1), 0);
  for (std::int64_t s = 0; s < n; ++s) pair_offsets_[s + 1] = pair_offsets_[s] + count[s];
  pair_dst_.resize(first_event.size());
  pair_first_time_.resize(first_event.size());
  for (const EdgeId e : first_event) {
    const std::int64_t p = pair_offsets_[dataset.src[e]] + event_local[e];
    pair_dst_[p] = dataset.dst[e];
    pair_first_time_[p] = dataset.ts[e];
  }
  event_pair_.resize(static_cast<std::size_t>(events));
  for (EdgeId e = 0; e < events; ++e) event_pair_[e] = pair_offsets_[dataset.src[e]] + event_local[e];
}

NegativeSampler::NegativeSampler(NodeId lo, NodeId hi) : lo_(lo), hi_(hi) {
  if (lo < 0 || hi <= lo) {
    throw ConfigError("negative sampler: candidate range [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + ") is empty or negative");
  }
}

void NegativeSampler::check_event(EdgeId event) const {
  if (dataset_ != nullptr && event >= dataset_->num_events()) {
    throw ConfigError("negative sampler: event " + std::to_string(event) + " is outside the " +
                      std::to_string(dataset_->num_events()) + " events of the dataset");
  }
}

NegativeSampler::Range NegativeSampler::pair_range(EdgeId event, NegativeStrategy strategy) const {
  const NodeId s = dataset_->src[event];
  const std::int64_t first = pair_offsets_[s];
  const std::int64_t last = pair_offsets_[s + 1];
  // Pairs first seen strictly before the event's time.
  const std::int64_t end =
      std::lower_bound(pair_first_time_.begin() + first, pair_first_time_.begin() + last,
                       dataset_->ts[event]) -
      pair_first_time_.begin();
  std::int64_t begin = first;
  if (strategy == NegativeStrategy::kInductive) begin = std::min(end, first + train_pairs_[s]);
  const std::int64_t own = event_pair_[event];
  return {begin, end, own >= begin && own < end ? own : -1};
}

std::int64_t NegativeSampler::pool_size(EdgeId event, NegativeStrategy strategy) const {
  check_event(event);
  if (strategy == NegativeStrategy::kRandom) {
    const NodeId d = dataset_ != nullptr ? dataset_->dst[event] : -1;
    return (hi_ - lo_) - (d >= lo_ && d < hi_ && hi_ - lo_ > 1 ? 1 : 0);
  }
  if (dataset_ == nullptr) {
    throw ConfigError(std::string("negative sampler: strategy ") + to_string(strategy) +
                      " needs a dataset");
  }
  return pair_range(event, strategy).size();
}

NodeId NegativeSampler::draw_one(EdgeId event, int i, std::uint64_t seed,
                                 NegativeStrategy strategy) const {
  if (strategy != NegativeStrategy::kRandom) {
    const Range r = pair_range(event, strategy);
    const std::int64_t size = r.size();
    if (size > 0) {
      std::int64_t p = r.begin + detail::bounded(draw_hash(strategy, seed, event, i), size);
      if (r.skip >= 0 && p >= r.skip) ++p;
      return pair_dst_[p];
    }
    strategy = NegativeStrategy::kRandom;  // an empty pool falls back to random
  }
  const std::uint64_t h = draw_hash(strategy, seed, event, i);
  const NodeId d = dataset_ != nullptr ? dataset_->dst[event] : -1;
  if (d >= lo_ && d < hi_ && hi_ - lo_ > 1) {
    // Uniform over the range minus d: draw among hi - lo - 1 and step over d.
    const NodeId c = lo_ + detail::bounded(h, hi_ - lo_ - 1);
    return c >= d ? c + 1 : c;
  }
  return lo_ + detail::bounded(h, hi_ - lo_);
}

std::vector<NodeId> NegativeSampler::sample(EdgeId first, std::int64_t num, int count,
                                            std::uint64_t seed, NegativeStrategy strategy) const {
  if (first < 0 || num < 0 || count < 0) {
    throw ConfigError("negative sampler: need first >= 0, num >= 0, count >= 0 (got first=" +
                      std::to_string(first) + " num=" + std::to_string(num) +
                      " count=" + std::to_string(count) + ")");
  }
  if (num > 0) check_event(first + num - 1);
  if (strategy != NegativeStrategy::kRandom && dataset_ == nullptr) {
    throw ConfigError(std::string("negative sampler: strategy ") + to_string(strategy) +
                      " needs a dataset");
  }
  std::vector<NodeId> out(static_cast<std::size_t>(num * count));
  std::size_t k = 0;
  for (EdgeId e = first; e < first + num; ++e) {
    for (int i = 0; i < count; ++i) out[k++] = draw_one(e, i, seed, strategy);
  }
  return out;
}

NodeId NegativeSampler::draw(EdgeId event, int i, std::uint64_t seed,
                             NegativeStrategy strategy) const {
  if (event < 0 || i < 0) {
    throw ConfigError("negative sampler: need event >= 0 and i >= 0 (got event=" +
                      std::to_string(event) + " i=" + std::to_string(i) + ")");
  }
  return sample(event, 1, i + 1, seed, strategy)[static_cast<std::size_t>(i)];
}

std::vector<NodeId> NegativeSampler::pool(EdgeId event, NegativeStrategy strategy) const {
  std::vector<NodeId> out;
  if (strategy != NegativeStrategy::kRandom && pool_size(event, strategy) > 0) {
    const Range r = pair_range(event, strategy);
    for (std::int64_t p = r.begin; p < r.end; ++p) {
      if (p != r.skip) out.push_back(pair_dst_[p]);
    }
  } else {
    check_event(event);
    const NodeId d = dataset_ != nullptr ? dataset_->dst[event] : -1;
    for (NodeId c = lo_; c < hi_; ++c) {
      if (c != d || hi_ - lo_ == 1) out.push_back(c);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace disttgl::trainer

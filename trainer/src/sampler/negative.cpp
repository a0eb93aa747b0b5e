// Counter-based uniform negative sampling (see negative.hpp).
#include "disttgl/trainer/sampler/negative.hpp"

#include <string>

#include "disttgl/common/error.hpp"
#include "hash.hpp"

namespace disttgl::trainer {
namespace {

// Domain-separation constant so negative draws never share a hash stream with the
// neighbour sampler's uniform draws under the same seed.
constexpr std::uint64_t kNegativeDomain = 0x6E65676174697665ULL;  // "negative"

NodeId candidate(NodeId lo, NodeId hi, EdgeId event, int i, std::uint64_t seed) {
  const std::uint64_t h =
      detail::hash_combine(detail::hash_combine(detail::hash_combine(kNegativeDomain, seed),
                                                static_cast<std::uint64_t>(event)),
                           static_cast<std::uint64_t>(i));
  return lo + detail::bounded(h, hi - lo);
}

}  // namespace

NegativeSampler::NegativeSampler(const Dataset& dataset)
    : NegativeSampler(dataset.bipartite ? dataset.num_src_nodes : 0, dataset.num_nodes) {}

NegativeSampler::NegativeSampler(NodeId lo, NodeId hi) : lo_(lo), hi_(hi) {
  if (lo < 0 || hi <= lo) {
    throw ConfigError("negative sampler: candidate range [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + ") is empty or negative");
  }
}

std::vector<NodeId> NegativeSampler::sample(EdgeId first, std::int64_t num, int count,
                                            std::uint64_t seed) const {
  if (first < 0 || num < 0 || count < 0) {
    throw ConfigError("negative sampler: need first >= 0, num >= 0, count >= 0 (got first=" +
                      std::to_string(first) + " num=" + std::to_string(num) +
                      " count=" + std::to_string(count) + ")");
  }
  std::vector<NodeId> out(static_cast<std::size_t>(num * count));
  std::size_t k = 0;
  for (EdgeId e = first; e < first + num; ++e) {
    for (int i = 0; i < count; ++i) out[k++] = candidate(lo_, hi_, e, i, seed);
  }
  return out;
}

NodeId NegativeSampler::draw(EdgeId event, int i, std::uint64_t seed) const {
  if (event < 0 || i < 0) {
    throw ConfigError("negative sampler: need event >= 0 and i >= 0 (got event=" +
                      std::to_string(event) + " i=" + std::to_string(i) + ")");
  }
  return candidate(lo_, hi_, event, i, seed);
}

}  // namespace disttgl::trainer

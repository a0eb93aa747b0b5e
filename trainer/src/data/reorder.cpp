#include "reorder.hpp"

#include <algorithm>
#include <numeric>
#include <unordered_map>
#include <vector>

namespace disttgl::trainer::detail {
namespace {

template <typename T>
void gather(std::vector<T>& values, const std::vector<std::int64_t>& order) {
  std::vector<T> sorted(values.size());
  for (std::size_t i = 0; i < order.size(); ++i) sorted[i] = values[order[i]];
  values.swap(sorted);
}

void gather_rows(std::vector<float>& values, std::int64_t dim,
                 const std::vector<std::int64_t>& order) {
  if (dim == 0) return;
  const auto width = static_cast<std::size_t>(dim);
  std::vector<float> sorted(values.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(order[i] * dim), width,
                sorted.begin() + static_cast<std::ptrdiff_t>(i * width));
  }
  values.swap(sorted);
}

// Original id -> new id, assigned in order of first lookup. A flat table when the ids are
// small (the common case: ids near [0, E)), a hash map for sparse huge ids.
class IdMap {
 public:
  IdMap(std::int64_t max_id, std::size_t num_lookups) {
    const std::int64_t dense_limit =
        std::max<std::int64_t>(std::int64_t{1} << 20, 4 * static_cast<std::int64_t>(num_lookups));
    dense_ = max_id < dense_limit;
    if (dense_) {
      table_.assign(static_cast<std::size_t>(max_id) + 1, -1);
    } else {
      map_.reserve(num_lookups);
    }
  }

  std::int64_t get_or_add(std::int64_t id) {
    if (dense_) {
      std::int64_t& slot = table_[static_cast<std::size_t>(id)];
      if (slot < 0) {
        slot = static_cast<std::int64_t>(order_.size());
        order_.push_back(id);
      }
      return slot;
    }
    const auto [it, inserted] = map_.try_emplace(id, static_cast<std::int64_t>(order_.size()));
    if (inserted) order_.push_back(id);
    return it->second;
  }

  std::vector<std::int64_t>& order() { return order_; }

 private:
  bool dense_ = true;
  std::vector<std::int64_t> table_;
  std::unordered_map<std::int64_t, std::int64_t> map_;
  std::vector<std::int64_t> order_;
};

std::int64_t max_of(const std::vector<std::int64_t>& ids) {
  return ids.empty() ? 0 : *std::max_element(ids.begin(), ids.end());
}

}  // namespace

std::int64_t sort_by_time(RawEvents& events) {
  const auto& ts = events.ts;
  if (std::is_sorted(ts.begin(), ts.end())) return 0;
  std::vector<std::int64_t> order(ts.size());
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&ts](std::int64_t a, std::int64_t b) { return ts[a] < ts[b]; });
  std::int64_t moved = 0;
  for (std::size_t i = 0; i < order.size(); ++i) moved += order[i] != static_cast<std::int64_t>(i);
  gather(events.src, order);
  gather(events.dst, order);
  gather(events.ts, order);
  gather(events.label, order);
  gather_rows(events.edge_features, events.edge_feature_dim, order);
  if (!events.ext_roll.empty()) gather(events.ext_roll, order);
  if (!events.line.empty()) gather(events.line, order);
  return moved;
}

void remap_nodes(const RawEvents& events, bool bipartite, Dataset& dataset) {
  const std::size_t num_events = events.ts.size();
  dataset.src.resize(num_events);
  dataset.dst.resize(num_events);
  dataset.bipartite = bipartite;
  if (!bipartite) {
    IdMap map(std::max(max_of(events.src), max_of(events.dst)), 2 * num_events);
    for (std::size_t e = 0; e < num_events; ++e) {
      dataset.src[e] = map.get_or_add(events.src[e]);
      dataset.dst[e] = map.get_or_add(events.dst[e]);
    }
    dataset.original_ids = std::move(map.order());
    dataset.num_nodes = static_cast<std::int64_t>(dataset.original_ids.size());
    dataset.num_src_nodes = dataset.num_nodes;
    return;
  }
  IdMap sources(max_of(events.src), num_events);
  IdMap destinations(max_of(events.dst), num_events);
  for (std::size_t e = 0; e < num_events; ++e) {
    dataset.src[e] = sources.get_or_add(events.src[e]);
    dataset.dst[e] = destinations.get_or_add(events.dst[e]);
  }
  const auto num_sources = static_cast<std::int64_t>(sources.order().size());
  for (auto& id : dataset.dst) id += num_sources;
  dataset.original_ids = std::move(sources.order());
  dataset.original_ids.insert(dataset.original_ids.end(), destinations.order().begin(),
                              destinations.order().end());
  dataset.num_nodes = static_cast<std::int64_t>(dataset.original_ids.size());
  dataset.num_src_nodes = num_sources;
}

}  // namespace disttgl::trainer::detail

#include "evaluation_scores.hpp"

#include <limits>

#include "disttgl/trainer/eval/metrics.hpp"

namespace disttgl::trainer::detail {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Column `offset` of negs [E, n], and with `width` > 1 the columns [offset, offset + width).
std::vector<double> columns(const std::vector<double>& negs, std::int64_t n, std::int64_t offset,
                            std::int64_t width) {
  const auto rows = static_cast<std::int64_t>(negs.size()) / n;
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(rows * width));
  for (std::int64_t i = 0; i < rows; ++i) {
    out.insert(out.end(), negs.begin() + i * n + offset, negs.begin() + i * n + offset + width);
  }
  return out;
}

}  // namespace

EvalMetrics score_evaluation(const std::vector<double>& pos, const std::vector<double>& negs,
                             const std::vector<std::pair<std::string, std::int64_t>>& sets,
                             bool with_mrr) {
  std::int64_t n = 0;
  for (const auto& [name, count] : sets) n += count;
  EvalMetrics m;
  const std::vector<double> first = columns(negs, n, 0, 1);
  m.ap = average_precision(pos, first);
  m.auc = roc_auc(pos, first);
  m.mrr = with_mrr ? mean_reciprocal_rank(pos, columns(negs, n, 0, sets[0].second)) : kNaN;
  std::int64_t offset = 0;
  for (const auto& [name, count] : sets) {
    const std::vector<double> one = offset == 0 ? first : columns(negs, n, offset, 1);
    m.by_strategy[name].ap = offset == 0 ? m.ap : average_precision(pos, one);
    m.by_strategy[name].auc = offset == 0 ? m.auc : roc_auc(pos, one);
    offset += count;
  }
  return m;
}

SubsetMetrics score_subset(const std::vector<double>& pos, const std::vector<double>& negs,
                           std::int64_t n_all, std::int64_t n_first,
                           const std::vector<std::uint8_t>& mask, bool with_mrr) {
  std::vector<double> p, first, ranked;
  for (std::size_t i = 0; i < pos.size(); ++i) {
    if (mask[i] == 0) continue;
    p.push_back(pos[i]);
    const auto row = negs.begin() + static_cast<std::int64_t>(i) * n_all;
    first.push_back(row[0]);
    ranked.insert(ranked.end(), row, row + n_first);
  }
  SubsetMetrics s;
  s.events = static_cast<std::int64_t>(p.size());
  if (p.empty()) {
    s.ap = s.auc = s.mrr = kNaN;
    return s;
  }
  s.ap = average_precision(p, first);
  s.auc = roc_auc(p, first);
  s.mrr = with_mrr ? mean_reciprocal_rank(p, ranked) : kNaN;
  return s;
}

}  // namespace disttgl::trainer::detail

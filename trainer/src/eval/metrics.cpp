#include "disttgl/trainer/eval/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer {

namespace {

void require_no_nan(const std::vector<double>& scores, const char* what, const char* name) {
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (std::isnan(scores[i])) {
      throw InputError(fmt::format("{}: {}[{}] is NaN", what, name, i));
    }
  }
}

}  // namespace

double average_precision(const std::vector<double>& scores,
                         const std::vector<std::uint8_t>& labels) {
  constexpr const char* kWhat = "average_precision";
  if (scores.size() != labels.size()) {
    throw InputError(
        fmt::format("{}: {} scores but {} labels", kWhat, scores.size(), labels.size()));
  }
  if (scores.empty()) throw InputError(fmt::format("{}: no scores", kWhat));
  require_no_nan(scores, kWhat, "scores");
  const auto total_pos = static_cast<std::size_t>(
      std::count_if(labels.begin(), labels.end(), [](std::uint8_t l) { return l != 0; }));
  if (total_pos == 0) throw InputError(fmt::format("{}: no positive labels", kWhat));

  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  double ap = 0.0;
  double prev_recall = 0.0;
  std::size_t tp = 0;
  std::size_t seen = 0;
  std::size_t i = 0;
  while (i < order.size()) {
    // One threshold per distinct score: the whole tie group enters together.
    const double threshold = scores[order[i]];
    for (; i < order.size() && scores[order[i]] == threshold; ++i) {
      ++seen;
      if (labels[order[i]] != 0) ++tp;
    }
    const double recall = static_cast<double>(tp) / static_cast<double>(total_pos);
    const double precision = static_cast<double>(tp) / static_cast<double>(seen);
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
  }
  return ap;
}

double average_precision(const std::vector<double>& pos_scores,
                         const std::vector<double>& neg_scores) {
  std::vector<double> scores(pos_scores);
  scores.insert(scores.end(), neg_scores.begin(), neg_scores.end());
  std::vector<std::uint8_t> labels(pos_scores.size(), 1);
  labels.resize(scores.size(), 0);
  return average_precision(scores, labels);
}

double roc_auc(const std::vector<double>& pos_scores, const std::vector<double>& neg_scores) {
  constexpr const char* kWhat = "roc_auc";
  if (pos_scores.empty()) throw InputError(fmt::format("{}: no positive scores", kWhat));
  if (neg_scores.empty()) throw InputError(fmt::format("{}: no negative scores", kWhat));
  require_no_nan(pos_scores, kWhat, "pos_scores");
  require_no_nan(neg_scores, kWhat, "neg_scores");
  // For each positive: #negatives below it + 1/2 #negatives equal to it, by binary search
  // over the sorted negatives (O((P + N) log N)).
  std::vector<double> neg(neg_scores);
  std::sort(neg.begin(), neg.end());
  double wins = 0.0;
  for (const double p : pos_scores) {
    const auto lower = std::lower_bound(neg.begin(), neg.end(), p);
    const auto upper = std::upper_bound(lower, neg.end(), p);
    wins += static_cast<double>(lower - neg.begin()) + 0.5 * static_cast<double>(upper - lower);
  }
  return wins / (static_cast<double>(pos_scores.size()) * static_cast<double>(neg.size()));
}

double mean_reciprocal_rank(const std::vector<double>& pos_scores,
                            const std::vector<double>& neg_scores) {
  constexpr const char* kWhat = "mean_reciprocal_rank";
  if (pos_scores.empty()) throw InputError(fmt::format("{}: no positive scores", kWhat));
  if (neg_scores.empty() || neg_scores.size() % pos_scores.size() != 0) {
    throw InputError(
        fmt::format("{}: {} negative scores is not a positive multiple of {} "
                    "positives",
                    kWhat, neg_scores.size(), pos_scores.size()));
  }
  require_no_nan(pos_scores, kWhat, "pos_scores");
  require_no_nan(neg_scores, kWhat, "neg_scores");
  const std::size_t n = neg_scores.size() / pos_scores.size();
  double sum = 0.0;
  for (std::size_t i = 0; i < pos_scores.size(); ++i) {
    std::size_t rank = 1;
    for (std::size_t k = 0; k < n; ++k) {
      if (neg_scores[i * n + k] >= pos_scores[i]) ++rank;
    }
    sum += 1.0 / static_cast<double>(rank);
  }
  return sum / static_cast<double>(pos_scores.size());
}

void BatchMeanAp::add(const std::vector<double>& pos_scores,
                      const std::vector<double>& neg_scores) {
  sum_ += average_precision(pos_scores, neg_scores);
  ++num_batches_;
}

double BatchMeanAp::mean() const {
  if (num_batches_ == 0) throw InputError("BatchMeanAp::mean: no batches were added");
  return sum_ / static_cast<double>(num_batches_);
}

}  // namespace disttgl::trainer

// Scoring one evaluation pass: headline metrics, each negative strategy's AP/AUC and the
// new-node subset, from the scores laid out as the batch draws them. Plain C++, no torch;
// private to the train library.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "disttgl/trainer/train/trainer.hpp"

namespace disttgl::trainer::detail {

/// pos: [E] positive scores; negs: [E, n] with n = sum of the sets' counts, event i's
/// negatives at i * n + (set 0's count, then set 1's, ...). sets: (strategy name, count) in
/// that order. Headline ap/auc use set 0's first negative, mrr all of set 0's (NaN without
/// `with_mrr`); by_strategy[name] the set's first negative (fallback_fraction left 0).
/// Throws InputError (metrics.hpp) on empty input or NaN scores.
EvalMetrics score_evaluation(const std::vector<double>& pos, const std::vector<double>& negs,
                             const std::vector<std::pair<std::string, std::int64_t>>& sets,
                             bool with_mrr);

/// The same headline metrics over the positives with mask[i] != 0 (mask: [E]). An empty
/// subset gives events 0 and NaN metrics.
SubsetMetrics score_subset(const std::vector<double>& pos, const std::vector<double>& negs,
                           std::int64_t n_all, std::int64_t n_first,
                           const std::vector<std::uint8_t>& mask, bool with_mrr);

}  // namespace disttgl::trainer::detail

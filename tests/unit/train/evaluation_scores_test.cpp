// Scoring one evaluation pass: the headline metrics come from the first negative set, every
// strategy's AP/AUC from its own column, and the new-node subset from the same scores.
#include "../../../trainer/src/train/evaluation_scores.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "disttgl/trainer/eval/metrics.hpp"

namespace disttgl::trainer::detail {
namespace {

using V = std::vector<double>;

// 3 positives; per event: 2 random negatives, then 1 historical, then 1 inductive.
const std::vector<double> kPos = {0.9, 0.5, 0.2};
const std::vector<double> kNegs = {0.1, 0.95, 0.8, 0.3,   // event 0
                                   0.6, 0.4, 0.7, 0.1,    // event 1
                                   0.1, 0.1, 0.3, 0.25};  // event 2
const std::vector<std::pair<std::string, std::int64_t>> kSets = {
    {"random", 2}, {"historical", 1}, {"inductive", 1}};

TEST(EvaluationScores, EachSetIsScoredFromItsOwnColumns) {
  const EvalMetrics m = score_evaluation(kPos, kNegs, kSets, true);
  // Headline: random's first negative (0.1, 0.6, 0.1) for AP/AUC, both random ones for MRR.
  EXPECT_DOUBLE_EQ(m.ap, average_precision(kPos, V{0.1, 0.6, 0.1}));
  EXPECT_DOUBLE_EQ(m.auc, roc_auc(kPos, V{0.1, 0.6, 0.1}));
  // Ranks: event 0 is beaten by 0.95 (rank 2), event 1 by 0.6 (rank 2), event 2 by none.
  EXPECT_DOUBLE_EQ(m.mrr, (0.5 + 0.5 + 1.0) / 3);
  EXPECT_DOUBLE_EQ(m.by_strategy.at("random").ap, m.ap);
  EXPECT_DOUBLE_EQ(m.by_strategy.at("historical").ap, average_precision(kPos, V{0.8, 0.7, 0.3}));
  EXPECT_DOUBLE_EQ(m.by_strategy.at("historical").auc, roc_auc(kPos, V{0.8, 0.7, 0.3}));
  EXPECT_DOUBLE_EQ(m.by_strategy.at("inductive").ap, average_precision(kPos, V{0.3, 0.1, 0.25}));
  EXPECT_EQ(m.by_strategy.size(), 3u);
  EXPECT_TRUE(std::isnan(score_evaluation(kPos, kNegs, kSets, false).mrr));
}

TEST(EvaluationScores, TheNewNodeSubsetUsesOnlyItsEvents) {
  const SubsetMetrics s = score_subset(kPos, kNegs, 4, 2, {0, 1, 1}, true);
  EXPECT_EQ(s.events, 2);
  EXPECT_DOUBLE_EQ(s.ap, average_precision(V{0.5, 0.2}, V{0.6, 0.1}));
  EXPECT_DOUBLE_EQ(s.auc, roc_auc(V{0.5, 0.2}, V{0.6, 0.1}));
  EXPECT_DOUBLE_EQ(s.mrr, (0.5 + 1.0) / 2);
  const SubsetMetrics none = score_subset(kPos, kNegs, 4, 2, {0, 0, 0}, true);
  EXPECT_EQ(none.events, 0);
  EXPECT_TRUE(std::isnan(none.ap) && std::isnan(none.auc) && std::isnan(none.mrr));
}

}  // namespace
}  // namespace disttgl::trainer::detail

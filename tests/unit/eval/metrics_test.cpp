// Metrics against hand-computed values and against scikit-learn 1.9.1 on a tie-heavy input.
#include "disttgl/trainer/eval/metrics.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "disttgl/common/error.hpp"

namespace disttgl::trainer {
namespace {

TEST(AveragePrecision, HandComputedWithTiedThreshold) {
  // Sorted by score: 0.9(+) | 0.8(+), 0.8(-) tie group | 0.5(-) | 0.3(+); 3 positives.
  // Thresholds: P = 1, 2/3, 1/2, 3/5 and R = 1/3, 2/3, 2/3, 1, so
  // AP = 1/3 * 1 + 1/3 * 2/3 + 0 * 1/2 + 1/3 * 3/5 = 34/45.
  const std::vector<double> scores = {0.9, 0.8, 0.8, 0.5, 0.3};
  const std::vector<std::uint8_t> labels = {1, 0, 1, 0, 1};
  EXPECT_NEAR(average_precision(scores, labels), 34.0 / 45.0, 1e-15);
}

TEST(AveragePrecision, TieGroupIsOneThresholdNotInterpolated) {
  // Everything tied: one threshold with P = 2/4 and R = 1 -> AP = 0.5 (sklearn: 0.5).
  EXPECT_DOUBLE_EQ(average_precision({0.5, 0.5, 0.5, 0.5}, std::vector<std::uint8_t>{1, 0, 0, 1}),
                   0.5);
  // Ordering inside a tie group must not matter.
  EXPECT_DOUBLE_EQ(average_precision({0.5, 0.5, 0.5, 0.5}, std::vector<std::uint8_t>{0, 1, 1, 0}),
                   0.5);
}

TEST(AveragePrecision, PosNegFormEqualsLabelledForm) {
  EXPECT_NEAR(average_precision(std::vector<double>{0.9, 0.8, 0.3}, std::vector<double>{0.8, 0.5}),
              34.0 / 45.0, 1e-15);
}

TEST(AveragePrecision, MatchesSklearnOnTieHeavyInput) {
  // 40 scores in tenths (many ties); sklearn.metrics.average_precision_score gives
  // 0.3361471861471861 and roc_auc_score 0.45066666666666666.
  const std::vector<int> tenths = {6, 9, 8, 2, 3, 9, 0, 8, 8, 5, 3, 3, 3, 4, 5, 6, 10, 8, 6, 10,
                                   2, 2, 6, 0, 0, 5, 5, 9, 6, 5, 5, 2, 0, 2, 7, 2, 4,  0, 8, 2};
  const std::vector<std::uint8_t> labels = {1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1,
                                            1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1,
                                            0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1};
  std::vector<double> scores;
  std::vector<double> pos;
  std::vector<double> neg;
  for (std::size_t i = 0; i < tenths.size(); ++i) {
    scores.push_back(tenths[i] / 10.0);
    (labels[i] != 0 ? pos : neg).push_back(tenths[i] / 10.0);
  }
  EXPECT_NEAR(average_precision(scores, labels), 0.3361471861471861, 1e-12);
  EXPECT_NEAR(roc_auc(pos, neg), 0.45066666666666666, 1e-12);
}

TEST(AveragePrecision, RejectsBadInput) {
  EXPECT_THROW(average_precision(std::vector<double>{0.1}, std::vector<std::uint8_t>{0}),
               InputError);
  EXPECT_THROW(average_precision(std::vector<double>{0.1, 0.2}, std::vector<std::uint8_t>{1}),
               InputError);
  EXPECT_THROW(average_precision(std::vector<double>{}, std::vector<std::uint8_t>{}), InputError);
  try {
    average_precision(std::vector<double>{0.1, std::numeric_limits<double>::quiet_NaN()},
                      std::vector<std::uint8_t>{1, 0});
    FAIL() << "NaN accepted";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "average_precision: scores[1] is NaN");
  }
}

TEST(RocAuc, TiesCountHalf) {
  // Pairs (pos, neg): (0.8, 0.6) 1, (0.8, 0.4) 1, (0.8, 0.8) 1/2, (0.6, 0.6) 1/2,
  // (0.6, 0.4) 1, (0.6, 0.8) 0 -> 4 / 6.
  EXPECT_NEAR(roc_auc({0.8, 0.6}, {0.6, 0.4, 0.8}), 4.0 / 6.0, 1e-15);
  EXPECT_DOUBLE_EQ(roc_auc({0.3, 0.3}, {0.3, 0.3, 0.3}), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc({1.0}, {0.0, -1.0}), 1.0);
  EXPECT_THROW(roc_auc({}, {0.1}), InputError);
  EXPECT_THROW(roc_auc({0.1}, {}), InputError);
}

TEST(MeanReciprocalRank, TiesCountAgainstThePositive) {
  // A constant scorer over 1 positive and 49 negatives ranks the positive 50th.
  EXPECT_DOUBLE_EQ(mean_reciprocal_rank({0.7}, std::vector<double>(49, 0.7)), 1.0 / 50.0);
}

TEST(MeanReciprocalRank, HandComputedTwoPositives) {
  // Event 0: negatives {0.1, 0.9, 0.5} vs 0.5 -> 0.9 and the tied 0.5 rank above: rank 3.
  // Event 1: negatives {0.0, 0.2, 0.3} vs 0.4 -> rank 1. MRR = (1/3 + 1) / 2 = 2/3.
  EXPECT_NEAR(mean_reciprocal_rank({0.5, 0.4}, {0.1, 0.9, 0.5, 0.0, 0.2, 0.3}), 2.0 / 3.0, 1e-15);
  EXPECT_THROW(mean_reciprocal_rank({0.5, 0.4}, {0.1, 0.2, 0.3}), InputError);
  EXPECT_THROW(mean_reciprocal_rank({0.5}, {}), InputError);
}

TEST(BatchMeanAp, AveragesPerBatchApNotSplitAp) {
  BatchMeanAp meter;
  EXPECT_THROW(meter.mean(), InputError);
  meter.add({0.9, 0.8, 0.3}, {0.8, 0.5});  // 34/45
  meter.add({0.2}, {0.1});                 // 1
  EXPECT_EQ(meter.num_batches(), 2u);
  EXPECT_NEAR(meter.mean(), (34.0 / 45.0 + 1.0) / 2.0, 1e-15);
  // Pooling both batches (4 positives, 3 negatives) gives another number: 0.9+ | 0.8+- |
  // 0.5- | 0.3+ | 0.2+ | 0.1- -> AP = (1 + 2/3 + 3/5 + 4/6) / 4 = 0.7333 (mean above: 0.8778).
  EXPECT_NEAR(average_precision(std::vector<double>{0.9, 0.8, 0.3, 0.2},
                                std::vector<double>{0.8, 0.5, 0.1}),
              (1.0 + 2.0 / 3.0 + 3.0 / 5.0 + 4.0 / 6.0) / 4.0, 1e-15);
}

}  // namespace
}  // namespace disttgl::trainer

// Link-prediction metrics over model scores (logits or probabilities; every metric here
// depends only on the order of the scores, so logits are ranked directly and no sigmoid
// saturation creates false ties). Plain C++, no torch.
//
// Definitions (disttgl.md §3.5):
//  * average_precision: scikit-learn's average_precision_score, AP = sum_n (R_n - R_{n-1}) P_n
//    over the distinct score thresholds in decreasing order, tied scores forming ONE
//    threshold (no interpolation).
//  * roc_auc: probability that a random positive outscores a random negative, ties 1/2
//    (Mann-Whitney U / (P N); equals sklearn's roc_auc_score).
//  * mean_reciprocal_rank: rank of each positive among itself and its own negatives, with
//    ties counted AGAINST the positive: rank = 1 + #{neg >= pos}. DistTGL/TGB count only
//    strictly greater negatives (ties favour the positive), which lets a constant scorer
//    reach MRR 1; here a constant scorer over 1 positive and 49 negatives gets 1/50.
//  * BatchMeanAp: the mean of per-batch APs, the number TGN/TGL/PyG print as "AP" (differs
//    from the AP of the whole split).
// Errors: disttgl::InputError for empty inputs, NaN scores, a class with no members, or
// mismatched lengths. Thread-safety: pure functions; BatchMeanAp is a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace disttgl::trainer {

/// AP of `scores` against binary `labels` (1 = positive), sklearn's definition.
/// Throws InputError when the sizes differ, the input is empty, a score is NaN or there is
/// no positive label.
double average_precision(const std::vector<double>& scores,
                         const std::vector<std::uint8_t>& labels);

/// AP with the positives' and the negatives' scores given separately.
double average_precision(const std::vector<double>& pos_scores,
                         const std::vector<double>& neg_scores);

/// ROC AUC with ties counted 1/2. Throws InputError when either side is empty or NaN.
double roc_auc(const std::vector<double>& pos_scores, const std::vector<double>& neg_scores);

/// MRR of pos_scores[i] against its negatives neg_scores[i * n .. i * n + n), where
/// n = neg_scores.size() / pos_scores.size() (the layout of NegativeSampler::sample).
/// rank_i = 1 + #{k : neg[i * n + k] >= pos[i]}. Throws InputError when pos is empty, n == 0
/// or the sizes do not divide.
double mean_reciprocal_rank(const std::vector<double>& pos_scores,
                            const std::vector<double>& neg_scores);

/// Accumulates the per-batch mean AP of TGN/TGL: add() each batch's positive and negative
/// scores, mean() = average of the batch APs.
class BatchMeanAp {
 public:
  /// Adds one batch; throws InputError like average_precision(pos, neg).
  void add(const std::vector<double>& pos_scores, const std::vector<double>& neg_scores);
  /// Mean AP over the batches added; throws InputError when none was added.
  double mean() const;
  std::size_t num_batches() const { return num_batches_; }

 private:
  double sum_ = 0.0;
  std::size_t num_batches_ = 0;
};

}  // namespace disttgl::trainer

// Link-prediction losses over predictor logits (disttgl.md §3.5):
//  * LossKind::kBinaryCrossEntropy (TGL train.py):
//      mean_i BCEWithLogits(pos_i, 1) + mean_{i,k} BCEWithLogits(neg_ik, 0)
//  * LossKind::kSoftmaxCrossEntropy (DistTGL train.py L489-490):
//      mean_i CrossEntropy([pos_i, neg_i1, ..., neg_in], target 0)
//    With one negative this is the 2-way softmax log(1 + exp(neg - pos)).
// Thread-safety: pure function.
#pragma once

#include <torch/types.h>

#include "disttgl/trainer/model/model_config.hpp"

namespace disttgl::trainer {

/// pos_logits: [B] float32, neg_logits: [B, n] float32 with n >= 1, B >= 1.
/// Returns the scalar loss (float32, differentiable). Throws InternalError on bad shapes.
torch::Tensor link_prediction_loss(LossKind kind, const torch::Tensor& pos_logits,
                                   const torch::Tensor& neg_logits);

}  // namespace disttgl::trainer

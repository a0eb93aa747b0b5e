#include "disttgl/trainer/model/loss.hpp"

#include <torch/torch.h>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"

namespace disttgl::trainer {

torch::Tensor link_prediction_loss(LossKind kind, const torch::Tensor& pos_logits,
                                   const torch::Tensor& neg_logits) {
  constexpr const char* kContext = "link_prediction_loss";
  check_tensor(pos_logits, kContext, "pos_logits", torch::kFloat, {kAnyDim});
  const std::int64_t b = pos_logits.size(0);
  check_tensor(neg_logits, kContext, "neg_logits", torch::kFloat, {b, kAnyDim});
  DISTTGL_CHECK(b >= 1 && neg_logits.size(1) >= 1, "the loss needs a positive and a negative");
  switch (kind) {
    case LossKind::kBinaryCrossEntropy:
      return torch::binary_cross_entropy_with_logits(pos_logits, torch::ones_like(pos_logits)) +
             torch::binary_cross_entropy_with_logits(neg_logits, torch::zeros_like(neg_logits));
    case LossKind::kSoftmaxCrossEntropy: {
      const torch::Tensor logits = torch::cat({pos_logits.unsqueeze(1), neg_logits}, 1);
      const torch::Tensor target = torch::zeros({b}, pos_logits.options().dtype(torch::kLong));
      return torch::cross_entropy_loss(logits, target);
    }
  }
  throw InternalError("link_prediction_loss: unknown loss kind");
}

}  // namespace disttgl::trainer

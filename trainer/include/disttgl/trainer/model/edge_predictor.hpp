// Link predictor (TGL/DistTGL layers.py EdgePredictor; disttgl.md §3.5):
//   logit(u, v) = w_o . ReLU(W_s z_u + W_d z_v) + b_o
// It returns LOGITS (no sigmoid): losses take logits (loss.hpp) and the metrics rank them.
//
// Root layout of a batch with B positive events and n negatives per event (the sampler's):
//   z rows [0, B)             sources
//        [B, 2B)              positive destinations
//        [2B, 2B + B*n)       negatives, negative k of event i at row 2B + i*n + k
//                             (NegativeSampler::sample's layout).
// Each negative is scored against its own event's source: the source term is repeated n
// times per event (TGL tiles the source block instead, because its negatives are laid out
// negative-major).
// Thread-safety: as torch::nn::Module.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace disttgl::trainer {

struct LinkLogits {
  torch::Tensor pos;  ///< [B] float32
  torch::Tensor neg;  ///< [B, n] float32
};

class EdgePredictorImpl : public torch::nn::Module {
 public:
  explicit EdgePredictorImpl(std::int64_t dim);

  /// z: [B * (2 + n), dim] float32 in the layout above, num_positives = B >= 1. Throws
  /// InternalError when the row count is not B * (2 + n) for an integer n >= 0.
  LinkLogits forward(const torch::Tensor& z, std::int64_t num_positives);

  torch::nn::Linear src_fc{nullptr};
  torch::nn::Linear dst_fc{nullptr};
  torch::nn::Linear out_fc{nullptr};

 private:
  std::int64_t dim_;
};
TORCH_MODULE(EdgePredictor);

}  // namespace disttgl::trainer

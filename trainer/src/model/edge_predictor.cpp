#include "disttgl/trainer/model/edge_predictor.hpp"

#include <torch/torch.h>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"

namespace disttgl::trainer {

EdgePredictorImpl::EdgePredictorImpl(std::int64_t dim) : dim_(dim) {
  src_fc = register_module("src_fc", torch::nn::Linear(dim, dim));
  dst_fc = register_module("dst_fc", torch::nn::Linear(dim, dim));
  out_fc = register_module("out_fc", torch::nn::Linear(dim, 1));
}

LinkLogits EdgePredictorImpl::forward(const torch::Tensor& z, std::int64_t num_positives) {
  check_tensor(z, "EdgePredictor::forward", "z", torch::kFloat, {kAnyDim, dim_});
  const std::int64_t b = num_positives;
  const std::int64_t rows = z.size(0);
  if (b < 1 || rows < 2 * b || (rows - 2 * b) % b != 0) {
    throw InternalError(
        str_cat("EdgePredictor::forward: ", rows, " embeddings is not B * (2 + n) for B = ", b));
  }
  const std::int64_t n = (rows - 2 * b) / b;
  const torch::Tensor h_src = src_fc->forward(z.slice(0, 0, b));
  const torch::Tensor h_pos = dst_fc->forward(z.slice(0, b, 2 * b));
  LinkLogits out;
  out.pos = out_fc->forward(torch::relu(h_src + h_pos)).view({b});
  if (n > 0) {
    const torch::Tensor h_neg = dst_fc->forward(z.slice(0, 2 * b)).view({b, n, dim_});
    out.neg = out_fc->forward(torch::relu(h_src.unsqueeze(1) + h_neg)).view({b, n});
  } else {
    out.neg = torch::zeros({b, 0}, z.options());
  }
  return out;
}

}  // namespace disttgl::trainer

#include "disttgl/trainer/model/time_encoding.hpp"

#include <torch/torch.h>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"

namespace disttgl::trainer {

TimeEncodingImpl::TimeEncodingImpl(std::int64_t dim) : dim_(dim) {
  DISTTGL_CHECK(dim >= 1, "time encoding dim must be >= 1");
  const torch::Tensor exponents = torch::linspace(0.0, 9.0, dim, torch::kDouble);
  w = register_parameter("w", torch::pow(10.0, -exponents).to(torch::kFloat));
  b = register_parameter("b", torch::zeros({dim}, torch::kFloat));
}

torch::Tensor TimeEncodingImpl::forward(const torch::Tensor& dt) {
  if (!dt.defined() || dt.dim() != 1 ||
      (dt.scalar_type() != torch::kFloat && dt.scalar_type() != torch::kDouble)) {
    check_tensor(dt, "TimeEncoding::forward", "dt", torch::kDouble, {kAnyDim});
  }
  const torch::Tensor phase =
      dt.to(torch::kDouble).unsqueeze(1) * w.to(torch::kDouble) + b.to(torch::kDouble);
  return torch::cos(phase).to(torch::kFloat);
}

}  // namespace disttgl::trainer

#include "disttgl/trainer/model/time_encoding.hpp"

#include <ATen/Parallel.h>
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

namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr double kInvTwoPi = 1.0 / kTwoPi;
// Adding and subtracting 1.5 * 2^52 rounds a double to the nearest integer (|x| < 2^51) in
// the default rounding mode, with plain SSE2 adds that vectorise (floor() needs SSE4.1).
constexpr double kRoundMagic = 6755399441055744.0;

// [n, dim] float32: w * dt + b formed in float64 and reduced to [-pi, pi], in one pass.
torch::Tensor reduced_phase(const torch::Tensor& dt, const torch::Tensor& w,
                            const torch::Tensor& b) {
  const torch::Tensor dt64 = dt.to(torch::kDouble).contiguous();
  const torch::Tensor w64 = w.detach().to(torch::kDouble).contiguous();
  const torch::Tensor b64 = b.detach().to(torch::kDouble).contiguous();
  const std::int64_t n = dt64.size(0);
  const std::int64_t dim = w64.size(0);
  if (!dt.device().is_cpu()) {
    const torch::Tensor phase = torch::addr(b64, dt64, w64);
    return (phase - torch::round(phase * kInvTwoPi) * kTwoPi).to(torch::kFloat);
  }
  torch::Tensor out = torch::empty({n, dim}, dt64.options().dtype(torch::kFloat));
  const double* t = dt64.data_ptr<double>();
  const double* wp = w64.data_ptr<double>();
  const double* bp = b64.data_ptr<double>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, n, 256, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      float* row = o + i * dim;
      const double ti = t[i];
      for (std::int64_t k = 0; k < dim; ++k) {
        const double phase = ti * wp[k] + bp[k];
        const double turns = (phase * kInvTwoPi + kRoundMagic) - kRoundMagic;
        row[k] = static_cast<float>(phase - turns * kTwoPi);
      }
    }
  });
  return out;
}

// cos(w dt + b) with its own backward. The phase is formed in float64 and reduced to
// [-pi, pi] (one fused pass) before the float32 cos: float32 phases lose precision at large w * dt, and
// vectorised cos is several times slower on large arguments. Autograd over the float64
// expression would also run sin and the products in float64; here backward is float32:
//   d/db = -sin(phase) * g,  d/dw = sum_n -sin(phase_n) * g_n * dt_n.
class TimeEncodingFunction : public torch::autograd::Function<TimeEncodingFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& dt,
                               const torch::Tensor& w, const torch::Tensor& b) {
    const torch::Tensor phase = reduced_phase(dt, w, b);
    ctx->save_for_backward({phase, dt.to(torch::kFloat)});
    return torch::cos(phase);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 const torch::autograd::variable_list& grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor g = grads[0] * torch::sin(saved[0]).neg_();  // [n, dim]
    return {torch::Tensor(), g.t().mv(saved[1]), g.sum(0)};
  }
};

}  // namespace

torch::Tensor TimeEncodingImpl::forward(const torch::Tensor& dt) {
  if (!dt.defined() || dt.dim() != 1 ||
      (dt.scalar_type() != torch::kFloat && dt.scalar_type() != torch::kDouble)) {
    check_tensor(dt, "TimeEncoding::forward", "dt", torch::kDouble, {kAnyDim});
  }
  return TimeEncodingFunction::apply(dt, w, b);
}

}  // namespace disttgl::trainer

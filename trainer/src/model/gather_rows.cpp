#include "disttgl/trainer/model/gather_rows.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>

namespace disttgl::trainer {

namespace {

class GatherRowsFunction : public torch::autograd::Function<GatherRowsFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& table,
                               const torch::Tensor& index) {
    ctx->save_for_backward({index});
    ctx->saved_data["rows"] = table.size(0);
    return table.index_select(0, index);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 const torch::autograd::variable_list& grads) {
    const torch::Tensor index = ctx->get_saved_variables()[0].contiguous();
    const torch::Tensor g = grads[0].contiguous();
    const std::int64_t rows = ctx->saved_data["rows"].toInt();
    const std::int64_t m = index.size(0);
    const std::int64_t d = g.size(1);
    torch::Tensor out = torch::zeros({rows, d}, g.options());
    const std::int64_t* idx = index.data_ptr<std::int64_t>();
    const float* gp = g.data_ptr<float>();
    float* op = out.data_ptr<float>();
    const std::int64_t threads = std::max<std::int64_t>(1, at::get_num_threads());
    // One task per thread; each owns destination rows [lo, hi).
    at::parallel_for(0, threads, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t t = begin; t < end; ++t) {
        const std::int64_t lo = rows * t / threads;
        const std::int64_t hi = rows * (t + 1) / threads;
        for (std::int64_t i = 0; i < m; ++i) {
          const std::int64_t r = idx[i];
          if (r < lo || r >= hi) continue;
          float* dst = op + r * d;
          const float* src = gp + i * d;
          for (std::int64_t k = 0; k < d; ++k) dst[k] += src[k];
        }
      }
    });
    return {out, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor gather_rows(const torch::Tensor& table, const torch::Tensor& index) {
  if (!table.device().is_cpu() || table.scalar_type() != torch::kFloat || table.dim() != 2 ||
      !table.requires_grad() || index.scalar_type() != torch::kLong || !index.device().is_cpu()) {
    return table.index_select(0, index);
  }
  return GatherRowsFunction::apply(table, index);
}

}  // namespace disttgl::trainer

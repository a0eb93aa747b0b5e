#include "disttgl/trainer/model/segment_attention.hpp"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/str_cat.hpp"
#include "disttgl/trainer/memory/tensor_check.hpp"

namespace disttgl::trainer {

namespace {

constexpr float kSlope = static_cast<float>(kAttentionLeakySlope);

// Eight partial sums so the compiler can vectorise the reduction without -ffast-math; the
// summation order is fixed, so results do not depend on the thread count.
inline float dot(const float* a, const float* b, std::int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  }
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void axpy(float* y, float alpha, const float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

struct Dims {
  std::int64_t roots, slots, heads, width;
};

void check_inputs(const torch::Tensor& x, const torch::Tensor& qk, const torch::Tensor& mask,
                  const torch::Tensor& keep, const char* context) {
  check_tensor(x, context, "x", torch::kFloat, {kAnyDim, kAnyDim, kAnyDim});
  const std::int64_t r = x.size(0);
  const std::int64_t f = x.size(1);
  const std::int64_t c = x.size(2);
  check_tensor(qk, context, "qk", torch::kFloat, {r, kAnyDim, c});
  check_tensor(mask, context, "mask", torch::kBool, {r, f});
  if (keep.defined()) check_tensor(keep, context, "keep", torch::kFloat, {r, f, qk.size(1)});
  for (const torch::Tensor* t : {&qk, &mask, &keep}) {
    if (t->defined() && t->device() != x.device()) {
      throw InternalError(str_cat(context, ": inputs on different devices (x on ",
                                  x.device().str(), ", another on ", t->device().str(), ")"));
    }
  }
}

// One root: logits, softmax over valid slots, weighted sum. pre/att: [F, H]; agg: [H, C].
void forward_root(const float* x, const float* qk, const bool* mask, const float* keep,
                  const Dims& d, float* pre, float* att, float* agg) {
  const std::int64_t F = d.slots, H = d.heads, C = d.width;
  for (std::int64_t f = 0; f < F; ++f) {
    for (std::int64_t h = 0; h < H; ++h) {
      pre[f * H + h] = mask[f] ? dot(x + f * C, qk + h * C, C) : 0.0F;
    }
  }
  for (std::int64_t h = 0; h < H; ++h) {
    float max = -std::numeric_limits<float>::infinity();
    for (std::int64_t f = 0; f < F; ++f) {
      if (!mask[f]) continue;
      const float p = pre[f * H + h];
      max = std::max(max, p > 0 ? p : kSlope * p);
    }
    float sum = 0;
    for (std::int64_t f = 0; f < F; ++f) {
      float e = 0;
      if (mask[f]) {
        const float p = pre[f * H + h];
        e = std::exp((p > 0 ? p : kSlope * p) - max);
      }
      att[f * H + h] = e;
      sum += e;
    }
    if (sum > 0) {
      for (std::int64_t f = 0; f < F; ++f) att[f * H + h] /= sum;
    }
  }
  std::fill(agg, agg + H * C, 0.0F);
  for (std::int64_t f = 0; f < F; ++f) {
    if (!mask[f]) continue;
    for (std::int64_t h = 0; h < H; ++h) {
      const float a = att[f * H + h] * (keep != nullptr ? keep[f * H + h] : 1.0F);
      if (a != 0.0F) axpy(agg + h * C, a, x + f * C, C);
    }
  }
}

// One root's backward. g: [H, C]; dx: [F, C]; dqk: [H, C]; datt: [F, H] scratch.
void backward_root(const float* x, const float* qk, const bool* mask, const float* keep,
                   const float* pre, const float* att, const float* g, const Dims& d, float* dx,
                   float* dqk, float* datt) {
  const std::int64_t F = d.slots, H = d.heads, C = d.width;
  std::fill(dx, dx + F * C, 0.0F);
  std::fill(dqk, dqk + H * C, 0.0F);
  for (std::int64_t f = 0; f < F; ++f) {
    if (!mask[f]) continue;
    for (std::int64_t h = 0; h < H; ++h) {
      const float k = keep != nullptr ? keep[f * H + h] : 1.0F;
      const float a = att[f * H + h] * k;
      if (a != 0.0F) axpy(dx + f * C, a, g + h * C, C);
      datt[f * H + h] = k != 0.0F ? dot(g + h * C, x + f * C, C) * k : 0.0F;
    }
  }
  for (std::int64_t h = 0; h < H; ++h) {
    float s = 0;
    for (std::int64_t f = 0; f < F; ++f) {
      if (mask[f]) s += att[f * H + h] * datt[f * H + h];
    }
    for (std::int64_t f = 0; f < F; ++f) {
      if (!mask[f]) continue;
      const float dz = att[f * H + h] * (datt[f * H + h] - s);
      const float dp = pre[f * H + h] > 0 ? dz : kSlope * dz;
      if (dp == 0.0F) continue;
      axpy(dx + f * C, dp, qk + h * C, C);
      axpy(dqk + h * C, dp, x + f * C, C);
    }
  }
}

// Roots per parallel task: a root is ~F * H * C multiply-adds, so a few dozen amortise the
// task overhead.
constexpr std::int64_t kGrain = 32;

class SegmentAttentionFunction : public torch::autograd::Function<SegmentAttentionFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& qk_in, const torch::Tensor& mask_in,
                               const torch::Tensor& keep_in) {
    const torch::Tensor x = x_in.contiguous();
    const torch::Tensor qk = qk_in.contiguous();
    const torch::Tensor mask = mask_in.contiguous();
    const bool has_keep = keep_in.numel() > 0;
    const torch::Tensor keep = keep_in.contiguous();
    const Dims d{x.size(0), x.size(1), qk.size(1), x.size(2)};
    torch::Tensor pre = torch::empty({d.roots, d.slots, d.heads}, x.options());
    torch::Tensor att = torch::empty({d.roots, d.slots, d.heads}, x.options());
    torch::Tensor agg = torch::empty({d.roots, d.heads, d.width}, x.options());
    const float* xp = x.data_ptr<float>();
    const float* qp = qk.data_ptr<float>();
    const bool* mp = mask.data_ptr<bool>();
    const float* kp = has_keep ? keep.data_ptr<float>() : nullptr;
    float* pp = pre.data_ptr<float>();
    float* ap = att.data_ptr<float>();
    float* gp = agg.data_ptr<float>();
    const std::int64_t fh = d.slots * d.heads;
    at::parallel_for(0, d.roots, kGrain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) {
        forward_root(xp + r * d.slots * d.width, qp + r * d.heads * d.width, mp + r * d.slots,
                     kp != nullptr ? kp + r * fh : nullptr, d, pp + r * fh, ap + r * fh,
                     gp + r * d.heads * d.width);
      }
    });
    ctx->save_for_backward({x, qk, mask, keep, pre, att});
    ctx->saved_data["has_keep"] = has_keep;
    return agg;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 const torch::autograd::variable_list& grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& qk = saved[1];
    const torch::Tensor& mask = saved[2];
    const bool has_keep = ctx->saved_data["has_keep"].toBool();
    const torch::Tensor g = grads[0].contiguous();
    const Dims d{x.size(0), x.size(1), qk.size(1), x.size(2)};
    torch::Tensor dx = torch::empty_like(x);
    torch::Tensor dqk = torch::empty_like(qk);
    const float* xp = x.data_ptr<float>();
    const float* qp = qk.data_ptr<float>();
    const bool* mp = mask.data_ptr<bool>();
    const float* kp = has_keep ? saved[3].data_ptr<float>() : nullptr;
    const float* pp = saved[4].data_ptr<float>();
    const float* ap = saved[5].data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    float* dxp = dx.data_ptr<float>();
    float* dqp = dqk.data_ptr<float>();
    const std::int64_t fh = d.slots * d.heads;
    at::parallel_for(0, d.roots, kGrain, [&](std::int64_t begin, std::int64_t end) {
      std::vector<float> datt(static_cast<std::size_t>(fh));
      for (std::int64_t r = begin; r < end; ++r) {
        backward_root(xp + r * d.slots * d.width, qp + r * d.heads * d.width, mp + r * d.slots,
                      kp != nullptr ? kp + r * fh : nullptr, pp + r * fh, ap + r * fh,
                      gp + r * d.heads * d.width, d, dxp + r * d.slots * d.width,
                      dqp + r * d.heads * d.width, datt.data());
      }
    });
    return {dx, dqk, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

DenseSlots dense_slots(const torch::Tensor& row, std::int64_t num_roots) {
  check_tensor(row, "dense_slots", "row", torch::kLong, {kAnyDim});
  const auto i64 = row.options();
  DenseSlots out;
  const std::int64_t num_edges = row.size(0);
  if (num_edges == 0) {
    out.edge = torch::empty({0}, i64);
    out.mask = torch::zeros({num_roots, 0}, i64.dtype(torch::kBool));
    return out;
  }
  const torch::Tensor counts = torch::bincount(row, {}, num_roots);
  if (counts.size(0) != num_roots) {
    throw InternalError(str_cat("dense_slots: a row index is >= num_roots ", num_roots));
  }
  out.num_slots = counts.max().item<std::int64_t>();
  const torch::Tensor order =
      std::get<1>(torch::sort(row, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  const torch::Tensor sorted_row = row.index_select(0, order);
  const torch::Tensor starts = counts.cumsum(0) - counts;
  const torch::Tensor slot = torch::arange(num_edges, i64) - starts.index_select(0, sorted_row);
  const torch::Tensor position = sorted_row * out.num_slots + slot;
  out.edge = torch::full({num_roots * out.num_slots}, -1, i64).index_copy_(0, position, order);
  out.mask = (out.edge >= 0).view({num_roots, out.num_slots});
  return out;
}

namespace {

// Under bf16 autocast the projections arrive in bf16 and bmm would return bf16 logits, whose
// range cannot hold the padding logit: the aggregation runs in float32 with autocast off.
bool needs_float32(const torch::Tensor& x, const torch::Tensor& qk, const torch::Tensor& keep) {
  return x.scalar_type() != torch::kFloat || qk.scalar_type() != torch::kFloat ||
         (keep.defined() && keep.scalar_type() != torch::kFloat) ||
         at::autocast::is_autocast_enabled(x.device().type());
}

torch::Tensor f32(const torch::Tensor& t) { return t.defined() ? t.to(torch::kFloat) : t; }

// Autocast off for one device type within a scope (restored after).
class Float32Scope {
 public:
  explicit Float32Scope(c10::DeviceType type)
      : type_(type), was_(at::autocast::is_autocast_enabled(type)) {
    at::autocast::set_autocast_enabled(type_, false);
  }
  ~Float32Scope() { at::autocast::set_autocast_enabled(type_, was_); }
  Float32Scope(const Float32Scope&) = delete;
  Float32Scope& operator=(const Float32Scope&) = delete;

 private:
  c10::DeviceType type_;
  bool was_;
};

}  // namespace

torch::Tensor segment_attention(const torch::Tensor& x, const torch::Tensor& qk,
                                const torch::Tensor& mask, const torch::Tensor& keep) {
  if (needs_float32(x, qk, keep)) {
    const Float32Scope scope(x.device().type());
    return segment_attention(f32(x), f32(qk), mask, f32(keep));
  }
  check_inputs(x, qk, mask, keep, "segment_attention");
  if (!x.device().is_cpu()) return segment_attention_reference(x, qk, mask, keep);
  // Autograd functions take no undefined inputs: "no keep" travels as an empty tensor.
  return SegmentAttentionFunction::apply(x, qk, mask,
                                         keep.defined() ? keep : torch::empty({0}, x.options()));
}

torch::Tensor segment_attention_reference(const torch::Tensor& x, const torch::Tensor& qk,
                                          const torch::Tensor& mask, const torch::Tensor& keep) {
  if (needs_float32(x, qk, keep)) {
    const Float32Scope scope(x.device().type());
    return segment_attention_reference(f32(x), f32(qk), mask, f32(keep));
  }
  check_inputs(x, qk, mask, keep, "segment_attention_reference");
  const torch::Tensor valid = mask.unsqueeze(2);
  torch::Tensor logits =
      torch::leaky_relu(torch::bmm(x, qk.transpose(1, 2)), kAttentionLeakySlope);  // [R, F, H]
  logits = logits.masked_fill(valid.logical_not(), std::numeric_limits<float>::lowest());
  // A root without valid slots gets a uniform softmax over padding; the mask zeroes it.
  torch::Tensor att = torch::softmax(logits, 1) * valid.to(x.scalar_type());
  if (keep.defined()) att = att * keep;
  return torch::bmm(att.transpose(1, 2), x);
}

}  // namespace disttgl::trainer

// Scalar float64 reference maths for the model tests: every expected value is computed here
// from the module's parameters with plain loops, independently of the torch ops under test.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace disttgl::trainer::testing {

using Vec = std::vector<double>;

inline Vec to_vec(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kDouble).contiguous().reshape({-1});
  return Vec(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

/// W [out, in] x + b (b may be undefined).
inline Vec affine(const torch::Tensor& weight, const torch::Tensor& bias, const Vec& x) {
  const Vec w = to_vec(weight);
  const Vec b = bias.defined() ? to_vec(bias) : Vec(static_cast<std::size_t>(weight.size(0)), 0.0);
  const auto out = static_cast<std::size_t>(weight.size(0));
  const auto in = static_cast<std::size_t>(weight.size(1));
  Vec y(out, 0.0);
  for (std::size_t r = 0; r < out; ++r) {
    double s = b[r];
    for (std::size_t c = 0; c < in; ++c) s += w[r * in + c] * x[c];
    y[r] = s;
  }
  return y;
}

inline Vec concat(std::initializer_list<Vec> parts) {
  Vec out;
  for (const Vec& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Vec slice(const Vec& v, std::size_t begin, std::size_t end) {
  return Vec(v.begin() + static_cast<std::ptrdiff_t>(begin),
             v.begin() + static_cast<std::ptrdiff_t>(end));
}

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double leaky_relu(double x, double slope = 0.2) { return x > 0 ? x : slope * x; }
inline Vec relu(Vec v) {
  for (double& x : v) x = x > 0 ? x : 0.0;
  return v;
}

/// cos(w * dt + b) for a TimeEncoding's w and b.
inline Vec time_encode(const torch::Tensor& w, const torch::Tensor& b, double dt) {
  const Vec wv = to_vec(w);
  const Vec bv = to_vec(b);
  Vec out(wv.size());
  for (std::size_t i = 0; i < wv.size(); ++i) out[i] = std::cos(wv[i] * dt + bv[i]);
  return out;
}

/// LayerNorm with torch's default eps 1e-5 and the given affine parameters.
inline Vec layer_norm(const Vec& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  double mean = 0.0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  double var = 0.0;
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  const Vec g = to_vec(weight);
  const Vec b = to_vec(bias);
  Vec out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    out[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * g[i] + b[i];
  }
  return out;
}

/// Randomises every parameter of `module` (LayerNorm's 1/0 defaults would hide mistakes).
inline void randomize_parameters(torch::nn::Module& module, std::uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) p.copy_(0.5 * torch::randn_like(p));
}

inline void expect_near(const torch::Tensor& actual, const Vec& expected, double tol) {
  const Vec a = to_vec(actual);
  ASSERT_EQ(a.size(), expected.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], expected[i], tol) << "at " << i;
}

}  // namespace disttgl::trainer::testing

// The hand-written CPU kernels against plain tensor-op references: the input-space attention
// core (forward and gradients, with padding, an edgeless root and dropout), the dense slot
// layout, the row gather's backward, and the time encoding's float64 phase and backward.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/model/gather_rows.hpp"
#include "disttgl/trainer/model/segment_attention.hpp"
#include "disttgl/trainer/model/time_encoding.hpp"

namespace disttgl::trainer::testing {
namespace {

struct AttentionCase {
  torch::Tensor x, qk, mask, keep;
};

// 5 roots, 4 slots, 2 heads, width 7. Root 1 has no valid slot, root 3 only slot 0.
AttentionCase make_case(bool with_keep) {
  torch::manual_seed(11);
  AttentionCase c;
  c.x = torch::randn({5, 4, 7});
  c.qk = torch::randn({5, 2, 7});
  c.mask = torch::tensor({1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1}, torch::kBool)
               .view({5, 4});
  if (with_keep) c.keep = torch::bernoulli(torch::full({5, 4, 2}, 0.7)).div_(0.7);
  return c;
}

struct Grads {
  torch::Tensor out, dx, dqk;
};

Grads run(bool fused, const AttentionCase& c, const torch::Tensor& upstream) {
  const torch::Tensor x = c.x.clone().requires_grad_(true);
  const torch::Tensor qk = c.qk.clone().requires_grad_(true);
  const torch::Tensor out = fused ? segment_attention(x, qk, c.mask, c.keep)
                                  : segment_attention_reference(x, qk, c.mask, c.keep);
  (out * upstream).sum().backward();
  return {out.detach(), x.grad(), qk.grad()};
}

class SegmentAttentionTest : public ::testing::TestWithParam<bool> {};

TEST_P(SegmentAttentionTest, FusedKernelMatchesReferenceInValueAndGradient) {
  const AttentionCase c = make_case(GetParam());
  const torch::Tensor upstream = torch::randn({5, 2, 7});
  const Grads fused = run(true, c, upstream);
  const Grads ref = run(false, c, upstream);
  ASSERT_EQ(fused.out.sizes(), torch::IntArrayRef({5, 2, 7}));
  EXPECT_TRUE(torch::allclose(fused.out, ref.out, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(fused.dx, ref.dx, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(fused.dqk, ref.dqk, 1e-5, 1e-6));
  // The edgeless root aggregates nothing and passes no gradient; padding gets no gradient.
  EXPECT_TRUE(torch::equal(fused.out[1], torch::zeros({2, 7})));
  EXPECT_TRUE(torch::equal(fused.dqk[1], torch::zeros({2, 7})));
  EXPECT_TRUE(torch::equal(fused.dx[0][3], torch::zeros({7})));
  EXPECT_GT(fused.dx[0][0].abs().sum().item<float>(), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Dropout, SegmentAttentionTest, ::testing::Values(false, true));

TEST(SegmentAttention, WithoutDropoutTheWeightsSumToOne) {
  // With a ones column last, agg's last entry is the sum of the attention weights.
  AttentionCase c = make_case(false);
  c.x.select(2, 6).fill_(1.0f);
  const torch::Tensor agg = segment_attention(c.x, c.qk, c.mask, torch::Tensor());
  const torch::Tensor sums = agg.select(2, 6);
  EXPECT_TRUE(torch::allclose(sums, torch::tensor({1.0f, 0.0f, 1.0f, 1.0f, 1.0f})
                                        .unsqueeze(1)
                                        .expand({5, 2}),
                              1e-6, 1e-6));
}

TEST(SegmentAttention, SameResultForOneAndTwoThreads) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({300, 10, 33});
  const torch::Tensor qk = torch::randn({300, 2, 33});
  const torch::Tensor mask = torch::rand({300, 10}) > 0.3;
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  const torch::Tensor one = segment_attention(x, qk, mask, torch::Tensor());
  at::set_num_threads(2);
  const torch::Tensor two = segment_attention(x, qk, mask, torch::Tensor());
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(one, two));
}

TEST(SegmentAttention, RejectsMismatchedShapes) {
  const AttentionCase c = make_case(false);
  try {
    segment_attention(c.x, c.qk.slice(2, 0, 6), c.mask, torch::Tensor());
    FAIL() << "width mismatch accepted";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(), "segment_attention: qk must be Float [5, *, 7], got Float [5, 2, 6]");
  }
}

TEST(DenseSlots, LaysEdgesOutByRootInTheirOrder) {
  // Roots 0..3: root 0 has edges 0, 1, 4; root 1 none; root 2 edge 2; root 3 edge 3.
  const DenseSlots s = dense_slots(torch::tensor({0, 0, 2, 3, 0}, torch::kLong), 4);
  EXPECT_EQ(s.num_slots, 3);
  EXPECT_TRUE(torch::equal(
      s.edge, torch::tensor({0, 1, 4, -1, -1, -1, 2, -1, -1, 3, -1, -1}, torch::kLong)));
  EXPECT_TRUE(torch::equal(s.mask, s.edge.view({4, 3}) >= 0));
  const DenseSlots empty = dense_slots(torch::empty({0}, torch::kLong), 2);
  EXPECT_EQ(empty.num_slots, 0);
  EXPECT_EQ(empty.mask.sizes(), torch::IntArrayRef({2, 0}));
}

TEST(GatherRows, BackwardSumsRepeatedRowsLikeIndexSelect) {
  torch::manual_seed(4);
  const torch::Tensor table = torch::randn({6, 5});
  const torch::Tensor index = torch::tensor({5, 0, 5, 2, 5, 0, 3}, torch::kLong);
  const torch::Tensor upstream = torch::randn({7, 5});
  std::vector<torch::Tensor> grads;
  const int before = at::get_num_threads();
  for (const int threads : {1, 2}) {
    at::set_num_threads(threads);
    const torch::Tensor t = table.clone().requires_grad_(true);
    const torch::Tensor out = gather_rows(t, index);
    EXPECT_TRUE(torch::equal(out, table.index_select(0, index)));
    (out * upstream).sum().backward();
    grads.push_back(t.grad());
  }
  at::set_num_threads(before);
  const torch::Tensor t = table.clone().requires_grad_(true);
  (t.index_select(0, index) * upstream).sum().backward();
  EXPECT_TRUE(torch::allclose(grads[0], t.grad(), 1e-6, 1e-6));
  EXPECT_TRUE(torch::equal(grads[0], grads[1]));
  EXPECT_TRUE(torch::equal(grads[0][1], torch::zeros({5})));  // row 1 never gathered
}

TEST(TimeEncodingKernel, MatchesFloat64FormulaAtLargeTimesAndItsGradient) {
  TimeEncoding enc(16);
  {
    torch::NoGradGuard no_grad;
    enc->b.uniform_(-3.0, 3.0);
  }
  const torch::Tensor dt = torch::tensor({0.0, 1.5, 3.0e4, 2.7e6, 1.2e9}, torch::kDouble);
  const torch::Tensor got = enc->forward(dt);
  const torch::Tensor w = enc->w.detach().to(torch::kDouble).requires_grad_(true);
  const torch::Tensor b = enc->b.detach().to(torch::kDouble).requires_grad_(true);
  const torch::Tensor want = torch::cos(dt.unsqueeze(1) * w + b);
  EXPECT_LT((got.to(torch::kDouble) - want).abs().max().item<double>(), 2e-6);
  const torch::Tensor upstream = torch::randn({5, 16});
  (got * upstream).sum().backward();
  (want * upstream.to(torch::kDouble)).sum().backward();
  EXPECT_TRUE(torch::allclose(enc->b.grad().to(torch::kDouble), b.grad(), 1e-4, 1e-5));
  // d/dw carries dt (up to 1.2e9) as a factor: compare relative to its scale.
  const double scale = w.grad().abs().max().item<double>();
  EXPECT_LT((enc->w.grad().to(torch::kDouble) - w.grad()).abs().max().item<double>(),
            1e-5 * scale);
}

}  // namespace
}  // namespace disttgl::trainer::testing

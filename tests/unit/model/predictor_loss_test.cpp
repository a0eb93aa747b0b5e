// Edge predictor (logits, negative layout) and the two losses against hand-computed values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/model/edge_predictor.hpp"
#include "disttgl/trainer/model/loss.hpp"
#include "disttgl/trainer/model/model_config.hpp"
#include "reference.hpp"

namespace disttgl::trainer::testing {
namespace {

// A 1-wide predictor computing logit = ReLU(z_src + z_dst).
EdgePredictor unit_predictor() {
  EdgePredictor p(1);
  torch::NoGradGuard no_grad;
  for (auto* fc : {&p->src_fc, &p->dst_fc, &p->out_fc}) {
    (*fc)->weight.fill_(1.0f);
    (*fc)->bias.fill_(0.0f);
  }
  return p;
}

TEST(EdgePredictor, ReturnsLogitsNotProbabilities) {
  EdgePredictor p = unit_predictor();
  // B = 1, n = 1: z_src = 4, z_pos = 6, z_neg = -20 -> logits 10 and ReLU(-16) = 0.
  const LinkLogits out = p->forward(torch::tensor({{4.0f}, {6.0f}, {-20.0f}}), 1);
  EXPECT_EQ(out.pos.sizes(), torch::IntArrayRef({1}));
  EXPECT_EQ(out.neg.sizes(), torch::IntArrayRef({1, 1}));
  EXPECT_EQ(out.pos[0].item<float>(), 10.0f);
  EXPECT_EQ(out.neg[0][0].item<float>(), 0.0f);
  // BCE-with-logits of logit +10 against label 1 is log(1 + e^-10) = 4.53989e-5; the loss
  // adds BCE(0, label 0) = ln 2. Had the predictor returned sigmoid(10), the first term
  // would be log(1 + e^-0.99995) = 0.3133.
  const double loss =
      link_prediction_loss(LossKind::kBinaryCrossEntropy, out.pos, out.neg).item<double>();
  EXPECT_NEAR(loss - std::log(2.0), 4.54e-5, 1e-6);
  EXPECT_NEAR(torch::binary_cross_entropy_with_logits(out.pos, torch::ones({1})).item<double>(),
              4.54e-5, 1e-6);
}

TEST(EdgePredictor, EachNegativeIsScoredAgainstItsOwnSource) {
  EdgePredictor p = unit_predictor();
  // B = 2, n = 3. Sources 1 and 100; negatives of event i at rows 4 + 3i .. 4 + 3i + 2.
  const torch::Tensor z =
      torch::tensor({1.0f, 100.0f, 2.0f, 3.0f, 0.5f, 1.5f, 2.5f, -1.0f, -2.0f, -3.0f})
          .view({10, 1});
  const LinkLogits out = p->forward(z, 2);
  EXPECT_TRUE(torch::equal(out.pos, torch::tensor({3.0f, 103.0f})));
  EXPECT_TRUE(torch::equal(out.neg, torch::tensor({{1.5f, 2.5f, 3.5f}, {99.0f, 98.0f, 97.0f}})));
}

TEST(EdgePredictor, HandComputedGeneralWeights) {
  EdgePredictor p(3);
  randomize_parameters(*p, 43);
  const torch::Tensor z = torch::randn({4, 3});  // B = 2, n = 0
  const LinkLogits out = p->forward(z, 2);
  EXPECT_EQ(out.neg.sizes(), torch::IntArrayRef({2, 0}));
  for (std::int64_t i = 0; i < 2; ++i) {
    const Vec s = affine(p->src_fc->weight, p->src_fc->bias, to_vec(z[i]));
    const Vec d = affine(p->dst_fc->weight, p->dst_fc->bias, to_vec(z[2 + i]));
    Vec hidden(3);
    for (std::size_t c = 0; c < 3; ++c) hidden[c] = std::max(0.0, s[c] + d[c]);
    EXPECT_NEAR(out.pos[i].item<double>(), affine(p->out_fc->weight, p->out_fc->bias, hidden)[0],
                1e-5);
  }
}

TEST(EdgePredictor, RejectsARowCountThatIsNotBTimesTwoPlusN) {
  EdgePredictor p(2);
  try {
    p->forward(torch::zeros({7, 2}), 2);
    FAIL() << "7 rows accepted for B = 2";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(), "EdgePredictor::forward: 7 embeddings is not B * (2 + n) for B = 2");
  }
  EXPECT_THROW(p->forward(torch::zeros({4, 3}), 2), InternalError);
}

TEST(SoftmaxCrossEntropy, OneNegativeIsTheTwoWaySoftmax) {
  const torch::Tensor pos = torch::tensor({1.5f, -0.5f});
  const torch::Tensor neg = torch::tensor({{0.5f}, {2.0f}});
  // -log(e^p / (e^p + e^n)) = log(1 + e^(n - p)), averaged over the two events.
  const double expected =
      (std::log(1.0 + std::exp(0.5 - 1.5)) + std::log(1.0 + std::exp(2.0 + 0.5))) / 2.0;
  EXPECT_NEAR(link_prediction_loss(LossKind::kSoftmaxCrossEntropy, pos, neg).item<double>(),
              expected, 1e-6);
}

TEST(SoftmaxCrossEntropy, ManyNegativesTargetIndexZero) {
  const torch::Tensor pos = torch::tensor({0.0f});
  const torch::Tensor neg = torch::tensor({{1.0f, -1.0f, 2.0f}});
  const double expected = std::log(1.0 + std::exp(1.0) + std::exp(-1.0) + std::exp(2.0));
  EXPECT_NEAR(link_prediction_loss(LossKind::kSoftmaxCrossEntropy, pos, neg).item<double>(),
              expected, 1e-6);
}

TEST(BinaryCrossEntropy, MeanOverPositivesPlusMeanOverNegatives) {
  const torch::Tensor pos = torch::tensor({2.0f, -1.0f});
  const torch::Tensor neg = torch::tensor({{0.5f, -3.0f}, {1.0f, 0.0f}});
  auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  const double expected = (softplus(-2.0) + softplus(1.0)) / 2.0 +
                          (softplus(0.5) + softplus(-3.0) + softplus(1.0) + softplus(0.0)) / 4.0;
  EXPECT_NEAR(link_prediction_loss(LossKind::kBinaryCrossEntropy, pos, neg).item<double>(),
              expected, 1e-6);
}

TEST(Loss, RejectsBadShapesAndParsesNames) {
  EXPECT_THROW(
      link_prediction_loss(LossKind::kBinaryCrossEntropy, torch::zeros({2}), torch::zeros({3, 1})),
      InternalError);
  EXPECT_THROW(
      link_prediction_loss(LossKind::kSoftmaxCrossEntropy, torch::zeros({2}), torch::zeros({2, 0})),
      InternalError);
  EXPECT_EQ(parse_loss_kind("bce"), LossKind::kBinaryCrossEntropy);
  EXPECT_EQ(parse_loss_kind(to_string(LossKind::kSoftmaxCrossEntropy)),
            LossKind::kSoftmaxCrossEntropy);
  try {
    parse_loss_kind("mse");
    FAIL() << "mse accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "train.loss: unknown loss 'mse' (expected bce or softmax_ce)");
  }
}

}  // namespace
}  // namespace disttgl::trainer::testing

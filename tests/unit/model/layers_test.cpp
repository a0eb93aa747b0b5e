// Time encoding, memory updaters and node input against hand computations from the modules'
// own parameters (reference.hpp).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/model/memory_updater.hpp"
#include "disttgl/trainer/model/node_input.hpp"
#include "disttgl/trainer/model/time_encoding.hpp"
#include "reference.hpp"

namespace disttgl::trainer::testing {
namespace {

torch::Tensor i64(std::vector<std::int64_t> v) { return torch::tensor(v, torch::kLong); }

// ---- TimeEncoding ----

TEST(TimeEncoding, TglInitialisation) {
  TimeEncoding enc(100);
  ASSERT_EQ(enc->w.sizes(), torch::IntArrayRef({100}));
  EXPECT_EQ(enc->w[0].item<float>(), 1.0f);
  EXPECT_EQ(enc->w[99].item<float>(), 1e-9f);
  EXPECT_FLOAT_EQ(enc->w[11].item<float>(), static_cast<float>(std::pow(10.0, -9.0 * 11 / 99)));
  EXPECT_TRUE(torch::equal(enc->b, torch::zeros({100})));
  // phi(0) = cos(b) = 1; phi(dt) = cos(w dt).
  EXPECT_TRUE(torch::equal(enc->forward(torch::zeros({2}, torch::kDouble)), torch::ones({2, 100})));
  const torch::Tensor phi = enc->forward(torch::tensor({2.5}, torch::kDouble));
  EXPECT_FLOAT_EQ(phi[0][0].item<float>(), static_cast<float>(std::cos(2.5)));
  EXPECT_FLOAT_EQ(phi[0][1].item<float>(),
                  static_cast<float>(std::cos(2.5 * std::pow(10.0, -9.0 / 99))));
}

TEST(TimeEncoding, BothParametersAreTrainable) {
  TimeEncoding enc(8);
  const auto params = enc->named_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_TRUE(params["w"].requires_grad());
  EXPECT_TRUE(params["b"].requires_grad());
  enc->forward(torch::tensor({0.7, 30.0, 1e4}, torch::kDouble)).sum().backward();
  EXPECT_GT(enc->w.grad().abs().sum().item<float>(), 0.0f);
  EXPECT_GT(enc->b.grad().abs().sum().item<float>(), 0.0f);
  // d/db sum_i cos(w dt_i + b) = -sum_i sin(w dt_i) at b = 0; component 0 has w = 1.
  EXPECT_NEAR(enc->b.grad()[0].item<float>(), -(std::sin(0.7) + std::sin(30.0) + std::sin(1e4)),
              1e-5);
}

TEST(TimeEncoding, AcceptsFloatAndRejectsOtherInput) {
  TimeEncoding enc(4);
  EXPECT_TRUE(torch::allclose(enc->forward(torch::tensor({3.0f})),
                              enc->forward(torch::tensor({3.0}, torch::kDouble))));
  EXPECT_THROW(enc->forward(torch::tensor({1, 2}, torch::kLong)), InternalError);
  EXPECT_THROW(enc->forward(torch::zeros({2, 2}, torch::kDouble)), InternalError);
}

// ---- edge features and mail helpers ----

TEST(LookupEdgeFeatures, ZeroRowForMissingMail) {
  const torch::Tensor table = torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}, {5.0f, 6.0f}});
  const torch::Tensor got = lookup_edge_features(table, i64({2, -1, 0, 1}).view({2, 2}));
  EXPECT_TRUE(torch::equal(
      got, torch::tensor({{{5.0f, 6.0f}, {0.0f, 0.0f}}, {{1.0f, 2.0f}, {3.0f, 4.0f}}})));
  try {
    lookup_edge_features(table, i64({3}));
    FAIL() << "event id 3 accepted";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(), "lookup_edge_features: event id 3 outside [-1, 3)");
  }
  EXPECT_FALSE(lookup_edge_features(torch::Tensor(), i64({0})).defined());
}

MemoryRows make_rows(std::int64_t n, std::int64_t slots, std::int64_t d) {
  torch::manual_seed(5);
  MemoryRows r = MemoryRows::empty_rows(n, slots, d, 2 * d, torch::kCPU);
  r.memory = torch::randn({n, d});
  r.memory_ts = torch::rand({n}, torch::kDouble) * 3.0;
  r.mail = torch::randn({n, slots, 2 * d});
  r.mail_ts = 4.0 + torch::rand({n, slots}, torch::kDouble) * 5.0;
  return r;
}

TEST(UpdatedMemoryTs, NewestMailTimeOrMemoryTime) {
  MemoryRows r = make_rows(2, 2, 2);
  r.mail_eid = i64({-1, 4, -1, -1}).view({2, 2});
  const torch::Tensor ts = updated_memory_ts(r);
  EXPECT_EQ(ts[0].item<double>(), r.mail_ts[0][1].item<double>());
  EXPECT_EQ(ts[1].item<double>(), r.memory_ts[1].item<double>());
  EXPECT_TRUE(torch::equal(has_mail(r), torch::tensor({true, false})));
}

// ---- recurrent updaters ----

constexpr std::int64_t kMem = 3;
constexpr std::int64_t kEdge = 2;
constexpr std::int64_t kTime = 2;

// Input x of node i's newest mail, by hand.
Vec hand_input(const MemoryRows& r, const torch::Tensor& table, std::int64_t i,
               const TimeEncoding& enc) {
  const std::int64_t eid = r.mail_eid[i][-1].item<std::int64_t>();
  const double dt = r.mail_ts[i][-1].item<double>() - r.memory_ts[i].item<double>();
  return concat({to_vec(r.mail[i][-1]), to_vec(table[eid]), time_encode(enc->w, enc->b, dt)});
}

TEST(GruMemoryUpdater, MailedNodeGetsGruCellAndMaillessNodeKeepsMemory) {
  const MemoryUpdaterDims dims{kMem, 2 * kMem, kEdge, kTime};
  auto updater = std::make_shared<GruMemoryUpdaterImpl>(dims);
  randomize_parameters(*updater, 17);
  MemoryRows r = make_rows(3, 1, kMem);
  r.mail_eid = i64({1, -1, 0}).view({3, 1});
  const torch::Tensor table = torch::randn({2, kEdge});
  const torch::Tensor out = updater->forward(r, table);
  ASSERT_EQ(out.sizes(), torch::IntArrayRef({3, kMem}));

  const auto& cell = updater->cell;
  for (const std::int64_t i : {0, 2}) {
    SCOPED_TRACE(i);
    const Vec x = hand_input(r, table, i, updater->time_encoding);
    const Vec h = to_vec(r.memory[i]);
    const Vec gi = affine(cell->weight_ih, cell->bias_ih, x);  // [r | z | n] blocks of kMem
    const Vec gh = affine(cell->weight_hh, cell->bias_hh, h);
    Vec expected(kMem);
    for (std::size_t k = 0; k < kMem; ++k) {
      const double reset = sigmoid(gi[k] + gh[k]);
      const double update = sigmoid(gi[kMem + k] + gh[kMem + k]);
      const double cand = std::tanh(gi[2 * kMem + k] + reset * gh[2 * kMem + k]);
      expected[k] = (1.0 - update) * cand + update * h[k];
    }
    expect_near(out[i], expected, 1e-5);
  }
  EXPECT_TRUE(torch::equal(out[1], r.memory[1]));  // bit for bit
}

TEST(GruMemoryUpdater, UsesTheNewestSlotAndNoEdgeTermWithoutFeatures) {
  const MemoryUpdaterDims dims{kMem, 2 * kMem, 0, kTime};
  auto updater = std::make_shared<GruMemoryUpdaterImpl>(dims);
  EXPECT_EQ(updater->cell->weight_ih.size(1), 2 * kMem + kTime);
  MemoryRows r = make_rows(1, 1, kMem);
  r.mail_eid.fill_(0);
  const torch::Tensor expected = updater->forward(r, torch::Tensor());
  // The same newest mail behind an older one gives the same result.
  MemoryRows two = MemoryRows::empty_rows(1, 2, kMem, 2 * kMem, torch::kCPU);
  two.memory = r.memory;
  two.memory_ts = r.memory_ts;
  two.mail = torch::cat({torch::randn({1, 1, 2 * kMem}), r.mail}, 1);
  two.mail_ts = torch::cat({r.mail_ts - 1.0, r.mail_ts}, 1);
  two.mail_eid = i64({5, 0}).view({1, 2});
  EXPECT_TRUE(torch::equal(updater->forward(two, torch::Tensor()), expected));
}

TEST(RnnMemoryUpdater, MailedNodeGetsTanhRnnCell) {
  const MemoryUpdaterDims dims{kMem, 2 * kMem, kEdge, kTime};
  auto updater = std::make_shared<RnnMemoryUpdaterImpl>(dims);
  randomize_parameters(*updater, 19);
  MemoryRows r = make_rows(2, 1, kMem);
  r.mail_eid = i64({-1, 1}).view({2, 1});
  const torch::Tensor table = torch::randn({2, kEdge});
  const torch::Tensor out = updater->forward(r, table);
  const Vec x = hand_input(r, table, 1, updater->time_encoding);
  const Vec a = affine(updater->cell->weight_ih, updater->cell->bias_ih, x);
  const Vec b = affine(updater->cell->weight_hh, updater->cell->bias_hh, to_vec(r.memory[1]));
  Vec expected(kMem);
  for (std::size_t k = 0; k < kMem; ++k) expected[k] = std::tanh(a[k] + b[k]);
  expect_near(out[1], expected, 1e-5);
  EXPECT_TRUE(torch::equal(out[0], r.memory[0]));
}

TEST(RecurrentMemoryUpdater, RejectsRowsOfTheWrongWidth) {
  auto updater =
      std::make_shared<GruMemoryUpdaterImpl>(MemoryUpdaterDims{kMem, 2 * kMem, 0, kTime});
  MemoryRows r = make_rows(2, 1, kMem + 1);
  try {
    updater->forward(r, torch::Tensor());
    FAIL() << "wrong width accepted";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(),
                 "GruMemoryUpdater::forward: rows.memory must be Float [2, 3], got Float [2, 4]");
  }
}

// ---- APAN attention updater ----

TEST(AttentionMemoryUpdater, HandComputedTwoHeadsOverNonEmptySlots) {
  constexpr std::int64_t d = 4;
  const MemoryUpdaterDims dims{d, 2 * d, kEdge, kTime};
  auto updater = std::make_shared<AttentionMemoryUpdaterImpl>(dims, 2, 0.1, 0.1);
  randomize_parameters(*updater, 23);
  updater->eval();  // no dropout
  MemoryRows r = make_rows(2, 3, d);
  r.mail_eid = i64({-1, 0, 1, -1, -1, -1}).view({2, 3});  // node 0: two mails; node 1: none
  const torch::Tensor table = torch::randn({2, kEdge});
  const torch::Tensor out = updater->forward(r, table);

  const Vec s = to_vec(r.memory[0]);
  const Vec q = affine(updater->w_q->weight, updater->w_q->bias, s);
  std::vector<Vec> k;
  std::vector<Vec> v;
  for (std::int64_t slot : {1, 2}) {
    const double dt = r.mail_ts[0][slot].item<double>() - r.memory_ts[0].item<double>();
    const Vec x = concat({to_vec(r.mail[0][slot]), to_vec(table[r.mail_eid[0][slot]]),
                          time_encode(updater->time_encoding->w, updater->time_encoding->b, dt)});
    k.push_back(affine(updater->w_k->weight, updater->w_k->bias, x));
    v.push_back(affine(updater->w_v->weight, updater->w_v->bias, x));
  }
  Vec a(d, 0.0);
  for (std::size_t head = 0; head < 2; ++head) {
    double logit[2];
    for (std::size_t j = 0; j < 2; ++j) {
      double dot = 0.0;
      for (std::size_t c = head * 2; c < head * 2 + 2; ++c) dot += q[c] * k[j][c];
      logit[j] = leaky_relu(dot);  // no 1/sqrt(d) scaling
    }
    const double m = std::max(logit[0], logit[1]);
    const double e0 = std::exp(logit[0] - m);
    const double e1 = std::exp(logit[1] - m);
    for (std::size_t c = head * 2; c < head * 2 + 2; ++c) {
      a[c] = (e0 * v[0][c] + e1 * v[1][c]) / (e0 + e1);
    }
  }
  Vec sum(d);
  for (std::size_t c = 0; c < d; ++c) sum[c] = a[c] + s[c];
  const Vec expected =
      relu(affine(updater->mlp->weight, updater->mlp->bias,
                  layer_norm(sum, updater->layer_norm->weight, updater->layer_norm->bias)));
  expect_near(out[0], expected, 1e-5);
  EXPECT_TRUE(torch::equal(out[1], r.memory[1]));
}

TEST(AttentionMemoryUpdater, EmptySlotsDoNotChangeTheResult) {
  constexpr std::int64_t d = 4;
  auto updater = std::make_shared<AttentionMemoryUpdaterImpl>(MemoryUpdaterDims{d, 2 * d, 0, kTime},
                                                              2, 0.1, 0.1);
  updater->eval();
  MemoryRows one = make_rows(1, 1, d);
  one.mail_eid.fill_(7);
  MemoryRows padded = MemoryRows::empty_rows(1, 4, d, 2 * d, torch::kCPU);
  padded.memory = one.memory;
  padded.memory_ts = one.memory_ts;
  padded.mail.select(1, 3).copy_(one.mail.select(1, 0));
  padded.mail.select(1, 0).copy_(torch::randn({1, 2 * d}));  // junk in an empty slot
  padded.mail_ts.select(1, 3).copy_(one.mail_ts.select(1, 0));
  padded.mail_eid.select(1, 3).fill_(7);
  EXPECT_TRUE(torch::allclose(updater->forward(padded, torch::Tensor()),
                              updater->forward(one, torch::Tensor()), 1e-6, 1e-6));
}

// ---- node input ----

TEST(NodeInput, CombinesMemoryFeaturesAndStaticMemory) {
  torch::manual_seed(29);
  const torch::Tensor s = torch::randn({2, 3});
  const torch::Tensor x_same = torch::randn({2, 3});
  const torch::Tensor x_wide = torch::randn({2, 5});
  const torch::Tensor stat = torch::randn({2, 4});

  NodeInput plain(3, 0, 0);
  EXPECT_TRUE(torch::equal(plain->forward(s, torch::Tensor(), torch::Tensor()), s));
  NodeInput same(3, 3, 0);  // d_v == d: plain sum, no Linear (TGL)
  EXPECT_FALSE(same->node_feature_map);
  EXPECT_TRUE(torch::equal(same->forward(s, x_same, torch::Tensor()), s + x_same));
  NodeInput both(3, 5, 4);  // Linear for the features and for the static memory (DistTGL)
  const torch::Tensor h = both->forward(s, x_wide, stat);
  for (std::int64_t i = 0; i < 2; ++i) {
    const Vec f =
        affine(both->node_feature_map->weight, both->node_feature_map->bias, to_vec(x_wide[i]));
    const Vec g = affine(both->static_map->weight, both->static_map->bias, to_vec(stat[i]));
    const Vec sv = to_vec(s[i]);
    Vec expected(3);
    for (std::size_t c = 0; c < 3; ++c) expected[c] = sv[c] + f[c] + g[c];
    expect_near(h[i], expected, 1e-6);
  }
  try {
    both->forward(s, x_wide, torch::Tensor());
    FAIL() << "missing static memory accepted";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(), "NodeInput::forward: static_memory must be Float [2, 4], got undefined");
  }
}

TEST(StaticMemoryEmbedding, TrainableTableReplacesTheMemory) {
  StaticMemoryEmbedding emb(6, 3);
  const torch::Tensor rows = emb->forward(i64({4, 1}));
  EXPECT_TRUE(torch::equal(rows[0], emb->table()[4]));
  rows.sum().backward();
  const torch::Tensor grad = emb->table().grad();
  EXPECT_TRUE(torch::equal(grad[4], torch::ones({3})));
  EXPECT_TRUE(torch::equal(grad[0], torch::zeros({3})));
  EXPECT_THROW(emb->forward(i64({6})), InternalError);
}

}  // namespace
}  // namespace disttgl::trainer::testing

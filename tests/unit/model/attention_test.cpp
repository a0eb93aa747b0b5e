// Temporal attention layer and the embedding modules against a scalar reference that follows
// disttgl.md §3.4 literally.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/model/embedding.hpp"
#include "reference.hpp"

namespace disttgl::trainer::testing {
namespace {

constexpr std::int64_t kNode = 3;
constexpr std::int64_t kEdge = 2;
constexpr std::int64_t kTime = 2;
constexpr std::int64_t kOut = 4;

// z of every root by the formula: per root v, Q = W_q[h_v || phi(0)], K/V = W_k/W_v[h_u || f_e
// || phi(dt)], heads of kOut/H, LeakyReLU(0.2) logits without scaling, softmax over v's edges,
// a = sum att V (0 without edges), z = LayerNorm(ReLU(W_out [a || h_v])).
std::vector<Vec> reference_layer(TemporalAttentionLayer& layer, std::int64_t heads,
                                 const torch::Tensor& h, const BlockTensors& block,
                                 const torch::Tensor& ef) {
  const auto& enc = layer->time_encoding;
  const std::int64_t roots = block.num_roots;
  const std::size_t head_dim = static_cast<std::size_t>(kOut / heads);
  std::vector<Vec> out;
  for (std::int64_t v = 0; v < roots; ++v) {
    const Vec hv = to_vec(h[v]);
    const Vec q = affine(layer->w_q->weight, layer->w_q->bias,
                         concat({hv, time_encode(enc->w, enc->b, 0.0)}));
    std::vector<Vec> keys;
    std::vector<Vec> values;
    for (std::int64_t e = 0; e < block.num_edges(); ++e) {
      if (block.row[e].item<std::int64_t>() != v) continue;
      Vec in = to_vec(h[roots + e]);
      if (ef.defined()) in = concat({in, to_vec(ef[e])});
      in = concat({in, time_encode(enc->w, enc->b, block.dt[e].item<double>())});
      keys.push_back(affine(layer->w_k->weight, layer->w_k->bias, in));
      values.push_back(affine(layer->w_v->weight, layer->w_v->bias, in));
    }
    Vec a(kOut, 0.0);
    for (std::size_t head = 0; head < static_cast<std::size_t>(heads); ++head) {
      if (keys.empty()) break;
      Vec logits;
      for (const Vec& k : keys) {
        double dot = 0.0;
        for (std::size_t c = head * head_dim; c < (head + 1) * head_dim; ++c) dot += q[c] * k[c];
        logits.push_back(leaky_relu(dot));
      }
      const double m = *std::max_element(logits.begin(), logits.end());
      double denom = 0.0;
      for (double l : logits) denom += std::exp(l - m);
      for (std::size_t j = 0; j < keys.size(); ++j) {
        const double att = std::exp(logits[j] - m) / denom;
        for (std::size_t c = head * head_dim; c < (head + 1) * head_dim; ++c)
          a[c] += att * values[j][c];
      }
    }
    out.push_back(
        layer_norm(relu(affine(layer->w_out->weight, layer->w_out->bias, concat({a, hv}))),
                   layer->layer_norm->weight, layer->layer_norm->bias));
  }
  return out;
}

// Roots 0, 1, 2; root 0 has three edges, root 1 none, root 2 one.
BlockTensors tiny_block() {
  BlockTensors b;
  b.num_roots = 3;
  b.row = torch::tensor({0, 0, 0, 2}, torch::kLong);
  b.dt = torch::tensor({1.5, 20.0, 300.0, 0.25}, torch::kDouble);
  b.eid = torch::tensor({4, 2, 1, 0}, torch::kLong);
  return b;
}

class AttentionLayerTest : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(AttentionLayerTest, MatchesTheFormulaByHand) {
  const std::int64_t heads = GetParam();
  TemporalAttentionLayer layer(kNode, kEdge, kTime, kOut, heads, 0.2, 0.2);
  randomize_parameters(*layer, 31);
  layer->eval();
  const BlockTensors block = tiny_block();
  const torch::Tensor h = torch::randn({block.num_nodes(), kNode});
  const torch::Tensor ef = torch::randn({block.num_edges(), kEdge});
  const torch::Tensor z = layer->forward(h, block, ef);
  ASSERT_EQ(z.sizes(), torch::IntArrayRef({3, kOut}));
  const std::vector<Vec> expected = reference_layer(layer, heads, h, block, ef);
  for (std::int64_t v = 0; v < 3; ++v) {
    SCOPED_TRACE(v);
    expect_near(z[v], expected[static_cast<std::size_t>(v)], 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Heads, AttentionLayerTest, ::testing::Values(1, 2));

TEST(TemporalAttentionLayer, RootWithoutNeighboursGetsZeroAggregate) {
  TemporalAttentionLayer layer(kNode, kEdge, kTime, kOut, 2, 0.2, 0.2);
  randomize_parameters(*layer, 37);
  layer->eval();
  const BlockTensors block = tiny_block();
  const torch::Tensor h = torch::randn({block.num_nodes(), kNode});
  const torch::Tensor z = layer->forward(h, block, torch::randn({block.num_edges(), kEdge}));
  // Root 1 has no edges: z = LayerNorm(ReLU(W_out [0 || h_1])).
  const torch::Tensor expected = layer->layer_norm->forward(torch::relu(
      layer->w_out->forward(torch::cat({torch::zeros({1, kOut}), h.slice(0, 1, 2)}, 1))));
  EXPECT_TRUE(torch::allclose(z.slice(0, 1, 2), expected, 1e-6, 1e-6));
  // A block with no edges at all.
  BlockTensors empty;
  empty.num_roots = 2;
  empty.row = torch::empty({0}, torch::kLong);
  empty.dt = torch::empty({0}, torch::kDouble);
  empty.eid = torch::empty({0}, torch::kLong);
  const torch::Tensor h2 = torch::randn({2, kNode});
  const torch::Tensor z2 = layer->forward(h2, empty, torch::empty({0, kEdge}));
  EXPECT_TRUE(torch::allclose(z2,
                              layer->layer_norm->forward(torch::relu(layer->w_out->forward(
                                  torch::cat({torch::zeros({2, kOut}), h2}, 1)))),
                              1e-6, 1e-6));
}

TEST(TemporalAttentionLayer, NeighbourOrderDoesNotMatter) {
  TemporalAttentionLayer layer(kNode, kEdge, kTime, kOut, 2, 0.2, 0.2);
  randomize_parameters(*layer, 41);
  layer->eval();
  const BlockTensors block = tiny_block();
  const torch::Tensor h = torch::randn({block.num_nodes(), kNode});
  const torch::Tensor ef = torch::randn({block.num_edges(), kEdge});
  const torch::Tensor z = layer->forward(h, block, ef);
  // Reverse root 0's three edges (edge e moves to 2 - e), with their neighbours' rows.
  const torch::Tensor perm = torch::tensor({2, 1, 0, 3}, torch::kLong);
  BlockTensors shuffled = block;
  shuffled.dt = block.dt.index_select(0, perm);
  shuffled.eid = block.eid.index_select(0, perm);
  const torch::Tensor node_perm = torch::cat({torch::arange(3, torch::kLong), 3 + perm});
  const torch::Tensor z2 =
      layer->forward(h.index_select(0, node_perm), shuffled, ef.index_select(0, perm));
  EXPECT_TRUE(torch::allclose(z, z2, 1e-6, 1e-6));
  // Sanity: the edges do matter (changing one neighbour changes root 0 only).
  torch::Tensor h3 = h.clone();
  h3[3] += 1.0;
  const torch::Tensor z3 = layer->forward(h3, block, ef);
  EXPECT_FALSE(torch::allclose(z3[0], z[0], 1e-4, 1e-4));
  EXPECT_TRUE(torch::equal(z3.slice(0, 1), z.slice(0, 1)));
}

TEST(TemporalAttentionLayer, AttentionDropoutIsActiveOnlyInTraining) {
  TemporalAttentionLayer layer(kNode, 0, kTime, kOut, 2, 0.0, 0.5);
  const BlockTensors block = tiny_block();
  const torch::Tensor h = torch::randn({block.num_nodes(), kNode});
  layer->eval();
  const torch::Tensor a = layer->forward(h, block, torch::Tensor());
  EXPECT_TRUE(torch::equal(a, layer->forward(h, block, torch::Tensor())));
  layer->train();
  torch::manual_seed(1);
  bool differs = false;
  for (int i = 0; i < 5 && !differs; ++i) {
    differs = !torch::allclose(layer->forward(h, block, torch::Tensor()), a);
  }
  EXPECT_TRUE(differs);
}

TemporalBlock make_block(std::int64_t num_roots, const std::vector<std::int64_t>& row) {
  TemporalBlock b;
  b.num_roots = num_roots;
  for (std::int64_t i = 0; i < num_roots; ++i) {
    b.nodes.push_back(i);
    b.times.push_back(100.0);
  }
  for (std::size_t e = 0; e < row.size(); ++e) {
    b.nodes.push_back(static_cast<NodeId>(50 + e));
    b.times.push_back(10.0 + static_cast<double>(e));
    b.row.push_back(row[e]);
    b.col.push_back(num_roots + static_cast<std::int64_t>(e));
    b.eid.push_back(static_cast<EdgeId>(e));
    b.dt.push_back(90.0 - static_cast<double>(e));
  }
  return b;
}

TEST(ToBlockTensors, CopiesTheArraysAndChecksTheLayout) {
  const TemporalBlock b = make_block(2, {0, 0, 1});
  const BlockTensors t = to_block_tensors(b, torch::kCPU);
  EXPECT_EQ(t.num_roots, 2);
  EXPECT_EQ(t.num_nodes(), 5);
  EXPECT_TRUE(torch::equal(t.row, torch::tensor({0, 0, 1}, torch::kLong)));
  EXPECT_TRUE(torch::equal(t.eid, torch::tensor({0, 1, 2}, torch::kLong)));
  EXPECT_TRUE(torch::equal(t.dt, torch::tensor({90.0, 89.0, 88.0}, torch::kDouble)));
  TemporalBlock bad = b;
  bad.col[1] = 4;
  try {
    to_block_tensors(bad, torch::kCPU);
    FAIL() << "bad col accepted";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(),
                 "to_block_tensors: edge 1 has row 0 col 4; expected row in [0, 2) and col 3");
  }
  bad = b;
  bad.dt.pop_back();
  EXPECT_THROW(to_block_tensors(bad, torch::kCPU), InternalError);
}

TEST(AttentionEmbedding, TwoLayersConsumeTheOutermostBlockFirst) {
  // blocks[0]: 2 batch roots, 3 edges -> 5 nodes; blocks[1]: those 5 nodes as roots, 4 edges.
  const std::vector<BlockTensors> blocks = {
      to_block_tensors(make_block(2, {0, 1, 1}), torch::kCPU),
      to_block_tensors(make_block(5, {0, 2, 2, 4}), torch::kCPU)};
  AttentionEmbedding emb(2, kNode, kEdge, kTime, kOut, 2, 0.2, 0.2);
  emb->eval();
  const torch::Tensor h = torch::randn({blocks[1].num_nodes(), kNode});
  const torch::Tensor table = torch::randn({10, kEdge});
  const torch::Tensor z = emb->forward(h, blocks, table);
  ASSERT_EQ(z.sizes(), torch::IntArrayRef({2, kOut}));
  const torch::Tensor hidden =
      emb->layer(0)->forward(h, blocks[1], table.index_select(0, blocks[1].eid));
  const torch::Tensor expected =
      emb->layer(1)->forward(hidden, blocks[0], table.index_select(0, blocks[0].eid));
  EXPECT_TRUE(torch::equal(z, expected));

  try {
    emb->forward(h, {blocks[1], blocks[0]}, table);
    FAIL() << "broken chain accepted";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(),
                 "AttentionEmbedding::forward: blocks[1] has 2 roots but blocks[0] has 9 nodes");
  }
  EXPECT_THROW(emb->forward(h, {blocks[0]}, table), InternalError);
}

TEST(IdentityEmbedding, IsALayerNorm) {
  IdentityEmbedding id(4);
  const torch::Tensor z = id->forward(torch::tensor({{1.0f, 2.0f, 3.0f, 6.0f}}));
  // mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5.
  const double sd = std::sqrt(3.5 + 1e-5);
  expect_near(z[0], {-2.0 / sd, -1.0 / sd, 0.0, 3.0 / sd}, 1e-6);
}

TEST(JodieTimeProjection, ScalesByOnePlusProjectedRelativeTime) {
  JodieTimeProjection proj(3);
  const torch::Tensor h = torch::tensor({{1.0f, -2.0f, 0.5f}, {3.0f, 0.0f, 1.0f}});
  const torch::Tensor mem_ts = torch::tensor({10.0, 0.0}, torch::kDouble);
  const torch::Tensor t = torch::tensor({19.0, 4.0}, torch::kDouble);
  const torch::Tensor z = proj->forward(h, mem_ts, t);
  const Vec w = to_vec(proj->time_linear->weight);
  const Vec b = to_vec(proj->time_linear->bias);
  const double diff[2] = {(19.0 - 10.0) / 20.0, 4.0 / 5.0};
  for (std::int64_t i = 0; i < 2; ++i) {
    const Vec hv = to_vec(h[i]);
    Vec expected(3);
    for (std::size_t c = 0; c < 3; ++c) expected[c] = hv[c] * (1.0 + w[c] * diff[i] + b[c]);
    expect_near(z[i], expected, 1e-6);
  }
}

}  // namespace
}  // namespace disttgl::trainer::testing

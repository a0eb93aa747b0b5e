// Message direction of the temporal attention, end to end through TGNNModel (issue 14).
// A sampled edge (u -> v) in root v's block carries u's state INTO v: v's embedding must
// depend on u's memory, and u's embedding (when u is a root of its own) must not depend on
// v's. A peer codebase once aggregated into the wrong end of the edge. The tests perturb one
// node's memory row and watch which roots' embeddings (ModelOutputs::embeddings, the z fed
// to the edge predictor) move:
//  * reversed aggregation (neighbour <- root): root 0 no longer sees node 2, and root 2 starts
//    seeing node 0 -> caught by (a) and by (c);
//  * neighbours read from the wrong rows of the block (e.g. root rows instead of row
//    num_roots + e, or edges grouped under the wrong root) -> caught by (a) on the disjoint
//    lists and by (b);
//  * state leaking between roots (a reduction over the wrong axis) -> caught by (b) / the
//    exact dependency pattern.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "disttgl/trainer/model/tgnn_model.hpp"
#include "reference.hpp"

namespace disttgl::trainer {
namespace {

using Adjacency = std::map<std::int64_t, std::vector<std::int64_t>>;
using Pattern = std::vector<std::set<std::int64_t>>;  // per root: the node ids that reach it

constexpr std::int64_t kNodes = 10;
constexpr std::int64_t kMemoryDim = 6;
constexpr std::int64_t kRoots = 6;  // B = 2 positives, n = 1 negative: B * (2 + n)
// A perturbation that reaches a root moves it by far more than this; one that does not
// must leave it bit-for-bit equal (every op is row-local, so there is no rounding excuse).
// Smallest real change seen: 2.3e-5 (node 1, two hops from root 0, 2 layers, 1 head).
constexpr float kMinChange = 1e-6f;

// Root r is node r (roots [src 0, src 1, dst 2, dst 3, neg 4, neg 5]); every occurrence of
// node v in a block's node list samples kAdj[v].
//   root 0 samples {2, 6}; node 2 is root 2 too, and its own list {8} lacks 0   -> (c)
//   root 1 samples {7}, disjoint from root 0's list                             -> (a), (b)
//   root 3 samples nothing (a = 0); root 5 shares neighbour 6 with root 0.
// The second hop (2 layers) adds 6 -> 1 and 8 -> 3.
const Adjacency kAdj = {{0, {2, 6}}, {1, {7}}, {2, {8}}, {3, {}},  {4, {9}},
                        {5, {6, 9}}, {6, {1}}, {7, {}},  {8, {3}}, {9, {}}};

struct Fixture {
  ModelInputs inputs;
  Pattern expected;  // per root: its own node plus every node of its sampled tree
};

// Builds `layers` blocks in the sampler's layout (innermost first, node list [roots...,
// neighbour of each edge...], blocks[l + 1] rooted at every node of blocks[l]) and, from the
// same lists, the expected dependency sets by plain set unions.
Fixture make_fixture(std::int64_t layers, const Adjacency& adj) {
  Fixture f;
  std::vector<std::int64_t> list(kRoots);
  std::iota(list.begin(), list.end(), 0);
  std::vector<std::vector<std::int64_t>> rows;
  std::int64_t next_eid = 0;
  for (std::int64_t l = 0; l < layers; ++l) {
    const auto num_roots = static_cast<std::int64_t>(list.size());
    std::vector<std::int64_t> row;
    std::vector<std::int64_t> eid;
    std::vector<double> dt;
    for (std::int64_t i = 0; i < num_roots; ++i) {
      for (const std::int64_t v : adj.at(list[static_cast<std::size_t>(i)])) {
        row.push_back(i);
        eid.push_back(next_eid);
        dt.push_back(1.0 + 0.5 * static_cast<double>(next_eid++));
        list.push_back(v);
      }
    }
    BlockTensors b;
    b.num_roots = num_roots;
    b.row = torch::tensor(row, torch::kLong);
    b.eid = torch::tensor(eid, torch::kLong);
    b.dt = torch::tensor(dt, torch::kDouble);
    f.inputs.blocks.push_back(b);
    rows.push_back(row);
  }
  // Outermost node list: each position reads its own node; then each block, outermost first,
  // folds its edges' sets into their roots.
  std::vector<std::set<std::int64_t>> deps;
  for (const std::int64_t v : list) deps.push_back({v});
  for (std::int64_t l = layers - 1; l >= 0; --l) {
    const std::int64_t num_roots = f.inputs.blocks[static_cast<std::size_t>(l)].num_roots;
    std::vector<std::set<std::int64_t>> inner(deps.begin(), deps.begin() + num_roots);
    const auto& row = rows[static_cast<std::size_t>(l)];
    for (std::size_t e = 0; e < row.size(); ++e) {
      const auto& from = deps[static_cast<std::size_t>(num_roots) + e];
      inner[static_cast<std::size_t>(row[e])].insert(from.begin(), from.end());
    }
    deps = std::move(inner);
  }
  f.expected = deps;

  ModelInputs& in = f.inputs;
  in.num_positives = 2;
  in.num_negatives = 1;
  std::tie(in.unique_nodes, in.node_index) = unique_with_index(torch::tensor(list, torch::kLong));
  torch::manual_seed(11);
  // Mail-less rows: the GRU updater keeps them bit-for-bit, so s' = memory and a memory
  // perturbation is exactly a perturbation of that node's attention input.
  in.memory = MemoryRows::empty_rows(kNodes, 1, kMemoryDim, 2 * kMemoryDim, torch::kCPU);
  in.memory.memory = torch::randn({kNodes, kMemoryDim});
  in.edge_features = torch::randn({next_eid, 2});
  return f;
}

TGNNModel make_model(std::int64_t layers, std::int64_t heads) {
  ModelConfig c = ModelConfig::defaults(ModelKind::kTgn);
  c.memory_dim = kMemoryDim;
  c.time_dim = 3;
  // 8 wide: 1 head takes the input-space path of the layer, 2 heads the per-slot path.
  c.embedding_dim = 8;
  c.edge_feature_dim = 2;
  c.num_layers = layers;
  c.num_heads = heads;
  c.fanouts.assign(static_cast<std::size_t>(layers), 2);
  TGNNModel model(c);
  testing::randomize_parameters(*model, 5);  // fixed, non-trivial weights
  model->eval();                             // no dropout
  return model;
}

torch::Tensor embed(TGNNModel& model, const ModelInputs& in) {
  torch::NoGradGuard no_grad;
  return model->forward(in).embeddings;
}

// Per root: max |z' - z| after adding 1 to every entry of `node`'s memory row. [R] float.
torch::Tensor change(TGNNModel& model, const ModelInputs& in, const torch::Tensor& z,
                     std::int64_t node) {
  ModelInputs p = in;
  p.memory.memory = in.memory.memory.clone();
  p.memory.memory[node] += 1.0;  // unique slot == node id (checked by the callers)
  return (embed(model, p) - z).abs().amax(1);
}

// Which nodes' perturbation moves each root at all.
Pattern observed_pattern(TGNNModel& model, const ModelInputs& in) {
  const torch::Tensor z = embed(model, in);
  Pattern seen(kRoots);
  for (std::int64_t u = 0; u < kNodes; ++u) {
    const torch::Tensor d = change(model, in, z, u);
    for (std::int64_t r = 0; r < kRoots; ++r) {
      if (d[r].item<float>() != 0.0f) seen[static_cast<std::size_t>(r)].insert(u);
    }
  }
  return seen;
}

float at(const torch::Tensor& d, std::int64_t r) { return d[r].item<float>(); }

TEST(AttentionDirection, NeighbourMemoryReachesOnlyTheRootThatSampledIt) {
  for (const std::int64_t heads : {1, 2}) {
    SCOPED_TRACE("heads " + std::to_string(heads));
    const Fixture f = make_fixture(1, kAdj);
    ASSERT_TRUE(torch::equal(f.inputs.unique_nodes, torch::arange(kNodes, torch::kLong)));
    TGNNModel model = make_model(1, heads);
    const torch::Tensor z = embed(model, f.inputs);
    ASSERT_TRUE(torch::isfinite(z).all().item<bool>());

    // (a) Node 2 is a sampled neighbour of root 0: root 0 moves. Fails if the layer
    // aggregates into the neighbour instead of the root.
    const torch::Tensor d2 = change(model, f.inputs, z, 2);
    EXPECT_GT(at(d2, 0), kMinChange);
    EXPECT_TRUE(std::isfinite(at(d2, 0)));
    // (b) Roots 1, 3, 4, 5 neither are node 2 nor sampled it: bit-for-bit unchanged. Fails if
    // neighbour rows are taken from the wrong positions or leak across roots.
    for (const std::int64_t r : {1, 3, 4, 5}) EXPECT_EQ(at(d2, r), 0.0f) << "root " << r;

    // (c) Root 0 never reaches its neighbour: node 2 is root 2 with its own list {8}, so
    // perturbing root 0 leaves root 2 exactly as it was (while root 0 itself moves). Fails if
    // the message also (or only) flows root -> neighbour.
    const torch::Tensor d0 = change(model, f.inputs, z, 0);
    EXPECT_GT(at(d0, 0), kMinChange);
    EXPECT_EQ(at(d0, 2), 0.0f);
    for (const std::int64_t r : {1, 3, 4, 5}) EXPECT_EQ(at(d0, r), 0.0f) << "root " << r;

    // (a) through the sampled neighbour only: roots 0 and 1 have disjoint lists {2, 6} / {7}.
    // Fails if edges are grouped under the wrong root.
    const torch::Tensor d6 = change(model, f.inputs, z, 6);
    EXPECT_GT(at(d6, 0), kMinChange);
    EXPECT_EQ(at(d6, 1), 0.0f);
    const torch::Tensor d7 = change(model, f.inputs, z, 7);
    EXPECT_GT(at(d7, 1), kMinChange);
    EXPECT_TRUE(std::isfinite(at(d7, 1)));
    EXPECT_EQ(at(d7, 0), 0.0f);
  }
}

// Every node, every root, 1 and 2 layers: a root's embedding moves exactly for the nodes of
// its own sampled tree (by more than kMinChange) and is bit-for-bit unchanged otherwise.
TEST(AttentionDirection, EachMemoryRowReachesExactlyTheRootsWhoseSampledTreeHoldsIt) {
  for (const std::int64_t layers : {1, 2}) {
    for (const std::int64_t heads : {1, 2}) {
      SCOPED_TRACE("layers " + std::to_string(layers) + ", heads " + std::to_string(heads));
      const Fixture f = make_fixture(layers, kAdj);
      ASSERT_TRUE(torch::equal(f.inputs.unique_nodes, torch::arange(kNodes, torch::kLong)));
      // The fixture itself: node 1 is two hops from root 0 (0 -> 6 -> 1), node 0 never
      // reaches root 2, node 2 always reaches root 0.
      EXPECT_EQ(f.expected[0].count(1), layers == 2 ? 1u : 0u);
      EXPECT_EQ(f.expected[2].count(0), 0u);
      EXPECT_EQ(f.expected[0].count(2), 1u);

      TGNNModel model = make_model(layers, heads);
      const torch::Tensor z = embed(model, f.inputs);
      for (std::int64_t u = 0; u < kNodes; ++u) {
        const torch::Tensor d = change(model, f.inputs, z, u);
        for (std::int64_t r = 0; r < kRoots; ++r) {
          const float moved = at(d, r);
          if (f.expected[static_cast<std::size_t>(r)].count(u) > 0) {
            EXPECT_GT(moved, kMinChange) << "node " << u << " should reach root " << r;
            EXPECT_TRUE(std::isfinite(moved)) << "node " << u << ", root " << r;
          } else {
            EXPECT_EQ(moved, 0.0f) << "node " << u << " must not reach root " << r;
          }
        }
      }
    }
  }
}

// The checks above can fail: feeding the model the REVERSED edge (node 2 samples node 0
// instead of node 0 sampling node 2) is what a reversed aggregation computes, and its
// observed pattern differs from the forward fixture's expectation exactly at (a) and (c).
TEST(AttentionDirection, AReversedEdgeGivesADifferentPattern) {
  Adjacency reversed = kAdj;
  reversed[0] = {6};
  reversed[2] = {8, 0};
  const Fixture forward = make_fixture(1, kAdj);
  const Fixture backward = make_fixture(1, reversed);
  ASSERT_TRUE(torch::equal(backward.inputs.unique_nodes, torch::arange(kNodes, torch::kLong)));
  TGNNModel model = make_model(1, 2);
  EXPECT_EQ(observed_pattern(model, forward.inputs), forward.expected);
  const Pattern seen = observed_pattern(model, backward.inputs);
  EXPECT_EQ(seen, backward.expected);
  EXPECT_NE(seen, forward.expected);
  EXPECT_EQ(seen[0].count(2), 0u);  // (a) would fail
  EXPECT_EQ(seen[2].count(0), 1u);  // (c) would fail
}

}  // namespace
}  // namespace disttgl::trainer

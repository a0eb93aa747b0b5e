// DistTGL's static node memory in TGNNModel (use_static table or joint_static Embedding):
// the static rows are multiplied by static_known, so a node absent from the training split
// gets no static term, only its dynamic memory; static_map (and the joint rows) start at
// zero, so a fresh model is the dynamic-only one; static dropout acts in training only.
// The inputs are a small hand-made one-layer TGN batch (same approach as
// attention_direction_test.cpp): with mail-less memory rows the GRU keeps s' = memory, and
// every op is row-local, so an input that must not reach an output leaves it bit-for-bit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/model/loss.hpp"
#include "disttgl/trainer/model/tgnn_model.hpp"
#include "reference.hpp"

namespace disttgl::trainer {
namespace {

constexpr std::int64_t kNodes = 5;
constexpr std::int64_t kMemoryDim = 6;
constexpr std::int64_t kStaticDim = 4;
constexpr std::int64_t kA = 0;  // known node, root 0 (the positive's source)
constexpr std::int64_t kX = 2;  // node without a training event, root 2 (the negative)
constexpr float kMinChange = 1e-6f;

// Roots [src 0, dst 1, neg 2] (B = 1, n = 1); root 0 samples {2, 3}, root 1 samples {4}.
// X is a root and root 0's neighbour, so an unmasked static row of X reaches two roots.
// unique_nodes == arange(kNodes): a node's unique slot is its id.
ModelInputs make_inputs() {
  ModelInputs in;
  in.num_positives = 1;
  in.num_negatives = 1;
  BlockTensors b;
  b.num_roots = 3;
  b.row = torch::tensor(std::vector<std::int64_t>{0, 0, 1}, torch::kLong);
  b.eid = torch::tensor(std::vector<std::int64_t>{0, 1, 2}, torch::kLong);
  b.dt = torch::tensor(std::vector<double>{1.0, 2.0, 0.5}, torch::kDouble);
  in.blocks = {b};
  const std::vector<std::int64_t> list = {0, 1, 2, 2, 3, 4};  // roots, then one per edge
  std::tie(in.unique_nodes, in.node_index) = unique_with_index(torch::tensor(list, torch::kLong));
  torch::manual_seed(3);
  in.memory = MemoryRows::empty_rows(kNodes, 1, kMemoryDim, 2 * kMemoryDim, torch::kCPU);
  in.memory.memory = torch::randn({kNodes, kMemoryDim});
  in.edge_features = torch::randn({3, 2});
  in.static_memory = torch::randn({kNodes, kStaticDim});
  return in;
}

ModelConfig small_config() {
  ModelConfig c = ModelConfig::defaults(ModelKind::kTgn);
  c.memory_dim = kMemoryDim;
  c.time_dim = 3;
  c.embedding_dim = 8;
  c.edge_feature_dim = 2;
  c.num_heads = 2;
  c.fanouts = {2};
  c.dropout = 0.0;  // the only randomness left in training is the static dropout
  c.attention_dropout = 0.0;
  c.static_memory_dim = kStaticDim;
  c.num_nodes = kNodes;
  return c;
}

// Every node known except X (the training split's nodes).
std::vector<std::uint8_t> known_except_x() {
  std::vector<std::uint8_t> known(kNodes, 1);
  known[kX] = 0;
  return known;
}

torch::Tensor embed(TGNNModel& model, const ModelInputs& in) {
  torch::NoGradGuard no_grad;
  return model->forward(in).embeddings;
}

// `in` with node's static row replaced by `row` ([kStaticDim]).
ModelInputs with_static_row(const ModelInputs& in, std::int64_t node, const torch::Tensor& row) {
  ModelInputs p = in;
  p.static_memory = in.static_memory.clone();
  p.static_memory[node].copy_(row);
  return p;
}

ModelInputs shifted(const ModelInputs& in, std::int64_t node) {
  return with_static_row(in, node, in.static_memory[node] + 1.0);
}

float root_change(const torch::Tensor& a, const torch::Tensor& b, std::int64_t root) {
  return (a[root] - b[root]).abs().max().item<float>();
}

TEST(StaticMemory, UnknownNodeGetsNoStaticTerm) {
  ModelConfig c = small_config();
  c.use_static = true;
  TGNNModel model(c);
  testing::randomize_parameters(*model, 5);  // static_map is zero after construction
  model->eval();
  const ModelInputs in = make_inputs();

  // All nodes known (the default): X's row does reach X's embedding, so the exact-equality
  // checks below are not vacuous.
  const torch::Tensor z_all = embed(model, in);
  EXPECT_GT(root_change(embed(model, shifted(in, kX)), z_all, kX), kMinChange);

  model->set_static_known(known_except_x());
  const torch::Tensor z = embed(model, in);
  ASSERT_TRUE(torch::isfinite(z).all().item<bool>());
  EXPECT_GT(root_change(z, z_all, kX), kMinChange);  // the mask took effect
  // A known root still reads its own static row.
  EXPECT_GT(root_change(embed(model, shifted(in, kA)), z, kA), kMinChange);
  // X's row reaches no embedding at all (neither root 2 nor root 0, which samples X) ...
  EXPECT_TRUE(torch::equal(embed(model, shifted(in, kX)), z));
  // ... and X is treated exactly as if its static row were zero: dynamic memory only.
  EXPECT_TRUE(torch::equal(embed(model, with_static_row(in, kX, torch::zeros({kStaticDim}))), z));
}

TEST(StaticMemory, FreshModelIgnoresTheStaticTable) {
  ModelConfig c = small_config();
  c.use_static = true;
  TGNNModel model(c);
  model->eval();
  const auto& map = model->node_input->static_map;
  ASSERT_TRUE(map);
  EXPECT_EQ(map->weight.abs().max().item<float>(), 0.0f);
  EXPECT_EQ(map->bias.abs().max().item<float>(), 0.0f);
  // Two unrelated tables, one large: a zero static_map adds exactly 0 to s'.
  const ModelInputs in = make_inputs();
  ModelInputs other = in;
  other.static_memory = 100.0 * torch::randn({kNodes, kStaticDim}) + 3.0;
  const torch::Tensor z = embed(model, in);
  ASSERT_TRUE(torch::isfinite(z).all().item<bool>());
  EXPECT_TRUE(torch::equal(embed(model, other), z));
}

TEST(StaticMemory, JointRowsOfUnknownNodesStayZeroAfterATrainingStep) {
  ModelConfig c = small_config();
  c.joint_static = true;
  c.static_dropout = 0.0;
  torch::manual_seed(1);  // the default init of the rest of the model, whatever ran before
  TGNNModel model(c);
  ASSERT_TRUE(model->static_embedding);
  torch::Tensor w = model->static_embedding->embedding->weight;
  const torch::Tensor zero_row = torch::zeros({kStaticDim});
  ASSERT_TRUE(torch::equal(w, torch::zeros_like(w)));
  // A zero static_map would give every row a zero gradient; give it weights (only the
  // node_input module, so the joint rows stay at their zero start).
  testing::randomize_parameters(*model->node_input, 7);
  ASSERT_TRUE(torch::equal(w, torch::zeros_like(w)));
  model->set_static_known(known_except_x());
  model->train();
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(0.1));

  ModelInputs in = make_inputs();
  in.static_memory = torch::Tensor();  // joint_static reads its own rows
  const ModelOutputs out = model->forward(in);
  // The real loss: a plain pos - neg sum cancels the source's gradient when the predictor's
  // ReLU patterns of the two pairs coincide.
  link_prediction_loss(LossKind::kBinaryCrossEntropy, out.pos_logits, out.neg_logits).backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_GT(w.grad()[kA].abs().max().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(w.grad()[kX], zero_row));  // masked: no gradient reaches X
  adam.step();
  EXPECT_GT(w[kA].abs().max().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(w[kX].detach(), zero_row));
}

TEST(StaticMemory, StaticDropoutOnlyInTraining) {
  ModelConfig c = small_config();
  c.use_static = true;
  c.static_dropout = 0.5;
  TGNNModel model(c);
  testing::randomize_parameters(*model, 5);
  const ModelInputs in = make_inputs();
  const auto embed_with_seed = [&](std::uint64_t seed) {
    torch::manual_seed(seed);
    return embed(model, in);
  };
  model->train();
  EXPECT_FALSE(torch::equal(embed_with_seed(1), embed_with_seed(2)));
  model->eval();
  const torch::Tensor z = embed_with_seed(1);
  for (const std::uint64_t seed : {2, 3, 4}) EXPECT_TRUE(torch::equal(embed_with_seed(seed), z));
}

TEST(StaticMemory, SetStaticKnownRejectsAWrongLength) {
  ModelConfig c = small_config();
  c.use_static = true;
  TGNNModel model(c);
  try {
    model->set_static_known(std::vector<std::uint8_t>(3, 1));
    FAIL() << "expected InternalError";
  } catch (const InternalError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("3 flags"), std::string::npos) << what;
    EXPECT_NE(what.find("5 nodes"), std::string::npos) << what;
  }
  EXPECT_NO_THROW(model->set_static_known(known_except_x()));
}

std::string config_error(const ModelConfig& c) {
  try {
    c.validate();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no ConfigError";
}

TEST(StaticMemory, ValidateRejectsBadStaticSettings) {
  ModelConfig ok = small_config();
  ok.joint_static = true;
  ok.static_dropout = 0.5;
  EXPECT_NO_THROW(ok.validate());

  ModelConfig both = ok;
  both.use_static = true;
  EXPECT_EQ(config_error(both),
            "model.joint_static: cannot be combined with a static memory file or pre-training");

  ModelConfig always_dropped = ok;
  always_dropped.static_dropout = 1.0;
  EXPECT_EQ(config_error(always_dropped), "model.static_dropout: must be in [0, 1), got 1");
}

}  // namespace
}  // namespace disttgl::trainer

// TGNNModel assembly, the write-back stage and the sample -> gather -> compute -> write back
// pipeline over a LocalMemoryStore.
#include "disttgl/trainer/model/tgnn_model.hpp"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <tuple>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/local_memory_store.hpp"
#include "disttgl/trainer/model/loss.hpp"
#include "disttgl/trainer/model/write_back.hpp"

namespace disttgl::trainer {
namespace {

torch::Tensor i64(std::vector<std::int64_t> v) { return torch::tensor(v, torch::kLong); }
torch::Tensor f64(std::vector<double> v) { return torch::tensor(v, torch::kDouble); }

std::string config_error(const ModelConfig& c) {
  try {
    c.validate();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, DefaultsValidateAndBadFieldsAreNamed) {
  for (const ModelKind kind : {ModelKind::kTgn, ModelKind::kJodie, ModelKind::kApan}) {
    EXPECT_NO_THROW(ModelConfig::defaults(kind).validate()) << to_string(kind);
  }
  EXPECT_EQ(ModelConfig::defaults(ModelKind::kApan).mailbox_size, 10);
  ModelConfig c = ModelConfig::defaults(ModelKind::kTgn);
  c.num_heads = 3;
  EXPECT_EQ(config_error(c), "model.num_heads: 3 heads do not divide embedding_dim 100");
  c = ModelConfig::defaults(ModelKind::kJodie);
  c.num_layers = 1;
  c.fanouts = {10};
  EXPECT_EQ(config_error(c),
            "model.num_layers: jodie uses the identity embedding, so num_layers must be 0, got 1");
  c = ModelConfig::defaults(ModelKind::kTgn);
  c.fanouts = {10, 10};
  EXPECT_EQ(config_error(c), "model.fanouts: has 2 entries for 1 layers");
  c = ModelConfig::defaults(ModelKind::kTgn);
  c.dropout = 1.0;
  EXPECT_EQ(config_error(c), "model.dropout: must be in [0, 1), got 1");
  c = ModelConfig::defaults(ModelKind::kTgn);
  c.use_static = true;
  EXPECT_EQ(config_error(c), "model.static_memory_dim: must be >= 1 when use_static is set");
  c = ModelConfig::defaults(ModelKind::kApan);
  c.pretrain_static = true;
  c.num_nodes = 5;
  EXPECT_EQ(config_error(c), "model.pretrain_static: is only supported for kind tgn");
  try {
    parse_model_kind("tgat");
    FAIL() << "tgat accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "model.kind: unknown model 'tgat' (expected tgn, jodie or apan)");
  }
  EXPECT_EQ(parse_model_kind("jodie"), ModelKind::kJodie);
}

ModelConfig small_config(ModelKind kind) {
  ModelConfig c = ModelConfig::defaults(kind);
  c.memory_dim = 4;
  c.time_dim = 3;
  c.embedding_dim = 4;
  c.edge_feature_dim = 2;
  return c;
}

constexpr std::int64_t kNodes = 8;

// Batch: events (0 -> 5, t = 10, eid 2) and (1 -> 6, t = 11, eid 3), one negative each
// (3 and 7). Roots [0, 1, 5, 6, 3, 7]; root 0 sampled (5, eid 0) and (6, eid 1), root 2
// (node 5) sampled (0, eid 0).
struct Batch {
  TemporalBlock block;
  ModelInputs inputs;
};

Batch tgn_batch(MemoryStore& store, const torch::Tensor& edge_table, std::int64_t layers = 1) {
  Batch b;
  TemporalBlock& blk = b.block;
  blk.num_roots = 6;
  blk.nodes = {0, 1, 5, 6, 3, 7};
  blk.times = {10, 11, 10, 11, 10, 11};
  if (layers == 1) {
    blk.nodes.insert(blk.nodes.end(), {5, 6, 0});
    blk.times.insert(blk.times.end(), {5, 3, 5});
    blk.row = {0, 0, 2};
    blk.col = {6, 7, 8};
    blk.eid = {0, 1, 0};
    blk.dt = {5, 7, 5};
  }
  ModelInputs& in = b.inputs;
  in.num_positives = 2;
  in.num_negatives = 1;
  auto [unique, index] = unique_with_index(torch::tensor(blk.nodes, torch::kLong));
  in.unique_nodes = unique;
  in.node_index = index;
  in.memory = store.read(unique);
  in.blocks = {to_block_tensors(blk, torch::kCPU)};
  in.root_times = f64({10, 11, 10, 11, 10, 11});
  in.edge_features = edge_table;
  return b;
}

// A store where nodes 0, 5 and 6 already hold mails from earlier events 0 and 1.
LocalMemoryStore seeded_store(std::int64_t memory_dim, std::int64_t slots) {
  LocalMemoryStore store(LocalMemoryStoreOptions{kNodes, memory_dim, 2 * memory_dim, slots});
  torch::manual_seed(47);
  MemoryRows w = MemoryRows::empty_rows(3, 1, memory_dim, 2 * memory_dim, torch::kCPU);
  w.memory = torch::randn({3, memory_dim});
  w.memory_ts = f64({1, 2, 2});
  w.mail = torch::randn({3, 1, 2 * memory_dim});
  w.mail_ts = f64({5, 3, 5}).view({3, 1});
  w.mail_eid = i64({0, 1, 0}).view({3, 1});
  store.write(i64({0, 6, 5}), w);
  return store;
}

TEST(TGNNModel, TgnForwardComposesTheStages) {
  LocalMemoryStore store = seeded_store(4, 1);
  const torch::Tensor table = torch::randn({4, 2});
  Batch b = tgn_batch(store, table);
  TGNNModel model(small_config(ModelKind::kTgn));
  model->eval();
  const ModelOutputs out = model->forward(b.inputs);
  const std::int64_t u = b.inputs.unique_nodes.size(0);
  EXPECT_EQ(u, 6);
  EXPECT_EQ(out.pos_logits.sizes(), torch::IntArrayRef({2}));
  EXPECT_EQ(out.neg_logits.sizes(), torch::IntArrayRef({2, 1}));
  EXPECT_EQ(out.updated_memory.sizes(), torch::IntArrayRef({u, 4}));
  EXPECT_EQ(out.embeddings.sizes(), torch::IntArrayRef({6, 4}));

  const torch::Tensor s = model->memory_updater->forward(b.inputs.memory, table);
  EXPECT_TRUE(torch::equal(out.updated_memory, s));
  // Nodes 0, 5, 6 had mails, so their memory moved; 1, 3, 7 did not.
  const torch::Tensor moved = (s != b.inputs.memory.memory).any(1);
  EXPECT_TRUE(torch::equal(moved, torch::tensor({true, false, false, true, true, false})));
  EXPECT_TRUE(torch::equal(out.updated_memory_ts, f64({5, 0, 0, 5, 3, 0})));
  const torch::Tensor h =
      model->node_input->forward(s, {}, {}).index_select(0, b.inputs.node_index);
  const torch::Tensor z = model->attention->forward(h, b.inputs.blocks, table);
  EXPECT_TRUE(torch::equal(out.embeddings, z));
  const LinkLogits logits = model->predictor->forward(z, 2);
  EXPECT_TRUE(torch::equal(out.pos_logits, logits.pos));
  EXPECT_TRUE(torch::equal(out.neg_logits, logits.neg));
}

TEST(TGNNModel, ABatchsOwnEventsDoNotReachItsPredictions) {
  LocalMemoryStore store = seeded_store(4, 1);
  torch::manual_seed(53);
  const torch::Tensor table = torch::randn({4, 2});
  TGNNModel model(small_config(ModelKind::kTgn));
  model->eval();
  const ModelOutputs out = model->forward(tgn_batch(store, table).inputs);
  // The batch's own events are 2 and 3: changing their features changes nothing.
  torch::Tensor changed = table.clone();
  changed.slice(0, 2).normal_();
  const ModelOutputs out2 = model->forward(tgn_batch(store, changed).inputs);
  EXPECT_TRUE(torch::equal(out.pos_logits, out2.pos_logits));
  EXPECT_TRUE(torch::equal(out.neg_logits, out2.neg_logits));
  // Past event 0 is used (by the mails and the sampled edges).
  changed = table.clone();
  changed[0] += 1.0;
  const ModelOutputs out3 = model->forward(tgn_batch(store, changed).inputs);
  EXPECT_FALSE(torch::equal(out.pos_logits, out3.pos_logits));
}

TEST(WriteBack, BuildsInterleavedMailsFromUpdatedMemory) {
  LocalMemoryStore store = seeded_store(4, 1);
  Batch b = tgn_batch(store, torch::randn({4, 2}));
  TGNNModel model(small_config(ModelKind::kTgn));
  const ModelOutputs out = model->forward(b.inputs);
  const MemoryWrite w = make_memory_write(b.inputs, out, f64({10, 11}), i64({2, 3}));
  EXPECT_TRUE(torch::equal(w.nodes, i64({0, 5, 1, 6})));
  w.rows.check(4, 1, 4, 8, "test");
  EXPECT_FALSE(w.rows.memory.requires_grad());
  // unique = [0, 1, 3, 5, 6, 7]: slots of 0, 5, 1, 6 are 0, 3, 1, 4.
  const torch::Tensor s = out.updated_memory.detach();
  const std::vector<std::pair<std::int64_t, std::int64_t>> pairs = {{0, 3}, {3, 0}, {1, 4}, {4, 1}};
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    const auto [self, other] = pairs[k];
    const auto row = static_cast<std::int64_t>(k);
    EXPECT_TRUE(torch::equal(w.rows.memory[row], s[self]));
    EXPECT_TRUE(torch::equal(w.rows.mail[row][0], torch::cat({s[self], s[other]})));
    EXPECT_EQ(w.rows.memory_ts[row].item<double>(), out.updated_memory_ts[self].item<double>());
  }
  EXPECT_TRUE(torch::equal(w.rows.mail_ts.view({4}), f64({10, 10, 11, 11})));
  EXPECT_TRUE(torch::equal(w.rows.mail_eid.view({4}), i64({2, 2, 3, 3})));
}

// APAN's deliveries: the targets' rows come first with their own memory and the source
// endpoint row's mail, then the endpoint rows unchanged; a bad source is a caller bug.
TEST(WriteBack, DeliveriesPrecedeTheEndpointRowsWithTheSourcesMail) {
  MemoryWrite w;
  w.nodes = i64({0, 5, 1, 6});
  w.rows.memory = torch::randn({4, 4});
  w.rows.memory_ts = f64({1, 2, 3, 4});
  w.rows.mail = torch::randn({4, 1, 8});
  w.rows.mail_ts = f64({10, 10, 11, 11}).unsqueeze(1);
  w.rows.mail_eid = i64({2, 2, 3, 3}).unsqueeze(1);
  MailDeliveries d;
  d.nodes = i64({7, 2});
  d.source = i64({3, 0});
  d.memory = torch::randn({2, 4});
  d.memory_ts = f64({0.5, 0.25});
  const MemoryWrite out = with_deliveries(w, d);
  out.rows.check(6, 1, 4, 8, "test");
  EXPECT_TRUE(torch::equal(out.nodes, i64({7, 2, 0, 5, 1, 6})));
  EXPECT_TRUE(torch::equal(out.rows.memory, torch::cat({d.memory, w.rows.memory})));
  EXPECT_TRUE(torch::equal(out.rows.memory_ts, f64({0.5, 0.25, 1, 2, 3, 4})));
  EXPECT_TRUE(torch::equal(out.rows.mail[0], w.rows.mail[3]));
  EXPECT_TRUE(torch::equal(out.rows.mail[1], w.rows.mail[0]));
  EXPECT_TRUE(torch::equal(out.rows.mail.narrow(0, 2, 4), w.rows.mail));
  EXPECT_TRUE(torch::equal(out.rows.mail_ts.view({6}), f64({11, 10, 10, 10, 11, 11})));
  EXPECT_TRUE(torch::equal(out.rows.mail_eid.view({6}), i64({3, 2, 2, 2, 3, 3})));
  d.source = i64({4, 0});
  EXPECT_THROW(with_deliveries(w, d), InternalError);
}

TEST(Pipeline, MailsReachMemoryOnlyInTheNextBatch) {
  ModelConfig config = small_config(ModelKind::kTgn);
  config.edge_feature_dim = 0;
  TGNNModel model(config);
  model->eval();
  LocalMemoryStore store(LocalMemoryStoreOptions{kNodes, 4, 8, 1});
  auto run = [&](const std::vector<std::int64_t>& roots, std::int64_t b, const torch::Tensor& ts,
                 const torch::Tensor& eid) {
    TemporalBlock blk;
    blk.num_roots = static_cast<std::int64_t>(roots.size());
    blk.nodes = roots;
    blk.times.assign(roots.size(), 0.0);
    ModelInputs in;
    in.num_positives = b;
    in.num_negatives = 1;
    std::tie(in.unique_nodes, in.node_index) = unique_with_index(i64(roots));
    in.memory = store.read(in.unique_nodes);
    in.blocks = {to_block_tensors(blk, torch::kCPU)};
    const ModelOutputs out = model->forward(in);
    const MemoryWrite w = make_memory_write(in, out, ts, eid);
    store.write(w.nodes, w.rows);
    return out;
  };
  // Batch 1: (0 -> 5, t 1, eid 0), (1 -> 6, t 2, eid 1); negatives 3, 7. No mail yet, so
  // nothing moves: s' = 0.
  const ModelOutputs first = run({0, 1, 5, 6, 3, 7}, 2, f64({1, 2}), i64({0, 1}));
  EXPECT_TRUE(torch::equal(first.updated_memory, torch::zeros({6, 4})));
  MemoryRows r = store.read(i64({0, 6, 3}));
  EXPECT_TRUE(torch::equal(r.memory, torch::zeros({3, 4})));
  EXPECT_TRUE(torch::equal(r.memory_ts, f64({0, 0, 0})));
  EXPECT_TRUE(torch::equal(r.mail_ts.view({3}), f64({1, 2, 0})));
  EXPECT_TRUE(torch::equal(r.mail_eid.view({3}), i64({0, 1, -1})));  // negative 3: no mail

  // Batch 2: (0 -> 6, t 3, eid 2), negative 7. Nodes 0 and 6 consume their batch-1 mails.
  const ModelOutputs second = run({0, 6, 7}, 1, f64({3}), i64({2}));
  const torch::Tensor s0 = second.updated_memory[0];  // unique = [0, 6, 7]
  const torch::Tensor s6 = second.updated_memory[1];
  EXPECT_GT(s0.abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(second.updated_memory[2], torch::zeros({4})));
  EXPECT_TRUE(torch::equal(second.updated_memory_ts, f64({1, 2, 0})));
  r = store.read(i64({0, 6}));
  EXPECT_TRUE(torch::equal(r.memory[0], s0));
  EXPECT_TRUE(torch::equal(r.memory_ts, f64({1, 2})));  // mem_ts <- consumed mail_ts
  EXPECT_TRUE(torch::equal(r.mail[0][0], torch::cat({s0, s6})));
  EXPECT_TRUE(torch::equal(r.mail[1][0], torch::cat({s6, s0})));
  EXPECT_TRUE(torch::equal(r.mail_ts.view({2}), f64({3, 3})));
  EXPECT_TRUE(torch::equal(r.mail_eid.view({2}), i64({2, 2})));
}

TEST(TGNNModel, JodieUsesTheTimeProjectionOfTheNormalisedMemory) {
  LocalMemoryStore store = seeded_store(4, 1);
  const torch::Tensor table = torch::randn({4, 2});
  Batch b = tgn_batch(store, table, 0);
  b.inputs.blocks.clear();
  TGNNModel model(small_config(ModelKind::kJodie));
  model->eval();
  const ModelOutputs out = model->forward(b.inputs);
  const torch::Tensor s = model->memory_updater->forward(b.inputs.memory, table);
  const torch::Tensor z = model->jodie_projection->forward(
      model->identity->forward(s.index_select(0, b.inputs.node_index)),
      out.updated_memory_ts.index_select(0, b.inputs.node_index), b.inputs.root_times);
  EXPECT_TRUE(torch::equal(out.embeddings, z));
  EXPECT_EQ(out.neg_logits.sizes(), torch::IntArrayRef({2, 1}));
}

TEST(TGNNModel, ApanReadsTheWholeMailbox) {
  LocalMemoryStore store = seeded_store(4, 10);
  Batch b = tgn_batch(store, torch::randn({4, 2}), 0);
  b.inputs.blocks.clear();
  TGNNModel model(small_config(ModelKind::kApan));
  model->eval();
  EXPECT_EQ(b.inputs.memory.slots(), 10);
  const ModelOutputs out = model->forward(b.inputs);
  EXPECT_EQ(out.embeddings.sizes(), torch::IntArrayRef({6, 4}));
  EXPECT_TRUE(torch::isfinite(out.pos_logits).all().item<bool>());
  // Mail-less nodes (1, 3, 7 at unique slots 1, 2, 5) keep their memory.
  EXPECT_TRUE(torch::equal(out.updated_memory[1], b.inputs.memory.memory[1]));
}

TEST(TGNNModel, StaticMemoryIsAddedThroughALinearMap) {
  ModelConfig c = small_config(ModelKind::kTgn);
  c.use_static = true;
  c.static_memory_dim = 5;
  LocalMemoryStore store = seeded_store(4, 1);
  Batch b = tgn_batch(store, torch::randn({4, 2}));
  TGNNModel model(c);
  try {
    model->forward(b.inputs);
    FAIL() << "missing static memory accepted";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(),
                 "TGNNModel::forward: inputs.static_memory must be Float [6, 5], got undefined");
  }
  b.inputs.static_memory = torch::randn({6, 5});
  const ModelOutputs out = model->forward(b.inputs);
  link_prediction_loss(LossKind::kSoftmaxCrossEntropy, out.pos_logits, out.neg_logits).backward();
  EXPECT_GT(model->node_input->static_map->weight.grad().abs().sum().item<float>(), 0.0f);
}

TEST(TGNNModel, PretrainStaticTrainsAnEmbeddingInsteadOfTheMemory) {
  ModelConfig c = small_config(ModelKind::kTgn);
  c.pretrain_static = true;
  c.num_nodes = kNodes;
  LocalMemoryStore store = seeded_store(4, 1);
  Batch b = tgn_batch(store, torch::randn({4, 2}));
  b.inputs.memory = MemoryRows{};  // not needed
  TGNNModel model(c);
  EXPECT_EQ(model->memory_updater, nullptr);
  const ModelOutputs out = model->forward(b.inputs);
  EXPECT_FALSE(out.updated_memory.defined());
  link_prediction_loss(LossKind::kBinaryCrossEntropy, out.pos_logits, out.neg_logits).backward();
  const torch::Tensor grad = model->static_embedding->table().grad();
  const torch::Tensor touched = (grad != 0).any(1);  // unique nodes 0, 1, 3, 5, 6, 7
  EXPECT_TRUE(
      torch::equal(touched, torch::tensor({true, true, false, true, false, true, true, true})));
  EXPECT_THROW(make_memory_write(b.inputs, out, f64({10, 11}), i64({2, 3})), InternalError);
}

TEST(TGNNModel, RejectsInputsThatDoNotMatchTheConfig) {
  LocalMemoryStore store = seeded_store(4, 1);
  Batch b = tgn_batch(store, torch::randn({4, 2}));
  TGNNModel model(small_config(ModelKind::kTgn));
  ModelInputs in = b.inputs;
  in.blocks.clear();
  try {
    model->forward(in);
    FAIL() << "missing block accepted";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(), "TGNNModel::forward: 0 blocks given, the tgn model needs 1");
  }
  in = b.inputs;
  in.num_negatives = 2;
  EXPECT_THROW(model->forward(in), InternalError);
  in = b.inputs;
  in.node_index = in.node_index.slice(0, 0, 6);
  EXPECT_THROW(model->forward(in), InternalError);
  in = b.inputs;
  in.edge_features = torch::Tensor();
  EXPECT_THROW(model->forward(in), InternalError);
}

ModelInputs to_device(const ModelInputs& in, const torch::Device& device) {
  ModelInputs out = in;
  out.unique_nodes = in.unique_nodes.to(device);
  out.memory = in.memory.to(device);
  out.node_index = in.node_index.to(device);
  for (BlockTensors& b : out.blocks) {
    b.row = b.row.to(device);
    b.dt = b.dt.to(device);
    b.eid = b.eid.to(device);
  }
  out.root_times = in.root_times.to(device);
  out.edge_features = in.edge_features.to(device);
  return out;
}

TEST(TGNNModelCuda, ForwardBackwardAndWriteBackMatchTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device gpu(torch::kCUDA, 0);
  LocalMemoryStore store = seeded_store(4, 1);
  const torch::Tensor table = torch::randn({4, 2});
  Batch b = tgn_batch(store, table);
  TGNNModel model(small_config(ModelKind::kTgn));
  model->eval();
  const ModelOutputs cpu = model->forward(b.inputs);
  model->to(gpu);
  const ModelInputs in = to_device(b.inputs, gpu);
  const ModelOutputs out = model->forward(in);
  EXPECT_TRUE(torch::allclose(out.pos_logits.cpu(), cpu.pos_logits, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(out.neg_logits.cpu(), cpu.neg_logits, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(out.updated_memory.cpu(), cpu.updated_memory, 1e-4, 1e-5));
  link_prediction_loss(LossKind::kSoftmaxCrossEntropy, out.pos_logits, out.neg_logits).backward();
  EXPECT_TRUE(model->predictor->out_fc->weight.grad().is_cuda());

  // Write-back through the CUDA kernels lands where the CPU path puts it.
  LocalMemoryStore gpu_store(LocalMemoryStoreOptions{kNodes, 4, 8, 1, gpu});
  const MemoryWrite w = make_memory_write(in, out, f64({10, 11}).to(gpu), i64({2, 3}).to(gpu));
  gpu_store.write(w.nodes, w.rows);
  const MemoryWrite wc = make_memory_write(b.inputs, cpu, f64({10, 11}), i64({2, 3}));
  store.write(wc.nodes, wc.rows);
  const torch::Tensor all = torch::arange(kNodes, torch::kLong);
  const MemoryRows a = store.read(all);
  const MemoryRows g = gpu_store.read(all).to(torch::kCPU);
  const torch::Tensor written = i64({0, 1, 5, 6});
  EXPECT_TRUE(torch::allclose(g.memory.index_select(0, written), a.memory.index_select(0, written),
                              1e-4, 1e-5));
  EXPECT_TRUE(
      torch::equal(g.mail_eid.index_select(0, written), a.mail_eid.index_select(0, written)));
  EXPECT_TRUE(torch::equal(g.mail_ts.index_select(0, written), a.mail_ts.index_select(0, written)));
}

}  // namespace
}  // namespace disttgl::trainer

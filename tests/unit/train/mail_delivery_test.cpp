// APAN's mail delivery to temporal neighbours (memory.deliver_to: neighbors, TGL's
// deliver_to: neighbors; write_back.hpp) on a hand-made graph with exact values, and one
// epoch of it through the real Trainer.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "disttgl/trainer/data/import.hpp"
#include "disttgl/trainer/memory/local_memory_store.hpp"
#include "disttgl/trainer/model/tgnn_model.hpp"
#include "disttgl/trainer/sampler/tcsr.hpp"
#include "disttgl/trainer/train/config.hpp"
#include "disttgl/trainer/train/pipeline.hpp"
#include "disttgl/trainer/train/trainer.hpp"
#include "pipeline_rig.hpp"
#include "train_test_util.hpp"

namespace disttgl::trainer {
namespace {

using test::PipelineRig;
using test::random_graph;
using test::slot_of;

// Batch 1 (history): e0 0->1 t=1, e1 2->3 t=2, e2 0->3 t=2.5, e3 4->1 t=3.
// Batch 2: e4 1->2 t=4, e5 3->5 t=5. Negatives are node 6 only; node 7 has no event.
// Batch 2's deliveries (recent, strictly earlier): root 1 -> {0 (e0), 4 (e3)}; root 2 -> {3},
// but 3 is an endpoint (e5); root 3 -> {0 (e2), 2}, 2 an endpoint; root 5 -> none.
// So node 4 gets e4's src mail and node 0 gets e5's src mail (its last delivery).
// Batch 1 delivers nothing: every neighbour found there is an endpoint of the batch.
Dataset hand_graph() {
  Dataset d;
  d.name = "hand";
  d.num_nodes = 8;
  d.num_src_nodes = 8;
  d.src = {0, 2, 0, 4, 1, 3};
  d.dst = {1, 3, 3, 1, 2, 5};
  d.ts = {1.0, 2.0, 2.5, 3.0, 4.0, 5.0};
  d.label.assign(d.ts.size(), 0);
  d.split.train_end = d.num_events();
  d.split.val_end = d.num_events();
  return d;
}

// APAN (mailbox 10, no GNN blocks) delivering to itself only or to its temporal neighbours.
ModelConfig apan(DeliverTo deliver_to) {
  auto c = ModelConfig::defaults(ModelKind::kApan);
  c.deliver_to = deliver_to;
  return c;
}

void expect_rows_equal(const MemoryRows& a, const MemoryRows& b, const std::string& what) {
  EXPECT_TRUE(torch::equal(a.memory, b.memory)) << what;
  EXPECT_TRUE(torch::equal(a.memory_ts, b.memory_ts)) << what;
  EXPECT_TRUE(torch::equal(a.mail, b.mail)) << what;
  EXPECT_TRUE(torch::equal(a.mail_ts, b.mail_ts)) << what;
  EXPECT_TRUE(torch::equal(a.mail_eid, b.mail_eid)) << what;
}

TEST(MailDelivery, PlanKeepsEachNonEndpointNeighbourAtItsLastDelivery) {
  TemporalBlock b;
  b.num_roots = 4;  // endpoints src_0 = 1, dst_0 = 2, src_1 = 3, dst_1 = 5
  b.nodes = {1, 2, 3, 5, /*edges:*/ 0, 4, 3, 0, 2, 0};
  b.row = {0, 0, 1, 2, 2, 2};
  b.col = {4, 5, 6, 7, 8, 9};
  b.eid = {0, 3, 1, 2, 1, 0};
  b.dt = {3, 1, 2, 2.5, 3, 4};
  b.times.assign(b.nodes.size(), 0.0);
  const MailDeliveries d = plan_mail_deliveries(b);
  // 3 and 2 are endpoints; 0's last edge is e = 5 (root 2), 4's is e = 1 (root 0).
  EXPECT_TRUE(torch::equal(d.nodes, torch::tensor({4, 0}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(d.source, torch::tensor({0, 2}, torch::kInt64)));
}

TEST(MailDelivery, NeighboursGetTheRootsMailAndKeepTheirMemory) {
  PipelineRig self(hand_graph(), 6, 7, apan(DeliverTo::kSelf));
  PipelineRig nbr(hand_graph(), 6, 7, apan(DeliverTo::kNeighbors));
  self.step(0, 4);
  auto [first, first_out] = nbr.step(0, 4);
  EXPECT_EQ(first.delivery.nodes.numel(), 0) << "batch 1's neighbours are all endpoints";
  std::vector<MemoryRows> before;
  for (NodeId v = 0; v < 8; ++v) {
    before.push_back(nbr.row(v));
    expect_rows_equal(before.back(), self.row(v), "after batch 1, node " + std::to_string(v));
  }
  self.step(4, 6);
  auto [batch, out] = nbr.step(4, 6);
  // The model saw only the roots (APAN has no GNN blocks): the same inputs as with self.
  EXPECT_TRUE(
      torch::equal(batch.inputs.unique_nodes, torch::tensor({1, 2, 3, 5, 6}, torch::kInt64)));
  EXPECT_TRUE(batch.inputs.blocks.empty());

  const auto& s = out.updated_memory;
  const auto& u = batch.inputs.unique_nodes;
  const auto mail_of = [&](NodeId a, NodeId b) {
    return torch::cat({s[slot_of(u, a)], s[slot_of(u, b)]});
  };
  // {node, expected newest mail, its time, its event}
  struct Expect {
    NodeId node;
    torch::Tensor mail;
    double ts;
    std::int64_t eid;
  };
  for (const Expect& e : {Expect{4, mail_of(1, 2), 4.0, 4}, Expect{0, mail_of(3, 5), 5.0, 5}}) {
    const std::string what = "neighbour " + std::to_string(e.node);
    const MemoryRows r = nbr.row(e.node);
    const MemoryRows& b = before[static_cast<std::size_t>(e.node)];
    EXPECT_TRUE(torch::equal(r.memory, b.memory)) << what;
    EXPECT_TRUE(torch::equal(r.memory_ts, b.memory_ts)) << what;
    EXPECT_TRUE(torch::equal(r.mail[0][9], e.mail)) << what;
    EXPECT_EQ(r.mail_ts[0][9].item<double>(), e.ts) << what;
    EXPECT_EQ(r.mail_eid[0][9].item<std::int64_t>(), e.eid) << what;
    // The older mails moved up one slot, none lost (mailbox of 10, fewer than 10 mails).
    EXPECT_TRUE(torch::equal(r.mail.narrow(1, 0, 9), b.mail.narrow(1, 1, 9))) << what;
    EXPECT_TRUE(torch::equal(r.mail_eid.narrow(1, 0, 9), b.mail_eid.narrow(1, 1, 9))) << what;
  }
  // Endpoints (2 and 3 are also neighbours) are written exactly as with deliver_to self.
  for (const NodeId v : {1, 2, 3, 5}) {
    expect_rows_equal(nbr.row(v), self.row(v), "endpoint " + std::to_string(v));
  }
  EXPECT_EQ(nbr.row(3).mail_eid[0][9].item<std::int64_t>(), 5) << "3's own event e5";
  // Node 6 (the negative) and node 7 (no event) are no one's neighbour: untouched.
  for (const NodeId v : {6, 7}) {
    expect_rows_equal(nbr.row(v), before[static_cast<std::size_t>(v)], "node " + std::to_string(v));
    EXPECT_EQ(nbr.row(v).mail_eid[0][9].item<std::int64_t>(), -1);
  }
  // With self, the neighbours' rows did not change.
  expect_rows_equal(self.row(4), before[4], "self: node 4");
  expect_rows_equal(self.row(0), before[0], "self: node 0");
}

// One APAN epoch through the real Trainer: finite loss, identical at pipeline depth 0 and 1,
// and different from deliver_to self (the deliveries reach the model through the mailboxes).
TEST(MailDelivery, OneApanEpochThroughTheTrainerAtDepthZeroAndOne) {
  namespace fs = std::filesystem;
  const auto ds = random_graph(60, 1200, 3);
  std::vector<double> losses;
  for (const auto& [deliver, depth] :
       std::vector<std::pair<std::string, int>>{{"neighbors", 0}, {"neighbors", 1}, {"self", 0}}) {
    auto cfg = parse_config("model: apan\nmemory:\n  deliver_to: " + deliver + "\n", "test");
    cfg.runtime.device = "cpu";
    cfg.optim.epochs = 1;
    cfg.optim.batch_size = 100;
    cfg.optim.patience = 0;
    const fs::path dir =
        fs::temp_directory_path() / ("disttgl_mail_delivery_" + std::to_string(::getpid()) + "_" +
                                     deliver + std::to_string(depth));
    fs::remove_all(dir);
    RunOptions opt;
    opt.output_dir = dir.string();
    opt.threads = 1;
    opt.seed = 2;
    opt.pipeline_depth = depth;
    const EvalMetrics test = Trainer(ds, cfg, opt).fit();
    EXPECT_TRUE(std::isfinite(test.ap));
    std::ifstream in(dir / "metrics.jsonl");
    std::string line;
    ASSERT_TRUE(std::getline(in, line)) << deliver << " depth " << depth;
    const double loss = nlohmann::json::parse(line)["loss"].get<double>();
    EXPECT_TRUE(std::isfinite(loss)) << deliver << " depth " << depth;
    losses.push_back(loss);
    fs::remove_all(dir);
  }
  EXPECT_EQ(losses[0], losses[1]) << "deliveries must not depend on the pipeline depth";
  EXPECT_NE(losses[0], losses[2]) << "deliver_to neighbors changed nothing";
}

}  // namespace
}  // namespace disttgl::trainer

// Memory semantics of the stage pipeline (disttgl.md §3.2) on hand-made graphs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>

#include "disttgl/common/error.hpp"

#include "disttgl/trainer/memory/local_memory_store.hpp"
#include "disttgl/trainer/model/tgnn_model.hpp"
#include "disttgl/trainer/sampler/tcsr.hpp"
#include "disttgl/trainer/train/pipeline.hpp"
#include "pipeline_rig.hpp"

namespace disttgl::trainer {
namespace {

Dataset make_dataset(std::vector<NodeId> src, std::vector<NodeId> dst, std::vector<Timestamp> ts,
                     std::int64_t num_nodes) {
  Dataset d;
  d.name = "hand";
  d.num_nodes = num_nodes;
  d.num_src_nodes = num_nodes;
  d.src = std::move(src);
  d.dst = std::move(dst);
  d.ts = std::move(ts);
  d.label.assign(d.ts.size(), 0);
  d.split.train_end = d.num_events();
  d.split.val_end = d.num_events();
  return d;
}

using test::PipelineRig;
using test::slot_of;

void expect_rows_equal(const MemoryRows& a, const MemoryRows& b) {
  EXPECT_TRUE(torch::equal(a.memory, b.memory));
  EXPECT_TRUE(torch::equal(a.memory_ts, b.memory_ts));
  EXPECT_TRUE(torch::equal(a.mail, b.mail));
  EXPECT_TRUE(torch::equal(a.mail_ts, b.mail_ts));
  EXPECT_TRUE(torch::equal(a.mail_eid, b.mail_eid));
}

// Node 0 gets a mail in batch 1 (event 0 -> 1 at t=1) and in batch 2 (event 1 -> 2 at t=2) is
// only a sampled temporal neighbour of root 1; negatives are drawn from {2} only.
TEST(PipelineSemantics, NeighbourUsesUpdatedMemoryButIsNotWritten) {
  PipelineRig rig(make_dataset({0, 1}, {1, 2}, {1.0, 2.0}, 3), 2, 3);
  rig.step(0, 1);
  const auto node0 = torch::tensor({0}, torch::kInt64);
  const MemoryRows stored = rig.store.read(node0);
  ASSERT_EQ(stored.mail_eid[0][0].item<std::int64_t>(), 0) << "batch 1 left a mail for node 0";

  auto [batch, out] = rig.step(1, 2);
  // Node 0 is in the batch's node set only as root 1's neighbour.
  const auto slot = slot_of(batch.inputs.unique_nodes, 0);
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = rig.model->memory_updater->forward(stored, batch.inputs.edge_features);
  }
  // Not bit-exact: the batch runs the GRU over all its nodes, this check over one row, and
  // MKL picks its GEMM kernel by row count (on AVX-512 machines the last bits differ). The
  // alternatives (stale memory, a zero row) are off by far more than 1e-5.
  const double diff = (out.updated_memory[slot] - expected[0]).abs().max().item<double>();
  EXPECT_LE(diff, 1e-5) << "memory used in batch 2 = updater applied to the batch-1 mail";
  EXPECT_FALSE(torch::equal(expected[0], stored.memory[0])) << "the mail changed the memory";
  expect_rows_equal(rig.store.read(node0), stored);  // neighbours are never written back
}

// (1,2,t=1), (2,3,t=2), (3,1,t=3) in one batch, ids shifted to 0..2: every node is written
// once, with its chronologically last event.
TEST(PipelineSemantics, CyclicBatchWritesEachNodeAtItsLatestEvent) {
  PipelineRig rig(make_dataset({0, 1, 2}, {1, 2, 0}, {1.0, 2.0, 3.0}, 3), 0, 3);
  auto [batch, out] = rig.step(0, 3);
  const auto rows = rig.store.read(torch::tensor({0, 1, 2}, torch::kInt64));
  // Latest event of node 0 (=1): event 2 as dst; node 1 (=2): event 1 as src; node 2: event 2.
  EXPECT_TRUE(torch::equal(rows.mail_eid.flatten(), torch::tensor({2, 1, 2}, torch::kInt64)));
  EXPECT_EQ(rows.mail_ts[0][0].item<double>(), 3.0);
  EXPECT_EQ(rows.mail_ts[1][0].item<double>(), 2.0);
  EXPECT_EQ(rows.mail_ts[2][0].item<double>(), 3.0);
  const auto s = out.updated_memory;
  const auto u = batch.inputs.unique_nodes;
  // dst of event 2 (node 0) gets [s'_dst || s'_src] = [s'_0 || s'_2].
  const auto expect0 = torch::cat({s[slot_of(u, 0)], s[slot_of(u, 2)]});
  EXPECT_TRUE(torch::equal(rows.mail[0][0], expect0));
  // src of event 1 (node 1) gets [s'_1 || s'_2].
  const auto expect1 = torch::cat({s[slot_of(u, 1)], s[slot_of(u, 2)]});
  EXPECT_TRUE(torch::equal(rows.mail[1][0], expect1));
  // Memory <- s' (no mail was pending, so s' is the initial zero memory).
  EXPECT_TRUE(torch::equal(rows.memory, torch::zeros({3, 100})));
}

}  // namespace
}  // namespace disttgl::trainer

namespace disttgl::trainer {
namespace {

// The pipeline's prefetcher hands batches over in order at every depth, never runs more than
// `depth` ahead, and surfaces a producer's failure at the batch where it happened.
TEST(BatchPrefetcher, DeliversInOrderStaysWithinDepthAndRethrowsAtTheFailingBatch) {
  for (const int depth : {0, 1, 3}) {
    std::atomic<std::int64_t> produced{0};
    std::atomic<std::int64_t> taken{0};
    std::atomic<std::int64_t> max_ahead{0};
    BatchPrefetcher prefetch(6, depth, [&](std::int64_t i) {
      if (i == 4) throw InputError("batch 4 is broken");
      const std::int64_t ahead = ++produced - taken.load();
      max_ahead = std::max(max_ahead.load(), ahead);
      GatheredBatch b;
      b.logical_batch = 100 + i;
      return b;
    });
    for (std::int64_t i = 0; i < 4; ++i) {
      const GatheredBatch b = prefetch.next();
      ++taken;
      EXPECT_EQ(b.logical_batch, 100 + i) << "depth " << depth;
    }
    try {
      prefetch.next();
      FAIL() << "the producer's failure was not rethrown at depth " << depth;
    } catch (const InputError& e) {
      EXPECT_STREQ(e.what(), "batch 4 is broken");
    }
    // The queue holds at most `depth`, plus the batch the consumer is taking.
    EXPECT_LE(max_ahead.load(), depth + 1) << "depth " << depth;
  }
}

}  // namespace
}  // namespace disttgl::trainer

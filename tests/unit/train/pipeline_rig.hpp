// The stage pipeline on a hand-made dataset for the memory-semantics tests: sample -> gather
// -> compute -> write back into a LocalMemoryStore on the CPU, one batch at a time, with the
// model in eval mode (no dropout: outputs are functions of the inputs).
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <utility>

#include "disttgl/trainer/memory/local_memory_store.hpp"
#include "disttgl/trainer/model/tgnn_model.hpp"
#include "disttgl/trainer/sampler/tcsr.hpp"
#include "disttgl/trainer/train/pipeline.hpp"

namespace disttgl::test {

struct PipelineRig {
  trainer::Dataset ds;
  trainer::TCSR graph;
  std::unique_ptr<trainer::TemporalSampler> sampler;  // recent 10
  trainer::NegativeSampler negatives;
  trainer::LocalMemoryStore store;
  trainer::TGNNModel model{nullptr};
  trainer::SampleStage sample;
  trainer::GatherStage gather;

  /// Negatives are drawn from [neg_lo, neg_hi]; `config` gets num_nodes from `d`, and gives the
  /// mailbox size. The sampler feeds the stage as in the Trainer: the GNN blocks for TGN, the
  /// mail deliveries with deliver_to neighbors, nothing otherwise. Weights are seeded (7), so
  /// two rigs with the same config start alike.
  PipelineRig(
      trainer::Dataset d, NodeId neg_lo, NodeId neg_hi,
      trainer::ModelConfig config = trainer::ModelConfig::defaults(trainer::ModelKind::kTgn))
      : ds(std::move(d)),
        graph(trainer::TCSR::build(ds)),
        sampler(std::make_unique<trainer::TemporalSampler>(graph, trainer::SamplerOptions{})),
        negatives(neg_lo, neg_hi),
        store(trainer::LocalMemoryStoreOptions{ds.num_nodes, 100, 200, config.mailbox_size,
                                               torch::kCPU}),
        sample(ds, blocks_sampler(config), negatives, delivery_sampler(config)),
        gather(&store, trainer::feature_tables(ds), torch::kCPU) {
    torch::manual_seed(7);
    config.num_nodes = ds.num_nodes;
    model = trainer::TGNNModel(config);
    model->eval();
  }

  /// One batch of events [begin, end) through sample -> gather -> compute -> write back.
  std::pair<trainer::GatheredBatch, trainer::ModelOutputs> step(std::int64_t begin,
                                                                std::int64_t end) {
    torch::NoGradGuard no_grad;
    auto batch =
        gather.run(sample.run(begin, end, trainer::BatchDraws{{trainer::NegativeSet{}}, 0}),
                   store.next_batch());
    gather.await_memory(batch);
    auto out = model->forward(batch.inputs);
    trainer::write_back(&store, batch, out);
    return {std::move(batch), std::move(out)};
  }

  /// Node v's stored row.
  trainer::MemoryRows row(NodeId v) { return store.read(torch::tensor({v}, torch::kInt64)); }

 private:
  static bool delivers(const trainer::ModelConfig& c) {
    return c.deliver_to == trainer::DeliverTo::kNeighbors;
  }
  const trainer::TemporalSampler* blocks_sampler(const trainer::ModelConfig& c) const {
    return c.kind == trainer::ModelKind::kTgn && !delivers(c) ? sampler.get() : nullptr;
  }
  const trainer::TemporalSampler* delivery_sampler(const trainer::ModelConfig& c) const {
    return delivers(c) ? sampler.get() : nullptr;
  }
};

/// The slot of `node` in a batch's unique node list (expected exactly once).
inline std::int64_t slot_of(const torch::Tensor& unique, NodeId node) {
  const auto hits = (unique == node).nonzero();
  EXPECT_EQ(hits.size(0), 1);
  return hits[0][0].item<std::int64_t>();
}

}  // namespace disttgl::test

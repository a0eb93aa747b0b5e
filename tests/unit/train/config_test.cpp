#include "disttgl/trainer/train/config.hpp"

#include <gtest/gtest.h>

#include <string>

#include "disttgl/common/error.hpp"
#include "train_test_util.hpp"

namespace disttgl::trainer {
namespace {

using test::error_of;

TEST(Config, ShippedConfigsCarryTglDefaults) {
  const auto tgn = load_config(std::string(DISTTGL_SOURCE_DIR) + "/configs/tgn.yaml");
  EXPECT_EQ(tgn.model.kind, ModelKind::kTgn);
  EXPECT_EQ(tgn.optim.batch_size, 600);
  EXPECT_DOUBLE_EQ(tgn.optim.lr, 1e-4);
  EXPECT_EQ(tgn.model.memory_dim, 100);
  EXPECT_EQ(tgn.model.embedding_dim, 100);
  EXPECT_DOUBLE_EQ(tgn.model.dropout, 0.2);
  EXPECT_EQ(tgn.model.fanouts, std::vector<int>{10});
  EXPECT_EQ(tgn.model.num_heads, 2);
  EXPECT_EQ(tgn.model.mailbox_size, 1);
  EXPECT_EQ(tgn.eval.mrr_negatives, 49);
  const auto apan = load_config(std::string(DISTTGL_SOURCE_DIR) + "/configs/apan.yaml");
  EXPECT_EQ(apan.model.kind, ModelKind::kApan);
  EXPECT_EQ(apan.model.mailbox_size, 10);
  const auto jodie = load_config(std::string(DISTTGL_SOURCE_DIR) + "/configs/jodie.yaml");
  EXPECT_EQ(jodie.model.kind, ModelKind::kJodie);
  EXPECT_EQ(jodie.model.mailbox_size, 1);
}

TEST(Config, UnknownKeysAreErrorsNamingTheKey) {
  EXPECT_EQ(error_of("model: tgn\nmemory:\n  dimm: 100\n"), "c.yaml: memory.dimm: unknown key");
  EXPECT_EQ(error_of("model: tgn\nbatch_size: 600\n"), "c.yaml: batch_size: unknown key");
}

TEST(Config, OutOfRangeValuesAreErrorsNamingTheKey) {
  EXPECT_EQ(error_of("model: tgn\nmemory:\n  dim: 0\n"), "c.yaml: memory.dim: must be >= 1, got 0");
  EXPECT_EQ(error_of("model: tgn\nembedding:\n  dropout: 1.5\n"),
            "c.yaml: embedding.dropout: must be in [0, 0.99], got 1.5");
  EXPECT_EQ(error_of("model: tgn\ntrain:\n  lr: -1\n"),
            "c.yaml: train.lr: must be in [1e-08, 1], got -1");
  EXPECT_EQ(error_of("model: tgn\nembedding:\n  layers: 2\n  fanouts: [10]\n"),
            "c.yaml: embedding.fanouts: needs one entry per layer (2), got 1");
  EXPECT_EQ(error_of("model: gat\n"),
            "c.yaml: model: unknown model 'gat' (expected tgn, jodie or apan)");
  EXPECT_EQ(error_of("model: tgn\ntrain:\n  loss: hinge\n"),
            "c.yaml: train.loss: unknown value 'hinge' (expected one of: bce, softmax_ce)");
  EXPECT_EQ(error_of("model: tgn\nmemory:\n  dim: abc\n"),
            "c.yaml: memory.dim: has the wrong type");
  EXPECT_EQ(error_of("model: jodie\nembedding:\n  fanouts: [10]\n"),
            "c.yaml: embedding.fanouts: only tgn samples temporal neighbours; jodie uses none");
  // Upper bounds: a typo'd size is a config error, not an allocation failure mid-run.
  EXPECT_EQ(error_of("model: tgn\nmemory:\n  dim: 1000000\n"),
            "c.yaml: memory.dim: must be <= 16384, got 1000000");
  EXPECT_EQ(error_of("model: tgn\nembedding:\n  fanouts: [20000]\n"),
            "c.yaml: embedding.fanouts: must be <= 10000, got 20000");
  EXPECT_EQ(error_of("model: tgn\neval:\n  mrr_negatives: 100000\n"),
            "c.yaml: eval.mrr_negatives: must be <= 10000, got 100000");
  EXPECT_EQ(error_of("model: tgn\ntrain:\n  select_metric: mrr\neval:\n  validation_mrr: false\n"),
            "c.yaml: eval.validation_mrr: must be true with train.select_metric mrr");
  EXPECT_EQ(error_of("model: tgn\neval:\n  validation_mrr: maybe\n"),
            "c.yaml: eval.validation_mrr: has the wrong type");
  EXPECT_EQ(error_of("model: tgn\neval:\n  negative_strategy: hist\n"),
            "c.yaml: eval.negative_strategy: unknown value 'hist' (expected one of: random, "
            "historical, inductive)");
  EXPECT_EQ(error_of("model: tgn\nmemory:\n  static: pretrained\n"),
            "c.yaml: memory.static: unknown value 'pretrained' (expected one of: none, joint; a "
            "pre-trained table is given with --static-memory)");
  EXPECT_EQ(error_of("model: tgn\nmemory:\n  static: joint\n  static_dim: 0\n"),
            "c.yaml: memory.static_dim: must be >= 1, got 0");
  EXPECT_EQ(error_of("model: tgn\nmemory:\n  static_dropout: 1.0\n"),
            "c.yaml: memory.static_dropout: must be in [0, 0.99], got 1");
}

TEST(Config, RoundTripsThroughYaml) {
  auto c = parse_config(
      "model: tgn\ntrain:\n  batch_size: 200\n  loss: softmax_ce\n"
      "  train_negatives: 4\neval:\n  validation_mrr: false\n  negative_strategy: inductive\n"
      "memory:\n  static: joint\n  static_dim: 16\n  static_dropout: 0.25\n",
      "c.yaml");
  const auto again = parse_config(to_yaml(c), "again.yaml");
  EXPECT_EQ(again.optim.batch_size, 200);
  EXPECT_EQ(again.optim.loss, LossKind::kSoftmaxCrossEntropy);
  EXPECT_EQ(again.optim.train_negatives, 4);
  EXPECT_FALSE(again.eval.validation_mrr);
  EXPECT_EQ(again.eval.negative_strategy, NegativeStrategy::kInductive);
  EXPECT_TRUE(again.model.joint_static);
  EXPECT_EQ(again.model.static_memory_dim, 16);
  EXPECT_DOUBLE_EQ(again.model.static_dropout, 0.25);
  EXPECT_EQ(to_yaml(again), to_yaml(c));
}

}  // namespace
}  // namespace disttgl::trainer

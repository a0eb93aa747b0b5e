// memory.deliver_to / memory.deliver_fanout (APAN's mail delivery to temporal neighbours):
// defaults, the shipped config, exact error messages and the YAML round trip.
#include <gtest/gtest.h>

#include <string>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/train/config.hpp"
#include "train_test_util.hpp"

namespace disttgl::trainer {
namespace {

using test::error_of;

std::string validate_error(const ModelConfig& c) {
  try {
    c.validate();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(DeliverToConfig, SelfByDefaultNeighborsInTheShippedApanConfig) {
  for (const char* kind : {"tgn", "jodie", "apan"}) {
    EXPECT_EQ(parse_config(std::string("model: ") + kind + "\n", "c.yaml").model.deliver_to,
              DeliverTo::kSelf)
        << kind;
  }
  const auto apan = load_config(std::string(DISTTGL_SOURCE_DIR) + "/configs/apan.yaml");
  EXPECT_EQ(apan.model.deliver_to, DeliverTo::kNeighbors);
  EXPECT_EQ(apan.model.deliver_fanout, 10);
  const auto c = parse_config(
      "model: apan\nmemory:\n  deliver_to: neighbors\n  deliver_fanout: 3\n", "c.yaml");
  EXPECT_EQ(c.model.deliver_to, DeliverTo::kNeighbors);
  EXPECT_EQ(c.model.deliver_fanout, 3);
  const auto again = parse_config(to_yaml(c), "again.yaml");
  EXPECT_EQ(again.model.deliver_to, DeliverTo::kNeighbors);
  EXPECT_EQ(again.model.deliver_fanout, 3);
  EXPECT_EQ(to_yaml(again), to_yaml(c));
  EXPECT_EQ(parse_config(to_yaml(parse_config("model: apan\n", "c")), "again").model.deliver_to,
            DeliverTo::kSelf);
}

TEST(DeliverToConfig, ErrorsNameTheKey) {
  EXPECT_EQ(error_of("model: tgn\nmemory:\n  deliver_to: neighbors\n"),
            "c.yaml: memory.deliver_to: neighbors is only supported for model apan, got tgn");
  EXPECT_EQ(error_of("model: jodie\nmemory:\n  deliver_to: neighbors\n"),
            "c.yaml: memory.deliver_to: neighbors is only supported for model apan, got jodie");
  EXPECT_EQ(error_of("model: apan\nmemory:\n  deliver_to: everyone\n"),
            "c.yaml: memory.deliver_to: unknown value 'everyone' (expected one of: self, "
            "neighbors)");
  EXPECT_EQ(error_of("model: apan\nmemory:\n  deliver_to: neighbors\n  deliver_fanout: 0\n"),
            "c.yaml: memory.deliver_fanout: must be >= 1, got 0");
  EXPECT_EQ(error_of("model: apan\nmemory:\n  deliver_fanout: 5\n"),
            "c.yaml: memory.deliver_fanout: is only used with memory.deliver_to: neighbors");
  // The model's own validation (configs built in code, not from YAML).
  auto tgn = ModelConfig::defaults(ModelKind::kTgn);
  tgn.deliver_to = DeliverTo::kNeighbors;
  EXPECT_EQ(validate_error(tgn),
            "model.deliver_to: neighbors is only supported for kind apan, got tgn");
  auto apan = ModelConfig::defaults(ModelKind::kApan);
  apan.deliver_to = DeliverTo::kNeighbors;
  EXPECT_EQ(validate_error(apan), "no error");
  apan.deliver_fanout = 0;
  EXPECT_EQ(validate_error(apan), "model.deliver_fanout: must be >= 1, got 0");
}

}  // namespace
}  // namespace disttgl::trainer

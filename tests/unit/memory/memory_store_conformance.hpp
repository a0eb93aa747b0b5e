// Conformance suite every MemoryStore backend must pass (the c10d StoreTestCommon pattern).
// A backend's test file includes this header once and instantiates the suite with its
// factories:
//   INSTANTIATE_TEST_SUITE_P(Local, MemoryStoreConformance,
//                            ::testing::Values(StoreFactory{"cpu", make_cpu, always}),
//                            [](const auto& param_info) { return param_info.param.name; });
// Factories that cannot run here (no GPU, no daemon) return false from `available` and the
// tests skip.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "disttgl/common/error.hpp"
#include "disttgl/trainer/memory/memory_store.hpp"

namespace disttgl::trainer::testing {

struct StoreFactory {
  std::string name;
  /// A store of num_nodes nodes, memory_dim wide, mail 2 * memory_dim, mailbox_size slots.
  std::function<std::unique_ptr<MemoryStore>(std::int64_t num_nodes, std::int64_t memory_dim,
                                             std::int64_t mailbox_size)>
      make;
  std::function<bool()> available = [] { return true; };
};

/// Names the factory in test listings (gtest would otherwise dump its bytes).
inline void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

inline torch::Tensor i64(const std::vector<std::int64_t>& v) {
  return torch::tensor(v, torch::kLong);
}

/// Rows for a write whose values encode (row position, field): memory[i][j] = 100 i + j,
/// memory_ts[i] = 10 i + 0.5, mail[i][0][j] = 1000 i + j, mail_ts[i][0] = 10 i + 0.25,
/// mail_eid[i][0] = 7 i + 3. Offset `base` shifts every value so writes differ.
inline MemoryRows encoded_rows(std::int64_t m, std::int64_t memory_dim, std::int64_t mail_dim,
                               double base = 0.0) {
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  const torch::Tensor i = torch::arange(m, f64);
  MemoryRows r;
  r.memory = (100.0 * i.unsqueeze(1) + torch::arange(memory_dim, f64).unsqueeze(0) + base)
                 .to(torch::kFloat);
  r.memory_ts = 10.0 * i + 0.5 + base;
  r.mail = (1000.0 * i.unsqueeze(1) + torch::arange(mail_dim, f64).unsqueeze(0) + base)
               .to(torch::kFloat)
               .unsqueeze(1);
  r.mail_ts = (10.0 * i + 0.25 + base).unsqueeze(1);
  r.mail_eid = (7 * torch::arange(m, torch::kLong) + 3).unsqueeze(1);
  return r;
}

class MemoryStoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    if (!GetParam().available()) GTEST_SKIP() << GetParam().name << " backend not available";
  }
  std::unique_ptr<MemoryStore> make(std::int64_t n, std::int64_t d, std::int64_t slots) {
    return GetParam().make(n, d, slots);
  }
  static MemoryRows cpu(const MemoryRows& r) { return r.to(torch::kCPU); }
};

TEST_P(MemoryStoreConformance, ReportsItsShape) {
  auto store = make(7, 4, 3);
  EXPECT_EQ(store->num_nodes(), 7);
  EXPECT_EQ(store->memory_dim(), 4);
  EXPECT_EQ(store->mail_dim(), 8);
  EXPECT_EQ(store->mailbox_size(), 3);
  EXPECT_FALSE(store->backend_name().empty());
}

TEST_P(MemoryStoreConformance, StartsZeroWithEmptyMailboxes) {
  auto store = make(5, 4, 2);
  const MemoryRows r = cpu(store->read(i64({0, 4, 2})));
  r.check(3, 2, 4, 8, "test");
  EXPECT_TRUE(torch::equal(r.memory, torch::zeros({3, 4})));
  EXPECT_TRUE(torch::equal(r.memory_ts, torch::zeros({3}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(r.mail, torch::zeros({3, 2, 8})));
  EXPECT_TRUE(torch::equal(r.mail_ts, torch::zeros({3, 2}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(r.mail_eid, torch::full({3, 2}, -1, torch::kLong)));
}

TEST_P(MemoryStoreConformance, WriteThenReadRoundTrip) {
  auto store = make(6, 4, 1);
  const MemoryRows w = encoded_rows(3, 4, 8);
  store->write(i64({5, 0, 3}), w);
  // Read in another order, with a duplicate and an untouched node (1).
  const MemoryRows r = cpu(store->read(i64({3, 1, 5, 0, 3})));
  const torch::Tensor pick = i64({2, 0, 0, 1, 2});  // write row of each read node
  const torch::Tensor touched = torch::tensor({true, false, true, true, true});
  for (std::int64_t k = 0; k < 5; ++k) {
    SCOPED_TRACE(k);
    if (!touched[k].item<bool>()) {
      EXPECT_TRUE(torch::equal(r.memory[k], torch::zeros({4})));
      EXPECT_EQ(r.mail_eid[k][0].item<std::int64_t>(), -1);
      continue;
    }
    const std::int64_t i = pick[k].item<std::int64_t>();
    EXPECT_TRUE(torch::equal(r.memory[k], w.memory[i]));
    EXPECT_EQ(r.memory_ts[k].item<double>(), w.memory_ts[i].item<double>());
    EXPECT_TRUE(torch::equal(r.mail[k], w.mail[i]));
    EXPECT_EQ(r.mail_ts[k][0].item<double>(), w.mail_ts[i][0].item<double>());
    EXPECT_EQ(r.mail_eid[k][0].item<std::int64_t>(), w.mail_eid[i][0].item<std::int64_t>());
  }
}

TEST_P(MemoryStoreConformance, DuplicateNodesKeepTheirLastOccurrence) {
  for (const std::int64_t slots : {1, 4}) {
    SCOPED_TRACE(slots);
    auto store = make(4, 2, slots);
    const MemoryRows w = encoded_rows(5, 2, 4);
    store->write(i64({3, 1, 3, 2, 1}), w);  // winners: 3 <- row 2, 1 <- row 4, 2 <- row 3
    const MemoryRows r = cpu(store->read(i64({3, 1, 2})));
    const std::vector<std::int64_t> winner = {2, 4, 3};
    for (std::size_t k = 0; k < winner.size(); ++k) {
      const auto row = static_cast<std::int64_t>(k);
      EXPECT_TRUE(torch::equal(r.memory[row], w.memory[winner[k]]));
      EXPECT_EQ(r.memory_ts[row].item<double>(), w.memory_ts[winner[k]].item<double>());
      // Exactly one mail appended per distinct node, in the newest slot.
      EXPECT_EQ(r.mail_eid[row][slots - 1].item<std::int64_t>(), 7 * winner[k] + 3);
      EXPECT_TRUE(torch::equal(r.mail[row][slots - 1], w.mail[winner[k]][0]));
      EXPECT_EQ((r.mail_eid[row] >= 0).sum().item<std::int64_t>(), 1);
    }
  }
}

TEST_P(MemoryStoreConformance, RingBufferKeepsTheNewestMailsInOrder) {
  auto store = make(3, 2, 10);
  // Node 0 receives 13 mails, node 2 receives 4; mail k has eid k and time 1.5 k.
  for (std::int64_t k = 0; k < 13; ++k) {
    MemoryRows w = encoded_rows(1, 2, 4, static_cast<double>(k));
    w.mail_ts.fill_(1.5 * static_cast<double>(k));
    w.mail_eid.fill_(k);
    store->write(i64({0}), w);
    if (k < 4) store->write(i64({2}), w);
  }
  const MemoryRows r = cpu(store->read(i64({0, 2, 1})));
  std::vector<std::int64_t> expect0;
  for (std::int64_t k = 3; k < 13; ++k) expect0.push_back(k);
  EXPECT_TRUE(torch::equal(r.mail_eid[0], i64(expect0)));
  EXPECT_TRUE(torch::equal(r.mail_ts[0], 1.5 * i64(expect0).to(torch::kDouble)));
  for (std::int64_t slot = 0; slot < 10; ++slot) {
    // encoded_rows with base k: mail[0][0][j] = j + k.
    EXPECT_EQ(r.mail[0][slot][1].item<float>(), static_cast<float>(1 + slot + 3));
  }
  EXPECT_TRUE(torch::equal(r.mail_eid[1], i64({-1, -1, -1, -1, -1, -1, 0, 1, 2, 3})));
  EXPECT_TRUE(torch::equal(r.mail_eid[2], torch::full({10}, -1, torch::kLong)));
  // The memory is simply overwritten by the last write.
  EXPECT_EQ(r.memory[0][0].item<float>(), 12.0f);
}

TEST_P(MemoryStoreConformance, ResetZeroesEverything) {
  auto store = make(4, 2, 3);
  store->write(i64({0, 1, 2, 3}), encoded_rows(4, 2, 4, 1.0));
  store->write(i64({1}), encoded_rows(1, 2, 4, 2.0));
  store->reset();
  const MemoryRows r = cpu(store->read(i64({0, 1, 2, 3})));
  EXPECT_TRUE(torch::equal(r.memory, torch::zeros({4, 2})));
  EXPECT_TRUE(torch::equal(r.memory_ts, torch::zeros({4}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(r.mail, torch::zeros({4, 3, 4})));
  EXPECT_TRUE(torch::equal(r.mail_ts, torch::zeros({4, 3}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(r.mail_eid, torch::full({4, 3}, -1, torch::kLong)));
  // The ring restarts too: one mail after reset is the newest and only one.
  store->write(i64({1}), encoded_rows(1, 2, 4));
  EXPECT_TRUE(torch::equal(cpu(store->read(i64({1}))).mail_eid[0], i64({-1, -1, 3})));
}

TEST_P(MemoryStoreConformance, SaveLoadRoundTrip) {
  auto store = make(5, 3, 2);
  store->write(i64({4, 1, 4}), encoded_rows(3, 3, 6, 0.5));
  store->write(i64({2, 4}), encoded_rows(2, 3, 6, 9.0));
  torch::serialize::OutputArchive out;
  store->save(out);
  std::ostringstream bytes;
  out.save_to(bytes);

  auto restored = make(5, 3, 2);
  std::istringstream in_bytes(bytes.str());
  torch::serialize::InputArchive in;
  in.load_from(in_bytes);
  restored->load(in);
  const torch::Tensor all = torch::arange(5, torch::kLong);
  const MemoryRows a = cpu(store->read(all));
  const MemoryRows b = cpu(restored->read(all));
  EXPECT_TRUE(torch::equal(a.memory, b.memory));
  EXPECT_TRUE(torch::equal(a.memory_ts, b.memory_ts));
  EXPECT_TRUE(torch::equal(a.mail, b.mail));
  EXPECT_TRUE(torch::equal(a.mail_ts, b.mail_ts));
  EXPECT_TRUE(torch::equal(a.mail_eid, b.mail_eid));
  // The ring position survives too: the next mail lands in the same place in both.
  store->write(i64({4}), encoded_rows(1, 3, 6, 5.0));
  restored->write(i64({4}), encoded_rows(1, 3, 6, 5.0));
  EXPECT_TRUE(torch::equal(cpu(store->read(i64({4}))).mail, cpu(restored->read(i64({4}))).mail));
}

TEST_P(MemoryStoreConformance, RejectsOutOfRangeIdsAndBadRows) {
  auto store = make(10, 4, 1);
  try {
    store->read(i64({3, 10}));
    FAIL() << "out-of-range read accepted";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("node id 10 outside [0, 10)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(store->read(i64({-1})), InternalError);
  EXPECT_THROW(store->read(torch::tensor({1, 2}, torch::kInt)), InternalError);
  MemoryRows bad = encoded_rows(1, 3, 8);
  try {
    store->write(i64({1}), bad);
    FAIL() << "narrow memory accepted";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("rows.memory must be Float [1, 4], got Float [1, 3]"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(store->write(i64({1, 2}), encoded_rows(1, 4, 8)), InternalError);
  // Nothing was written by the failed calls.
  EXPECT_EQ(cpu(store->read(i64({1}))).mail_eid[0][0].item<std::int64_t>(), -1);
}

// ---- ordered operations (logical batches) ----

TEST_P(MemoryStoreConformance, LogicalBatchesCountFromZeroAfterReset) {
  auto store = make(6, 2, 1);
  EXPECT_EQ(store->next_batch(), 0);
  store->write(0, 0, i64({1, 2}), encoded_rows(2, 2, 4));
  store->write(1, 0, i64({3}), encoded_rows(1, 2, 4));
  EXPECT_EQ(store->next_batch(), 2);
  store->reset();
  EXPECT_EQ(store->next_batch(), 0);
  store->reset();  // twice in a row (disttgl issue #2: world size 1 must not hang)
  EXPECT_EQ(store->next_batch(), 0);
}

TEST_P(MemoryStoreConformance, ReadIssuedAheadSeesThePreviousBatchsWrite) {
  auto store = make(6, 2, 1);
  // The read of batch 1 is issued before batch 0 is written (what the pipeline does): its
  // rows must include batch 0's write, and not batch 1's.
  PendingRows ahead = store->read_async(1, i64({2, 5}));
  store->write(0, 0, i64({5, 2, 5}), encoded_rows(3, 2, 4, 1.0));
  const MemoryRows r = cpu(ahead.get());
  // node 5 keeps its last occurrence (row 2), node 2 row 1.
  EXPECT_TRUE(torch::equal(r.memory_ts, torch::tensor({10.0 * 1 + 0.5 + 1.0, 10.0 * 2 + 0.5 + 1.0},
                                                      torch::kDouble)));
  EXPECT_TRUE(torch::equal(r.mail_eid, torch::tensor({{7 * 1 + 3}, {7 * 2 + 3}}, torch::kLong)));
  PendingRows next = store->read_async(2, i64({5}));
  store->write(1, 0, i64({5}), encoded_rows(1, 2, 4, 50.0));
  EXPECT_DOUBLE_EQ(cpu(next.get()).memory_ts[0].item<double>(), 50.5);
}

TEST_P(MemoryStoreConformance, RefusesAWriteOutOfBatchOrder) {
  auto store = make(6, 2, 1);
  store->write(0, 0, i64({1}), encoded_rows(1, 2, 4, 3.0));
  const MemoryRows before = cpu(store->read(torch::arange(6, torch::kLong)));
  try {
    store->write(5, 0, i64({1}), encoded_rows(1, 2, 4, 9.0));
    FAIL() << "a write for batch 5 accepted when batch 1 is next";
  } catch (const Error& e) {  // InternalError in-process; MemoryBackendError from a daemon
    EXPECT_NE(std::string(e.what()).find("batch 5"), std::string::npos) << e.what();
  }
  EXPECT_THROW(store->write(0, 0, i64({1}), encoded_rows(1, 2, 4, 9.0)), Error);
  EXPECT_EQ(store->next_batch(), 1);
  const MemoryRows after = cpu(store->read(torch::arange(6, torch::kLong)));
  EXPECT_TRUE(torch::equal(before.memory, after.memory));
  EXPECT_TRUE(torch::equal(before.mail_eid, after.mail_eid));
}

TEST_P(MemoryStoreConformance, SaveLoadKeepsTheLogicalBatch) {
  auto store = make(4, 2, 1);
  store->write(0, 0, i64({1}), encoded_rows(1, 2, 4));
  store->write(1, 0, i64({2}), encoded_rows(1, 2, 4));
  torch::serialize::OutputArchive out;
  store->save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  auto restored = make(4, 2, 1);
  std::istringstream in_bytes(bytes.str());
  torch::serialize::InputArchive in;
  in.load_from(in_bytes);
  restored->load(in);
  EXPECT_EQ(restored->next_batch(), 2);
  restored->write(2, 0, i64({3}), encoded_rows(1, 2, 4));  // continues the sequence
  EXPECT_EQ(restored->next_batch(), 3);
}

}  // namespace disttgl::trainer::testing

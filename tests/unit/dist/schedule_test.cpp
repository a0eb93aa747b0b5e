// DistTGL's (i, j, k) iteration schedule, checked for every layout with W <= 8 and epochs of
// 1..9 logical batches: the properties of disttgl.md §4 that the memory daemon's ordering
// and the one all-reduce per iteration rely on.
#include "disttgl/trainer/dist/schedule.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <utility>

namespace disttgl::trainer {
namespace {

TEST(Schedule, OneByOneByOneIsTheSequentialLoop) {
  const auto s = epoch_schedule({1, 1, 1}, {0, 0, 0}, 4);
  ASSERT_EQ(s.size(), 4u);
  for (std::int64_t t = 0; t < 4; ++t) {
    const auto& it = s[static_cast<std::size_t>(t)];
    EXPECT_EQ(it.logical_batch, t);
    EXPECT_EQ(it.pass, 0);
    EXPECT_TRUE(it.write_memory);
    EXPECT_TRUE(it.read_memory);
    EXPECT_EQ(it.memory_sequence, t);
    EXPECT_EQ(it.reset_memory, t == 0);
  }
}

TEST(Schedule, EpochParallelismPipelinesFillAndDrain) {
  // j = 2, B = 3: T = 4 iterations; slot 0 owns batches 0 and 2, slot 1 owns batch 1.
  const auto s0 = epoch_schedule({1, 2, 1}, {0, 0, 0}, 3);
  const auto s1 = epoch_schedule({1, 2, 1}, {0, 1, 0}, 3);
  ASSERT_EQ(s0.size(), 4u);
  const std::vector<std::pair<std::int64_t, int>> slot0 = {{0, 0}, {0, 1}, {2, 0}, {2, 1}};
  const std::vector<std::pair<std::int64_t, int>> slot1 = {{-1, 0}, {1, 0}, {1, 1}, {-1, 0}};
  for (std::size_t t = 0; t < 4; ++t) {
    EXPECT_EQ(std::make_pair(s0[t].logical_batch, s0[t].pass), slot0[t]) << t;
    EXPECT_EQ(std::make_pair(s1[t].logical_batch, s1[t].pass), slot1[t]) << t;
  }
  EXPECT_TRUE(s0[1].logical_batch == 0 && !s0[1].read_memory && !s0[1].write_memory);
}

TEST(Schedule, MemoryGroupsAreStaggeredAndResetWhenTheyWrap) {
  // k = 2, B = 4: group 1 starts half way (batch 2) with zero memory and wraps at t = 2.
  const auto g1 = epoch_schedule({1, 1, 2}, {1, 0, 0}, 4);
  std::vector<std::int64_t> batches, sequence;
  std::vector<bool> resets;
  for (const auto& it : g1) {
    batches.push_back(it.logical_batch);
    sequence.push_back(it.memory_sequence);
    resets.push_back(it.reset_memory);
  }
  EXPECT_EQ(batches, (std::vector<std::int64_t>{2, 3, 0, 1}));
  EXPECT_EQ(sequence, (std::vector<std::int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(resets, (std::vector<bool>{true, false, true, false}));
}

TEST(Schedule, EveryLayoutUpToEightRanksKeepsDistTglsInvariants) {
  int cases = 0;
  for (std::int32_t i = 1; i <= 8; ++i) {
    for (std::int32_t j = 1; i * j <= 8; ++j) {
      for (std::int32_t k = 1; i * j * k <= 8; ++k) {
        const ParallelLayout l{i, j, k};
        for (std::int64_t b_count = 1; b_count <= 9; ++b_count) {
          ++cases;
          const std::int64_t t_count = b_count + j - 1;
          for (std::int32_t g = 0; g < k; ++g) {
            std::map<std::pair<std::int64_t, int>, int> trained;  // (b, pass) -> times
            std::map<std::int64_t, std::int64_t> write_at;          // b -> iteration
            std::map<std::int64_t, std::int64_t> read_at;           // b -> first read
            std::vector<std::vector<Iteration>> slots;
            for (std::int32_t u = 0; u < j; ++u) {
              // A later epoch: the walk continues across the boundary, so every (batch,
              // pass) of the epoch's window is trained (the first epoch skips the passes of
              // batches before a group's mid-epoch start).
              const auto s0 = epoch_schedule(l, {g, u, 0}, b_count, false);
              // Every shard of a slot follows the same schedule; every rank has T iterations.
              ASSERT_EQ(static_cast<std::int64_t>(s0.size()), t_count);
              for (std::int32_t sh = 1; sh < i; ++sh) {
                const auto other = epoch_schedule(l, {g, u, sh}, b_count, false);
                for (std::size_t t = 0; t < s0.size(); ++t) {
                  ASSERT_EQ(other[t].logical_batch, s0[t].logical_batch);
                }
              }
              slots.push_back(s0);
            }
            for (std::int64_t t = 0; t < t_count; ++t) {
              int writes_now = 0;
              for (std::int32_t u = 0; u < j; ++u) {
                const Iteration& it = slots[static_cast<std::size_t>(u)][static_cast<std::size_t>(t)];
                // All slots of a group reset together.
                EXPECT_EQ(it.reset_memory,
                          slots[0][static_cast<std::size_t>(t)].reset_memory);
                if (it.logical_batch < 0) continue;
                EXPECT_EQ(it.logical_batch % j, u);  // round-robin ownership
                ++trained[{it.logical_batch, it.pass}];
                if (it.write_memory) {
                  ++writes_now;
                  EXPECT_EQ(write_at.count(it.logical_batch), 0u);
                  write_at[it.logical_batch] = t;
                }
                if ((it.read_memory || it.carried) && !read_at.count(it.logical_batch)) {
                  read_at[it.logical_batch] = it.carried ? -1 : t;
                }
              }
              EXPECT_LE(writes_now, 1);  // one logical batch written per iteration per group
            }
            // Each (batch, pass) exactly once; each batch written exactly once, after its read.
            EXPECT_EQ(static_cast<std::int64_t>(trained.size()), b_count * j);
            for (const auto& [key, times] : trained) EXPECT_EQ(times, 1);
            EXPECT_EQ(static_cast<std::int64_t>(write_at.size()), b_count);
            for (const auto& [b, t] : write_at) EXPECT_LE(read_at.at(b), t);
            // Between resets, writes come in sequence order 0, 1, 2, ... (the daemon's order;
            // before the first reset the walk continues the previous epoch's sequence).
            std::int64_t expected = -1;
            for (std::int64_t t = 0; t < t_count; ++t) {
              if (slots[0][static_cast<std::size_t>(t)].reset_memory) expected = 0;
              for (const auto& s : slots) {
                const Iteration& it = s[static_cast<std::size_t>(t)];
                if (!it.write_memory) continue;
                if (expected < 0) expected = it.memory_sequence;
                EXPECT_EQ(it.memory_sequence, expected) << to_string(l) << " g" << g << " t" << t;
                ++expected;
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 38 * 9);
}

TEST(Schedule, LaterEpochsContinueEachGroupsWalkAcrossTheBoundary) {
  // DistTGL keeps a group's position across epochs: only the wrap to batch 0 resets memory,
  // writes continue the daemon's sequence over the boundary, and a batch whose first pass
  // ended the previous epoch is finished from the rows the rank still holds.
  int carried = 0;
  for (std::int32_t j = 1; j <= 4; ++j) {
    for (std::int32_t k = 1; j * k <= 8; ++k) {
      const ParallelLayout l{1, j, k};
      for (std::int64_t b_count = 1; b_count <= 9; ++b_count) {
        for (std::int32_t g = 0; g < k; ++g) {
          std::vector<std::vector<Iteration>> walk(static_cast<std::size_t>(j));
          for (std::int32_t u = 0; u < j; ++u) {
            const auto first = epoch_schedule(l, {g, u, 0}, b_count, true);
            const auto later = epoch_schedule(l, {g, u, 0}, b_count, false);
            const auto& last = first.back();
            const auto& next = later.front();
            if (next.carried) {
              ++carried;
              EXPECT_EQ(next.logical_batch, last.logical_batch);
              EXPECT_EQ(next.pass, last.pass + 1);
              EXPECT_FALSE(next.read_memory || next.write_memory || next.reset_memory);
            }
            for (const auto& it : first) EXPECT_FALSE(it.carried);
            // Only a group whose offset is 0 (group 0; others when T < k) wraps at t = 0.
            const std::int64_t offset = ((k - g) % k) * (b_count + j - 1) / k;
            EXPECT_EQ(next.reset_memory, offset == 0);
            auto& w = walk[static_cast<std::size_t>(u)];
            w.insert(w.end(), first.begin(), first.end());
            w.insert(w.end(), later.begin(), later.end());
          }
          std::int64_t expected = 0;
          for (std::size_t t = 0; t < walk[0].size(); ++t) {
            if (walk[0][t].reset_memory) expected = 0;
            // No read asks for a sequence the group has already written (the daemon would
            // refuse it): reads come before or with the write of their sequence.
            for (const auto& w : walk) {
              if (w[t].read_memory) {
                EXPECT_GE(w[t].memory_sequence, expected) << to_string(l);
              }
            }
            for (const auto& w : walk) {
              if (!w[t].write_memory) continue;
              EXPECT_EQ(w[t].memory_sequence, expected) << to_string(l) << " g" << g << " t" << t;
              ++expected;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(carried, 0);
}

TEST(Schedule, ShardsSplitALogicalBatchIntoConsecutiveBatches) {
  const ParallelLayout l{3, 1, 1};
  EXPECT_EQ(logical_batches(l, 1000, 100), 4);  // 300 events per logical batch
  const auto a = shard_events(l, 1, 2, 1000, 100);
  EXPECT_EQ(a.begin, 500);
  EXPECT_EQ(a.end, 600);
  const auto last = shard_events(l, 3, 1, 1000, 100);  // batch 10 of 10: empty
  EXPECT_EQ(last.begin, 1000);
  EXPECT_EQ(last.end, 1000);
  const auto tail = shard_events(l, 3, 0, 1000, 100);
  EXPECT_EQ(tail.begin, 900);
  EXPECT_EQ(tail.end, 1000);
}

}  // namespace
}  // namespace disttgl::trainer

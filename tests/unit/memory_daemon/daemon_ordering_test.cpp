// Strict batch order across client PROCESSES: READs for a later batch park until every write
// of the earlier batches is applied (measured against a writer that sleeps 200 ms first), the
// i shard writes of a logical batch apply as one step with each node's last occurrence across
// the shards, and a client killed mid-epoch (parked READ, half a frame) leaves the daemon
// serving the others.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "../../support/daemon_harness.hpp"
#include "disttgl/memory_daemon/memory_state.hpp"

namespace disttgl::memory_daemon::test {
namespace {

using namespace std::chrono_literals;

const Dimensions kDims{8, 4, 8, 2};

std::vector<std::string> flags(const std::string& layout) {
  return {"--nodes",        "8", "--memory-dim", "4",    "--mail-dim", "8",
          "--mailbox-size", "2", "--layout",     layout, "--job",      "test-job",
          "--wait-timeout", "20"};
}

// Checks READ_OK rows of `nodes` against the writes that should have produced them:
// expected[v] = (batch, tag, position) of the row that last wrote node v, or batch -1 for a
// node never written. Each written node has exactly one mail (S = 2: slot 0 empty).
struct Source {
  std::int64_t batch = -1;
  int tag = 0;
  std::size_t position = 0;
};
void check_rows(const RowsView& rows, const std::vector<std::int64_t>& nodes,
                const std::vector<Source>& expected) {
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const Source& src = expected[static_cast<std::size_t>(nodes[i])];
    const std::string who = "node " + std::to_string(nodes[i]);
    if (src.batch < 0) {
      check(rows.memory_ts[i] == 0.0 && rows.mail_eid[2 * i + 1] == -1, who + " was written");
      continue;
    }
    const OwnedRows want = make_rows(src.position + 1, kDims, src.batch, src.tag);
    for (std::size_t k = 0; k < 4; ++k) {
      check(rows.memory[4 * i + k] == want.memory[4 * src.position + k], who + ": memory differs");
    }
    for (std::size_t k = 0; k < 8; ++k) {
      check(rows.mail[16 * i + 8 + k] == want.mail[8 * src.position + k], who + ": mail differs");
    }
    check(rows.memory_ts[i] == want.memory_ts[src.position], who + ": memory_ts differs");
    check(rows.mail_eid[2 * i] == -1, who + ": has more than one mail");
    check(rows.mail_eid[2 * i + 1] == want.mail_eid[src.position],
          who + ": mail_eid " + std::to_string(rows.mail_eid[2 * i + 1]));
    check(rows.mail_ts[2 * i + 1] == want.mail_ts[src.position], who + ": mail_ts differs");
  }
}

// A client process: HELLO as `rank`, READ(batch, nodes) at once, check the rows on arrival.
Child reader(const std::string& address, std::int64_t batch, std::vector<std::int64_t> nodes,
             std::vector<Source> expected, Layout layout = {}) {
  return Child::start([=](ChildReport& r) {
    DaemonClient c(address, 30s);
    c.hello(make_hello(kDims, 0, layout));
    r.t_sent = monotonic_seconds();
    auto pending = c.read_async(batch, nodes);
    const ReadResult result = pending.get();
    r.t_reply = monotonic_seconds();
    check_rows(result.rows, nodes, expected);
  });
}

// A client process: HELLO as `rank`, wait for go, sleep `delay`, WRITE one shard.
Child writer(const std::string& address, std::int32_t rank, Layout layout, std::int64_t batch,
             std::int32_t shard, std::vector<std::int64_t> nodes, int tag, std::int64_t expect_next,
             std::chrono::milliseconds delay) {
  return Child::start([=](ChildReport& r) {
    DaemonClient c(address, 30s);
    c.hello(make_hello(kDims, rank, layout));
    wait_for_go();
    std::this_thread::sleep_for(delay);
    const OwnedRows rows = make_rows(nodes.size(), kDims, batch, tag);
    r.t_sent = monotonic_seconds();
    const std::int64_t next = c.write(batch, shard, nodes, rows.view());
    r.t_reply = monotonic_seconds();
    check(next == expect_next, "WRITE_OK next_batch " + std::to_string(next));
  });
}

void expect_ok(const ChildReport& r) { EXPECT_EQ(r.ok, 1) << r.message; }

TEST(DaemonOrdering, ReadsOfLaterBatchesWaitForEveryEarlierWrite) {
  DaemonProcess daemon(flags("i=1,j=1,k=1"));
  const std::vector<std::int64_t> all{0, 1, 2, 3, 4, 5, 6, 7};
  // Batch 0 writes {0, 1, 2, 3, 1} (node 1 by position 4); batch 1 writes {3, 4}.
  std::vector<Source> after0(8);
  after0[0] = {0, 0, 0};
  after0[1] = {0, 0, 4};
  after0[2] = {0, 0, 2};
  after0[3] = {0, 0, 3};
  std::vector<Source> after1 = after0;
  after1[3] = {1, 0, 0};
  after1[4] = {1, 0, 1};
  // (Node 3 has two mails after batch 1; check_rows expects one, so the batch-2 reader
  // reads nodes 4 and 5 only.)
  Child tcp_reader = reader(daemon.tcp_address(), 1, {0, 1, 2, 4}, after0);
  Child unix_reader = reader(daemon.unix_address(), 1, all, after0);
  Child late_reader = reader(daemon.tcp_address(), 2, {4, 5}, after1);
  Child w0 = writer(daemon.tcp_address(), 0, {}, 0, 0, {0, 1, 2, 3, 1}, 0, 1, 200ms);
  Child w1 = writer(daemon.unix_address(), 0, {}, 1, 0, {3, 4}, 0, 2, 200ms);

  // Every READ is parked before any write is sent.
  auto s =
      wait_for_stats(daemon.tcp_address(), [](const auto& j) { return j["pending_reads"] == 3; });
  ASSERT_EQ(s["pending_reads"], 3);
  ASSERT_EQ(s["next_batch"], 0);
  w0.go();
  const ChildReport rw0 = w0.join();
  expect_ok(rw0);
  const ChildReport ra = tcp_reader.join();
  const ChildReport rb = unix_reader.join();
  expect_ok(ra);
  expect_ok(rb);
  // Answered only after the writer (which slept 200 ms after go) sent batch 0's write.
  EXPECT_GE(ra.t_reply, rw0.t_sent);
  EXPECT_GE(rb.t_reply, rw0.t_sent);
  EXPECT_GE(ra.t_reply - ra.t_sent, 0.2);

  // The batch-2 READ still waits for batch 1.
  s = stats(daemon.tcp_address());
  EXPECT_EQ(s["pending_reads"], 1);
  EXPECT_EQ(s["next_batch"], 1);
  w1.go();
  const ChildReport rw1 = w1.join();
  expect_ok(rw1);
  const ChildReport rc = late_reader.join();
  expect_ok(rc);
  EXPECT_GE(rc.t_reply, rw1.t_sent);
  s = stats(daemon.tcp_address());
  EXPECT_EQ(s["next_batch"], 2);
  EXPECT_EQ(s["pending_reads"], 0);
  EXPECT_EQ(s["requests"]["READ"]["ok"], 3);
  EXPECT_EQ(s["requests"]["WRITE"]["ok"], 2);
}

TEST(DaemonOrdering, ShardWritesOfOneBatchApplyTogetherWithTheLastOccurrence) {
  DaemonProcess daemon(flags("i=2,j=1,k=1"));
  const Layout two{2, 1, 1};
  // Shard 0 writes {0, 1, 2, 1}; shard 1 writes {2, 3, 1}. Node 1's last occurrence is shard
  // 1's position 2, node 2's shard 1's position 0; node 0 keeps shard 0's position 0.
  std::vector<Source> expected(8);
  expected[0] = {0, 0, 0};
  expected[1] = {0, 1, 2};
  expected[2] = {0, 1, 0};
  expected[3] = {0, 1, 1};
  Child r = reader(daemon.unix_address(), 1, {0, 1, 2, 3, 4}, expected, two);
  Child s0 = writer(daemon.tcp_address(), 0, two, 0, 0, {0, 1, 2, 1}, 0, 0, 0ms);
  Child s1 = writer(daemon.tcp_address(), 1, two, 0, 1, {2, 3, 1}, 1, 1, 200ms);
  ASSERT_EQ(wait_for_stats(daemon.tcp_address(),
                           [](const auto& j) { return j["pending_reads"] == 1; })["pending_reads"],
            1);
  s0.go();
  expect_ok(s0.join());  // WRITE_OK says next_batch is still 0: the shard is buffered

  // Half a logical batch is invisible: the state is still all zero and batch 0 is readable.
  const auto s = stats(daemon.tcp_address());
  EXPECT_EQ(s["shards_received"], nlohmann::json::array({0}));
  EXPECT_EQ(s["next_batch"], 0);
  {
    DaemonClient c(daemon.tcp_address(), 10s);
    c.hello(make_hello(kDims, 0, two));
    const ReadResult now = c.read_async(0, {0, 1, 2}).get();
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(now.rows.memory_ts[i], 0.0);
      EXPECT_EQ(now.rows.mail_eid[2 * i + 1], -1);
    }
    const OwnedRows again = make_rows(1, kDims, 0, 0);
    try {
      c.write(0, 0, {5}, again.view());
      ADD_FAILURE() << "a second shard 0 was accepted";
    } catch (const ProtocolError& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBatchOrder);
      EXPECT_NE(std::string(e.what()).find("WRITE shard 0 of batch 0 was already received"),
                std::string::npos);
    }
  }
  s1.go();
  const ChildReport rs1 = s1.join();
  expect_ok(rs1);
  const ChildReport rr = r.join();
  expect_ok(rr);
  EXPECT_GE(rr.t_reply, rs1.t_sent);
  const auto after = stats(daemon.tcp_address());
  EXPECT_EQ(after["next_batch"], 1);
  EXPECT_EQ(after["shards_received"], nlohmann::json::array());
}

TEST(DaemonOrdering, AKilledClientWithAParkedReadIsForgotten) {
  DaemonProcess daemon(flags("i=1,j=1,k=1"));
  Child victim = Child::start([&](ChildReport&) {
    DaemonClient c(daemon.tcp_address(), 60s);
    c.hello(make_hello(kDims, 0));
    auto pending = c.read_async(5, {1});
    ::pause();  // killed while its READ is parked
  });
  auto s =
      wait_for_stats(daemon.tcp_address(), [](const auto& j) { return j["pending_reads"] == 1; });
  ASSERT_EQ(s["pending_reads"], 1);
  victim.kill(SIGKILL);
  s = wait_for_stats(daemon.tcp_address(), [](const auto& j) {
    return j["pending_reads"] == 0 && j["connected_clients"] == 1;
  });
  EXPECT_EQ(s["pending_reads"], 0);
  EXPECT_EQ(s["connected_clients"], 1);  // the STATS connection itself

  DaemonClient c(daemon.unix_address(), 10s);
  c.hello(make_hello(kDims, 0));
  const OwnedRows rows = make_rows(1, kDims, 0, 3);
  EXPECT_EQ(c.write(0, 0, {1}, rows.view()), 1);
  EXPECT_EQ(c.read_async(1, {1}).get().rows.mail_eid[1], 300);
  EXPECT_NE(daemon.log().find("rank 0): closed: the client closed the connection; dropped its 1 "
                              "waiting request(s)"),
            std::string::npos)
      << daemon.log();
}

TEST(DaemonOrdering, AClientKilledInTheMiddleOfAFrameLeavesTheDaemonServing) {
  DaemonProcess daemon(flags("i=1,j=1,k=1"));
  const OwnedRows rows4 = make_rows(4, kDims, 0, 0);
  const auto payload =
      encode_write(0, 0, std::vector<std::int64_t>{0, 1, 2, 3}, rows4.view(), kDims);
  const std::string marker = daemon.dir() + "/sent";
  Child victim = Child::start([&](ChildReport&) {
    RawConnection raw = RawConnection::tcp(daemon.port());
    raw.send_frame(MsgType::kHello, 1, encode_hello(make_hello(kDims)));
    check(raw.receive().has_value(), "no HELLO_OK");
    std::vector<std::byte> frame = RawConnection::header(MsgType::kWrite, 2, payload.size());
    frame.insert(frame.end(), payload.begin(), payload.begin() + 40);
    raw.send_bytes(frame);  // on loopback the bytes are in the daemon's queue on return
    std::fclose(std::fopen(marker.c_str(), "w"));
    ::pause();
  });
  for (int i = 0; i < 1000 && !std::filesystem::exists(marker); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(std::filesystem::exists(marker));
  victim.kill(SIGKILL);
  const auto s = wait_for_stats(daemon.tcp_address(),
                                [](const auto& j) { return j["connected_clients"] == 1; });
  EXPECT_EQ(s["connected_clients"], 1);
  EXPECT_EQ(s["next_batch"], 0);
  EXPECT_EQ(s["state_checksum"], MemoryState(kDims).checksum());  // nothing of it applied
  DaemonClient c(daemon.tcp_address(), 10s);
  c.hello(make_hello(kDims, 0));
  const OwnedRows rows = make_rows(1, kDims, 0, 0);
  EXPECT_EQ(c.write(0, 0, {2}, rows.view()), 1);
  const std::string logged =
      "after 40 of " + std::to_string(payload.size()) + " payload bytes of a WRITE frame";
  EXPECT_NE(daemon.log().find(logged), std::string::npos) << daemon.log();
}

}  // namespace
}  // namespace disttgl::memory_daemon::test

// SNAPSHOT/RESTORE (inline and through files, --snapshot-on-exit on SIGTERM, --restore at
// start), RESET (world size 1 twice in a row, the i=2 barrier and its timeout), READ timeouts,
// and dimensions fixed by the first trainer HELLO, against a running daemon.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <memory>

#include "../../support/daemon_harness.hpp"
#include "disttgl/memory_daemon/memory_state.hpp"

namespace disttgl::memory_daemon::test {
namespace {

using namespace std::chrono_literals;

const Dimensions kDims{8, 4, 8, 2};

std::vector<std::string> flags(const std::string& layout = "i=1,j=1,k=1",
                               const std::string& wait = "20") {
  return {"--nodes",        "8", "--memory-dim", "4",    "--mail-dim",     "8",
          "--mailbox-size", "2", "--layout",     layout, "--wait-timeout", wait};
}

// Writes batches [from, to) of recognisable rows.
void write_batches(DaemonClient& c, std::int64_t from, std::int64_t to) {
  for (std::int64_t b = from; b < to; ++b) {
    const OwnedRows rows = make_rows(3, kDims, b, 0);
    ASSERT_EQ(c.write(b, 0, {b % 8, (b + 3) % 8, b % 8}, rows.view()), b + 1);
  }
}

template <typename Fn>
ProtocolError expect_protocol_error(Fn&& fn) {
  try {
    fn();
  } catch (const ProtocolError& e) {
    return e;
  }
  ADD_FAILURE() << "no ProtocolError";
  return ProtocolError(ErrorCode::kMalformed, "none");
}

// A temporary directory that outlives a daemon (for files across restarts).
struct TempDir {
  std::string path;
  TempDir() {
    std::string t = "/tmp/disttgl-daemon-files-XXXXXX";
    path = ::mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

TEST(DaemonSnapshot, InlineSnapshotRestoresBitExactly) {
  DaemonProcess daemon(flags());
  DaemonClient c(daemon.tcp_address(), 20s);
  c.hello(make_hello(kDims));
  write_batches(c, 0, 3);
  const std::vector<std::byte> snap = c.snapshot();
  const auto before = stats(daemon.tcp_address());
  std::int64_t next = -1;
  EXPECT_EQ(MemoryState::snapshot_dims(snap, &next), kDims);
  EXPECT_EQ(next, 3);
  MemoryState local(kDims);
  EXPECT_EQ(local.restore(snap), 3);
  EXPECT_EQ(before["state_checksum"], local.checksum());

  write_batches(c, 3, 5);
  EXPECT_NE(stats(daemon.tcp_address())["state_checksum"], before["state_checksum"]);
  EXPECT_EQ(c.restore(snap), 3);
  const auto after = stats(daemon.tcp_address());
  EXPECT_EQ(after["state_checksum"], before["state_checksum"]);
  EXPECT_EQ(after["next_batch"], 3);
  EXPECT_EQ(c.snapshot(), snap);
  write_batches(c, 3, 4);  // the sequence continues from the restored batch

  // A corrupt snapshot is refused whole.
  const auto mid = stats(daemon.tcp_address());
  std::vector<std::byte> corrupt = snap;
  corrupt[100] ^= std::byte{0x40};
  const ProtocolError e = expect_protocol_error([&] { c.restore(corrupt); });
  EXPECT_EQ(e.code(), ErrorCode::kBadSnapshot);
  EXPECT_NE(std::string(e.what()).find("snapshot: CRC-32 mismatch"), std::string::npos);
  EXPECT_EQ(stats(daemon.tcp_address())["state_checksum"], mid["state_checksum"]);
  EXPECT_EQ(stats(daemon.tcp_address())["next_batch"], 4);
}

TEST(DaemonSnapshot, FileSnapshotRestoresAndRefusesBadPaths) {
  DaemonProcess daemon(flags());
  TempDir dir;
  DaemonClient c(daemon.unix_address(), 20s);
  c.hello(make_hello(kDims));
  write_batches(c, 0, 2);
  const std::vector<std::byte> inline_snap = c.snapshot();
  const std::string file = dir.path + "/group0.snap";
  EXPECT_EQ(c.snapshot_to_file(file), inline_snap.size());
  EXPECT_EQ(read_whole_file(file), inline_snap);
  write_batches(c, 2, 4);
  EXPECT_EQ(c.restore_from_file(file), 2);
  EXPECT_EQ(c.snapshot(), inline_snap);

  const std::string bad = dir.path + "/no-such-dir/x.snap";
  ProtocolError e = expect_protocol_error([&] { c.snapshot_to_file(bad); });
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  EXPECT_NE(std::string(e.what()).find(": " + bad + ": cannot create a temporary file"),
            std::string::npos)
      << e.what();
  e = expect_protocol_error([&] { c.restore_from_file(bad); });
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  EXPECT_NE(std::string(e.what()).find(bad + ": cannot open: No such file or directory"),
            std::string::npos)
      << e.what();
  EXPECT_EQ(c.snapshot(), inline_snap);
}

TEST(DaemonSnapshot, RestoreAbortsParkedReads) {
  DaemonProcess daemon(flags());
  DaemonClient c(daemon.tcp_address(), 20s);
  c.hello(make_hello(kDims));
  write_batches(c, 0, 3);
  const auto snap = c.snapshot();
  auto parked = c.read_async(10, {1});
  wait_for_stats(daemon.tcp_address(), [](const auto& j) { return j["pending_reads"] == 1; });
  DaemonClient other(daemon.tcp_address(), 20s);
  other.hello(make_hello(kDims));
  EXPECT_EQ(other.restore(snap), 3);
  const ProtocolError e = expect_protocol_error([&] { parked.get(); });
  EXPECT_EQ(e.code(), ErrorCode::kAborted);
  EXPECT_NE(std::string(e.what()).find(
                "READ for batch 10 aborted: the state was restored (next_batch 3)"),
            std::string::npos)
      << e.what();
}

TEST(DaemonSnapshot, SigtermWritesTheExitSnapshotAndARestartRestoresIt) {
  TempDir dir;
  const std::string file = dir.path + "/exit.snap";
  std::vector<std::string> args = flags();
  args.insert(args.end(), {"--snapshot-on-exit", file});
  DaemonProcess first(args);
  std::vector<std::byte> snap;
  {
    DaemonClient c(first.tcp_address(), 20s);
    c.hello(make_hello(kDims));
    write_batches(c, 0, 4);
    snap = c.snapshot();
    // A READ parked at shutdown is told so.
    auto parked = c.read_async(9, {0});
    wait_for_stats(first.tcp_address(), [](const auto& j) { return j["pending_reads"] == 1; });
    EXPECT_EQ(first.stop(SIGTERM), 0) << first.log();
    const ProtocolError e = expect_protocol_error([&] { parked.get(); });
    EXPECT_EQ(e.code(), ErrorCode::kShuttingDown);
    EXPECT_NE(std::string(e.what()).find("the daemon is stopping (SIGTERM)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(read_whole_file(file), snap);
  EXPECT_FALSE(std::filesystem::exists(first.unix_path()));  // removed at exit

  // No dimension flags: the snapshot brings them, with its next_batch.
  DaemonProcess second({"--restore", file});
  const auto s = stats(second.tcp_address());
  EXPECT_EQ(s["dims"]["num_nodes"], 8);
  EXPECT_EQ(s["dims"]["memory_dim"], 4);
  EXPECT_EQ(s["dims"]["mail_dim"], 8);
  EXPECT_EQ(s["dims"]["mailbox_size"], 2);
  EXPECT_EQ(s["next_batch"], 4);
  MemoryState local(kDims);
  local.restore(snap);
  EXPECT_EQ(s["state_checksum"], local.checksum());
  DaemonClient c(second.unix_address(), 20s);
  EXPECT_EQ(c.hello(make_hello(kDims)).next_batch, 4);
  EXPECT_EQ(c.snapshot(), snap);
}

TEST(DaemonReset, WorldSizeOneResetsTwiceInARow) {
  DaemonProcess daemon(flags());
  DaemonClient c(daemon.tcp_address(), 20s);
  c.hello(make_hello(kDims));
  write_batches(c, 0, 2);
  EXPECT_EQ(c.reset(), 0);
  EXPECT_EQ(c.reset(), 0);  // DistTGL issue #2: the second reset of world size 1 hung
  const auto s = stats(daemon.tcp_address());
  EXPECT_EQ(s["next_batch"], 0);
  EXPECT_EQ(s["pending_resets"], 0);
  EXPECT_EQ(s["state_checksum"], MemoryState(kDims).checksum());
  EXPECT_EQ(s["requests"]["RESET"]["ok"], 2);
  write_batches(c, 0, 1);  // the next epoch starts at batch 0
}

TEST(DaemonReset, TheBarrierCompletesWhenEveryRankAsked) {
  DaemonProcess daemon(flags("i=2,j=1,k=1"));
  const Layout two{2, 1, 1};
  DaemonClient rank0(daemon.tcp_address(), 20s);
  DaemonClient rank1(daemon.unix_address(), 20s);
  rank0.hello(make_hello(kDims, 0, two));
  rank1.hello(make_hello(kDims, 1, two));
  const OwnedRows rows = make_rows(2, kDims, 0, 0);
  EXPECT_EQ(rank0.write(0, 0, {1, 2}, rows.view()), 0);  // buffered shard
  auto parked = rank1.read_async(1, {1});

  auto first = std::async(std::launch::async, [&] { return rank0.reset(); });
  EXPECT_EQ(first.wait_for(300ms), std::future_status::timeout);
  EXPECT_EQ(stats(daemon.tcp_address())["pending_resets"], 1);
  EXPECT_EQ(rank1.reset(), 0);
  EXPECT_EQ(first.get(), 0);
  const ProtocolError e = expect_protocol_error([&] { parked.get(); });
  EXPECT_EQ(e.code(), ErrorCode::kAborted);
  EXPECT_NE(std::string(e.what()).find("READ for batch 1 aborted: the memory group was RESET"),
            std::string::npos);
  const auto s = stats(daemon.tcp_address());
  EXPECT_EQ(s["next_batch"], 0);
  EXPECT_EQ(s["shards_received"], nlohmann::json::array());  // the buffered shard is dropped
  EXPECT_EQ(s["state_checksum"], MemoryState(kDims).checksum());
}

TEST(DaemonReset, AMissingRankTimesOutNamed) {
  DaemonProcess daemon(flags("i=2,j=1,k=1", "1"));
  DaemonClient rank0(daemon.tcp_address(), 20s);
  rank0.hello(make_hello(kDims, 0, Layout{2, 1, 1}));
  const double start = monotonic_seconds();
  const ProtocolError e = expect_protocol_error([&] { rank0.reset(); });
  EXPECT_GE(monotonic_seconds() - start, 0.9);
  EXPECT_EQ(e.code(), ErrorCode::kTimeout);
  EXPECT_EQ(std::string(e.what()),
            "memory daemon " + rank0.address() +
                ": RESET waited 1 s for every rank of memory group 0; ranks that have not "
                "asked: 1");
  EXPECT_EQ(stats(daemon.tcp_address())["pending_resets"], 0);
}

TEST(DaemonReset, AParkedReadTimesOutNamingTheMissingShards) {
  DaemonProcess daemon(flags("i=2,j=1,k=1", "1"));
  DaemonClient c(daemon.tcp_address(), 20s);
  c.hello(make_hello(kDims, 1, Layout{2, 1, 1}));
  const OwnedRows rows = make_rows(1, kDims, 0, 0);
  EXPECT_EQ(c.write(0, 1, {3}, rows.view()), 0);
  const ProtocolError e = expect_protocol_error([&] { c.read_async(1, {3}).get(); });
  EXPECT_EQ(e.code(), ErrorCode::kTimeout);
  EXPECT_EQ(std::string(e.what()),
            "memory daemon " + c.address() +
                ": READ for batch 1 waited 1 s; writes of batch 0 have not arrived (shards "
                "received: [1] of 2; a trainer sends a READ up to its pipeline depth of batches early, "
                "so --wait-timeout must exceed that many batches' compute time)");
}

TEST(DaemonHello, TheFirstTrainerHelloFixesTheDimensions) {
  DaemonProcess daemon({"--wait-timeout", "5"});
  const Dimensions none{};
  {
    DaemonClient monitor(daemon.tcp_address(), 10s);
    const HelloOk ok = monitor.hello(make_hello(none, 0));
    EXPECT_EQ(ok.dims, none);
    const ProtocolError e = expect_protocol_error([&] { monitor.read_async(0, {1}).get(); });
    EXPECT_EQ(e.code(), ErrorCode::kBadRowSize);
    EXPECT_NE(std::string(e.what()).find("READ: the daemon has no dimensions yet"),
              std::string::npos);
  }
  const Dimensions partial{8, 4, 0, 2};
  {
    DaemonClient bad(daemon.tcp_address(), 10s);
    const ProtocolError e = expect_protocol_error([&] { bad.hello(make_hello(partial)); });
    EXPECT_EQ(e.code(), ErrorCode::kMismatch);
    EXPECT_NE(std::string(e.what()).find("mail_dim: the daemon has no dimensions yet"),
              std::string::npos);
  }
  DaemonClient trainer(daemon.tcp_address(), 10s);
  EXPECT_EQ(trainer.hello(make_hello(kDims)).dims, kDims);
  DaemonClient late_monitor(daemon.unix_address(), 10s);
  EXPECT_EQ(late_monitor.hello(make_hello(none)).dims, kDims);
  const auto s = stats(daemon.tcp_address());
  EXPECT_EQ(s["dims"]["num_nodes"], 8);
  EXPECT_EQ(s["job"], "test-job");
  EXPECT_EQ(s["layout"], (nlohmann::json{{"i", 1}, {"j", 1}, {"k", 1}}));
  EXPECT_EQ(s["dataset_fingerprint"], 0xABCDEF);
  EXPECT_EQ(s["state_bytes"], MemoryState(kDims).state_bytes());
  for (const char* key : {"version", "memory_group", "next_batch", "shards_received",
                          "pending_reads", "pending_resets", "connected_clients", "state_checksum",
                          "requests", "bytes_in", "bytes_out"}) {
    EXPECT_TRUE(s.contains(key)) << key;
  }
  DaemonClient other(daemon.tcp_address(), 10s);
  const ProtocolError e = expect_protocol_error([&] {
    other.hello(make_hello(Dimensions{8, 4, 6, 2}));
  });
  EXPECT_NE(std::string(e.what()).find("mail_dim: daemon has 8, trainer sent 6"),
            std::string::npos);
}

}  // namespace
}  // namespace disttgl::memory_daemon::test

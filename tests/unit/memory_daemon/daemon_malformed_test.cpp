// A running disttgl-memory-daemon against every malformed or out-of-order request: each gets
// its ERROR (code and message), the connection is closed exactly when the protocol says so,
// and afterwards a fresh client is served and STATS shows the state and next_batch unchanged.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>

#include "../../support/daemon_harness.hpp"

namespace disttgl::memory_daemon::test {
namespace {

using namespace std::chrono_literals;

const Dimensions kDims{16, 4, 8, 2};

std::vector<std::string> daemon_flags() {
  return {"--nodes",        "16", "--memory-dim", "4",           "--mail-dim", "8",
          "--mailbox-size", "2",  "--layout",     "i=1,j=1,k=1", "--job",      "test-job",
          "--wait-timeout", "1"};
}

class DaemonMalformed : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon = std::make_unique<DaemonProcess>(daemon_flags());
    DaemonClient c(daemon->tcp_address(), 10s);
    c.hello(make_hello(kDims));
    const OwnedRows rows = make_rows(3, kDims, 0, 0);
    ASSERT_EQ(c.write(0, 0, {1, 5, 9}, rows.view()), 1);
    before = stats(daemon->tcp_address());
    ASSERT_EQ(before["next_batch"], 1);
    ASSERT_NE(before["state_checksum"], 0);
  }

  // A raw connection that said HELLO.
  RawConnection hello_raw() {
    RawConnection raw = RawConnection::tcp(daemon->port());
    raw.send_frame(MsgType::kHello, 1, encode_hello(make_hello(kDims)));
    const auto reply = raw.receive();
    EXPECT_TRUE(reply && reply->header.type == MsgType::kHelloOk);
    return raw;
  }

  // A fresh client is served (it reads what SetUp wrote) and nothing changed.
  void expect_served_and_unchanged() {
    DaemonClient c(daemon->unix_address(), 10s);
    const HelloOk ok = c.hello(make_hello(kDims));
    EXPECT_EQ(ok.next_batch, 1);
    const ReadResult r = c.read_async(1, {5}).get();
    EXPECT_EQ(r.rows.memory_ts[0], 1.0);  // row 1 of batch 0's write
    EXPECT_EQ(r.rows.mail_eid[1], 1);
    const auto after = stats(daemon->tcp_address());
    EXPECT_EQ(after["state_checksum"], before["state_checksum"]);
    EXPECT_EQ(after["next_batch"], 1);
    EXPECT_EQ(after["shards_received"], nlohmann::json::array());
  }

  std::unique_ptr<DaemonProcess> daemon;
  nlohmann::json before;
};

TEST_F(DaemonMalformed, BadMagicIsAnsweredWithRequestIdZeroThenClosed) {
  RawConnection raw = RawConnection::tcp(daemon->port());
  raw.send_bytes(RawConnection::header(MsgType::kStats, 77, 0, 0x12345678));
  const ErrorReply e = expect_error(raw.receive(), 0);
  EXPECT_EQ(e.code, ErrorCode::kBadMagic);
  EXPECT_EQ(e.message, "frame header: bad magic 0x12345678 (expected 0x4d475444)");
  EXPECT_TRUE(raw.closed_by_peer(5s));
  expect_served_and_unchanged();
}

TEST_F(DaemonMalformed, BadVersionIsAnsweredThenClosed) {
  RawConnection raw = RawConnection::tcp(daemon->port());
  raw.send_bytes(RawConnection::header(MsgType::kStats, 78, 0, kMagic, 9));
  const ErrorReply e = expect_error(raw.receive(), 78);
  EXPECT_EQ(e.code, ErrorCode::kBadVersion);
  EXPECT_EQ(e.message, "frame header: protocol version 9 is not supported (this side speaks 1)");
  EXPECT_TRUE(raw.closed_by_peer(5s));
  expect_served_and_unchanged();
}

TEST_F(DaemonMalformed, OversizedPayloadLengthIsAnsweredThenClosed) {
  RawConnection raw = RawConnection::tcp(daemon->port());
  raw.send_bytes(RawConnection::header(MsgType::kWrite, 79, std::uint64_t{1} << 31));
  const ErrorReply e = expect_error(raw.receive(), 79);
  EXPECT_EQ(e.code, ErrorCode::kFrameTooLarge);
  EXPECT_EQ(e.message,
            "frame header: payload of 2147483648 bytes is over the limit of 1073741824 bytes");
  EXPECT_TRUE(raw.closed_by_peer(5s));
  const auto s = stats(daemon->tcp_address());
  EXPECT_EQ(s["requests"]["WRITE"]["error"], 1);
  expect_served_and_unchanged();
}

TEST_F(DaemonMalformed, UnknownTypeIsAnsweredAndTheConnectionStays) {
  RawConnection raw = RawConnection::tcp(daemon->port());
  raw.send_frame(static_cast<MsgType>(0x55), 80, std::vector<std::byte>(3));
  ErrorReply e = expect_error(raw.receive(), 80);
  EXPECT_EQ(e.code, ErrorCode::kUnknownType);
  EXPECT_EQ(e.message, "message type 0x0055 is not a request type");
  raw.send_frame(MsgType::kReadOk, 81, {});  // a reply type is not a request either
  e = expect_error(raw.receive(), 81);
  EXPECT_EQ(e.code, ErrorCode::kUnknownType);
  raw.send_frame(MsgType::kStats, 82, {});
  const auto reply = raw.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->header.type, MsgType::kStatsOk);
  const auto s = nlohmann::json::parse(decode_text(reply->payload, "STATS_OK"));
  EXPECT_EQ(s["requests"]["UNKNOWN"]["error"], 1);
  EXPECT_EQ(s["requests"]["READ_OK"]["error"], 1);
  EXPECT_EQ(s["requests"]["HELLO"]["ok"], 1);
  EXPECT_EQ(s["requests"]["WRITE"]["ok"], 1);
  expect_served_and_unchanged();
}

TEST_F(DaemonMalformed, GarbledPayloadsAreMalformedAndTheConnectionStays) {
  RawConnection raw = hello_raw();
  raw.send_frame(MsgType::kRead, 2, std::vector<std::byte>(5));
  ErrorReply e = expect_error(raw.receive(), 2);
  EXPECT_EQ(e.code, ErrorCode::kMalformed);
  EXPECT_EQ(e.message, "READ: batch: needs 8 bytes, 5 left");

  std::vector<std::byte> short_ids = encode_read(1, std::vector<std::int64_t>{1, 2, 3});
  short_ids.resize(short_ids.size() - 8);  // n says 3, two ids follow
  raw.send_frame(MsgType::kRead, 3, short_ids);
  e = expect_error(raw.receive(), 3);
  EXPECT_EQ(e.code, ErrorCode::kMalformed);
  EXPECT_EQ(e.message, "READ: nodes: needs 24 bytes, 16 left in the payload");

  std::vector<std::byte> long_job = encode_hello(make_hello(kDims));
  const std::uint32_t huge = 10000;
  std::memcpy(long_job.data(), &huge, 4);
  raw.send_frame(MsgType::kHello, 4, long_job);
  e = expect_error(raw.receive(), 4);
  EXPECT_EQ(e.code, ErrorCode::kMalformed);
  EXPECT_EQ(e.message, "HELLO: job: length 10000 over the limit of 4096");

  raw.send_frame(MsgType::kStats, 5, std::vector<std::byte>(2));
  e = expect_error(raw.receive(), 5);
  EXPECT_EQ(e.message, "STATS: payload must be empty, got 2 bytes");

  raw.send_frame(MsgType::kRead, 6, encode_read(1, std::vector<std::int64_t>{9}));
  const auto ok = raw.receive();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->header.type, MsgType::kReadOk);
  EXPECT_EQ(decode_read_ok(ok->payload, kDims).memory_ts[0], 2.0);
  expect_served_and_unchanged();
}

TEST_F(DaemonMalformed, NodeIdsOutOfRangeChangeNothing) {
  RawConnection raw = hello_raw();
  raw.send_frame(MsgType::kRead, 2, encode_read(1, std::vector<std::int64_t>{3, 16}));
  ErrorReply e = expect_error(raw.receive(), 2);
  EXPECT_EQ(e.code, ErrorCode::kNodeOutOfRange);
  EXPECT_EQ(e.message, "READ node id 16 at position 1 is outside [0, 16)");

  const OwnedRows rows = make_rows(2, kDims, 1, 0);
  raw.send_frame(MsgType::kWrite, 3,
                 encode_write(1, 0, std::vector<std::int64_t>{2, -1}, rows.view(), kDims));
  e = expect_error(raw.receive(), 3);
  EXPECT_EQ(e.code, ErrorCode::kNodeOutOfRange);
  EXPECT_EQ(e.message, "WRITE node id -1 at position 1 is outside [0, 16)");
  expect_served_and_unchanged();
}

TEST_F(DaemonMalformed, WrongRowSizeChangesNothing) {
  RawConnection raw = hello_raw();
  const Dimensions narrow{16, 3, 8, 2};
  const OwnedRows rows = make_rows(2, narrow, 1, 0);
  raw.send_frame(MsgType::kWrite, 2,
                 encode_write(1, 0, std::vector<std::int64_t>{2, 3}, rows.view(), narrow));
  const ErrorReply e = expect_error(raw.receive(), 2);
  EXPECT_EQ(e.code, ErrorCode::kBadRowSize);
  EXPECT_EQ(e.message,
            "WRITE: rows of 2 nodes need 144 bytes for memory_dim 4 and mail_dim 8, got 136");
  expect_served_and_unchanged();
}

TEST_F(DaemonMalformed, WritesOutOfBatchOrderChangeNothing) {
  DaemonClient c(daemon->tcp_address(), 10s);
  c.hello(make_hello(kDims));
  const OwnedRows rows = make_rows(1, kDims, 5, 0);
  const auto expect_order_error = [&](std::int64_t batch, std::int32_t shard,
                                      const std::string& message) {
    try {
      c.write(batch, shard, {2}, rows.view());
      ADD_FAILURE() << "WRITE batch " << batch << " shard " << shard << " accepted";
    } catch (const ProtocolError& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBatchOrder);
      EXPECT_EQ(std::string(e.what()), "memory daemon " + c.address() + ": " + message);
    }
  };
  expect_order_error(5, 0, "WRITE for batch 5 (shard 0), but the daemon expects batch 1");
  expect_order_error(0, 0, "WRITE for batch 0 (shard 0), but the daemon expects batch 1");
  expect_order_error(1, 1, "WRITE shard 1 is outside [0, 1) for layout i=1,j=1,k=1");
  const auto s = stats(daemon->tcp_address());
  EXPECT_EQ(s["requests"]["WRITE"]["ok"], 1);
  EXPECT_EQ(s["requests"]["WRITE"]["error"], 3);
  expect_served_and_unchanged();
}

TEST_F(DaemonMalformed, ReadForAPastBatchIsRefused) {
  RawConnection raw = hello_raw();
  raw.send_frame(MsgType::kRead, 2, encode_read(0, std::vector<std::int64_t>{1}));
  const ErrorReply e = expect_error(raw.receive(), 2);
  EXPECT_EQ(e.code, ErrorCode::kBatchOrder);
  EXPECT_EQ(e.message, "READ for batch 0 arrived after batch 0 was written (next_batch is 1)");
  expect_served_and_unchanged();
}

TEST_F(DaemonMalformed, RequestsBeforeHelloAreRefusedAndTheConnectionStays) {
  RawConnection raw = RawConnection::unix_socket(daemon->unix_path());
  const std::pair<MsgType, std::string> cases[] = {{MsgType::kRead, "READ"},
                                                   {MsgType::kWrite, "WRITE"},
                                                   {MsgType::kReset, "RESET"},
                                                   {MsgType::kSnapshot, "SNAPSHOT"},
                                                   {MsgType::kRestore, "RESTORE"}};
  std::uint64_t id = 10;
  for (const auto& [type, name] : cases) {
    raw.send_frame(type, id, encode_read(1, std::vector<std::int64_t>{1}));
    const ErrorReply e = expect_error(raw.receive(), id++);
    EXPECT_EQ(e.code, ErrorCode::kNoHello);
    EXPECT_EQ(e.message, name + " before HELLO: say HELLO first");
  }
  raw.send_frame(MsgType::kHello, id, encode_hello(make_hello(kDims)));
  auto reply = raw.receive();
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->header.type, MsgType::kHelloOk);
  const HelloOk ok = decode_hello_ok(reply->payload);
  EXPECT_EQ(ok.dims, kDims);
  EXPECT_EQ(ok.next_batch, 1);
  EXPECT_EQ(ok.daemon_version.rfind("disttgl-memory-daemon ", 0), 0u);
  raw.send_frame(MsgType::kRead, id + 1, encode_read(1, std::vector<std::int64_t>{1}));
  reply = raw.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->header.type, MsgType::kReadOk);
  expect_served_and_unchanged();
}

struct HelloCase {
  std::string label;
  Hello hello;
  std::string message;
};

void PrintTo(const HelloCase& c, std::ostream* os) { *os << c.label; }

class DaemonHelloMismatch : public DaemonMalformed,
                            public ::testing::WithParamInterface<HelloCase> {};

TEST_P(DaemonHelloMismatch, NamesTheFieldAndClosesTheConnection) {
  RawConnection raw = RawConnection::tcp(daemon->port());
  raw.send_frame(MsgType::kHello, 5, encode_hello(GetParam().hello));
  const ErrorReply e = expect_error(raw.receive(), 5);
  EXPECT_EQ(e.code, ErrorCode::kMismatch);
  EXPECT_EQ(e.message, GetParam().message);
  EXPECT_TRUE(raw.closed_by_peer(5s));
  expect_served_and_unchanged();
}

Hello with(const std::function<void(Hello&)>& change) {
  Hello h = make_hello(kDims);
  change(h);
  return h;
}

INSTANTIATE_TEST_SUITE_P(
    Fields, DaemonHelloMismatch,
    ::testing::Values(
        HelloCase{"memory_dim", with([](Hello& h) { h.dims.memory_dim = 5; }),
                  "memory_dim: daemon has 4, trainer sent 5"},
        HelloCase{"mailbox_size", with([](Hello& h) { h.dims.mailbox_size = 1; }),
                  "mailbox_size: daemon has 2, trainer sent 1"},
        HelloCase{"fingerprint", with([](Hello& h) { h.dataset_fingerprint = 0x123; }),
                  "dataset_fingerprint: daemon has 0x0000000000abcdef, trainer sent "
                  "0x0000000000000123"},
        HelloCase{"layout", with([](Hello& h) { h.layout.i = 2; }),
                  "layout: daemon has i=1,j=1,k=1, trainer sent i=2,j=1,k=1"},
        HelloCase{"job", with([](Hello& h) { h.job = "other"; }),
                  "job: daemon has 'test-job', trainer sent 'other'"},
        HelloCase{"rank", with([](Hello& h) { h.rank = 1; }),
                  "rank: 1 is outside [0, 1) for layout i=1,j=1,k=1 (i*j ranks per memory "
                  "group)"}),
    [](const ::testing::TestParamInfo<HelloCase>& p) { return p.param.label; });

TEST_F(DaemonMalformed, HalfAFrameThenCloseLeavesTheDaemonServing) {
  {
    RawConnection raw = RawConnection::tcp(daemon->port());
    const auto head = RawConnection::header(MsgType::kStats, 9, 0);
    raw.send_bytes(std::vector<std::byte>(head.begin(), head.begin() + 10));
  }
  expect_served_and_unchanged();
}

TEST_F(DaemonMalformed, AStalledFrameTimesOutWhileOthersAreServed) {
  RawConnection raw = hello_raw();
  std::vector<std::byte> frame = RawConnection::header(MsgType::kRead, 9, 24);
  frame.resize(frame.size() + 6);  // 6 of the 24 payload bytes, then silence
  raw.send_bytes(frame);
  const double start = monotonic_seconds();
  expect_served_and_unchanged();  // while the stalled frame is pending
  EXPECT_TRUE(raw.closed_by_peer(5s));
  EXPECT_GE(monotonic_seconds() - start, 0.9);  // --wait-timeout 1
  EXPECT_NE(daemon->log().find("has not finished (partial-frame timeout)"), std::string::npos)
      << daemon->log();
}

}  // namespace
}  // namespace disttgl::memory_daemon::test

// MemoryState: LocalMemoryStore's read/write semantics on plain arrays (last occurrence, the
// mailbox ring and its rotation on read), snapshot/restore bit-exactness and the refusal of
// bad snapshots with the state unchanged, and the atomic file helpers.
#include "disttgl/memory_daemon/memory_state.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

namespace disttgl::memory_daemon {
namespace {

// Owned rows of a READ (slots = S) or a WRITE (slots = 1).
struct Rows {
  std::int64_t n = 0, slots = 0;
  std::vector<float> memory, mail;
  std::vector<double> memory_ts, mail_ts;
  std::vector<std::int64_t> mail_eid;
  Rows(std::int64_t rows, std::int64_t s, const Dimensions& d)
      : n(rows),
        slots(s),
        memory(static_cast<std::size_t>(rows * d.memory_dim)),
        mail(static_cast<std::size_t>(rows * s * d.mail_dim)),
        memory_ts(static_cast<std::size_t>(rows)),
        mail_ts(static_cast<std::size_t>(rows * s)),
        mail_eid(static_cast<std::size_t>(rows * s)) {}
  MutableRows out() {
    return {memory.data(), memory_ts.data(), mail.data(), mail_ts.data(), mail_eid.data()};
  }
  RowsView view() const { return {n, slots, memory, memory_ts, mail, mail_ts, mail_eid}; }
};

const Dimensions kDims{5, 2, 3, 3};  // N=5, d_mem=2, d_mail=3, S=3

// Write rows whose every value derives from `value`: memory {value, value+0.5}, memory_ts
// value, mail {-value, -value-1, -value-2}, mail_ts value+0.25, mail_eid (i64) value.
Rows write_rows(const std::vector<double>& values) {
  Rows r(static_cast<std::int64_t>(values.size()), 1, kDims);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    r.memory[2 * i] = static_cast<float>(v);
    r.memory[2 * i + 1] = static_cast<float>(v + 0.5);
    r.memory_ts[i] = v;
    for (std::size_t k = 0; k < 3; ++k)
      r.mail[3 * i + k] = static_cast<float>(-v - static_cast<double>(k));
    r.mail_ts[i] = v + 0.25;
    r.mail_eid[i] = static_cast<std::int64_t>(v);
  }
  return r;
}

Rows read(const MemoryState& s, const std::vector<std::int64_t>& nodes) {
  Rows r(static_cast<std::int64_t>(nodes.size()), s.dims().mailbox_size, s.dims());
  s.read(nodes, r.out());
  return r;
}

TEST(MemoryState, FreshStateIsZeroWithEmptyMailboxes) {
  const MemoryState s(kDims);
  const Rows r = read(s, {0, 4});
  EXPECT_EQ(r.memory, std::vector<float>(4, 0.0F));
  EXPECT_EQ(r.memory_ts, std::vector<double>(2, 0.0));
  EXPECT_EQ(r.mail, std::vector<float>(18, 0.0F));
  EXPECT_EQ(r.mail_ts, std::vector<double>(6, 0.0));
  EXPECT_EQ(r.mail_eid, std::vector<std::int64_t>(6, -1));
  EXPECT_EQ(s.state_bytes(), 5u * (2 * 4 + 8 + 3 * (3 * 4 + 8 + 8) + 8));
}

TEST(MemoryState, WriteKeepsEachNodesLastOccurrenceAndAppendsOneMail) {
  MemoryState s(kDims);
  const std::vector<std::int64_t> nodes{1, 3, 1};
  s.write(nodes, write_rows({10, 20, 30}).view());
  const Rows r = read(s, {1, 3, 0});
  // Node 1 is written by its last occurrence (position 2, value 30), node 3 by value 20.
  EXPECT_EQ(r.memory, (std::vector<float>{30.0F, 30.5F, 20.0F, 20.5F, 0.0F, 0.0F}));
  EXPECT_EQ(r.memory_ts, (std::vector<double>{30, 20, 0}));
  // One mail each, the newest in the last (chronological) slot; older slots empty.
  EXPECT_EQ(r.mail_eid, (std::vector<std::int64_t>{-1, -1, 30, -1, -1, 20, -1, -1, -1}));
  EXPECT_EQ(r.mail_ts, (std::vector<double>{0, 0, 30.25, 0, 0, 20.25, 0, 0, 0}));
  const std::vector<float> node1_newest(r.mail.begin() + 6, r.mail.begin() + 9);
  EXPECT_EQ(node1_newest, (std::vector<float>{-30.0F, -31.0F, -32.0F}));
  EXPECT_EQ(s.next_mail_pos(), (std::vector<std::int64_t>{0, 1, 0, 1, 0}));
}

TEST(MemoryState, ReadRotatesTheRingOldestFirst) {
  MemoryState s(kDims);
  const std::vector<std::int64_t> node{2};
  const std::vector<std::vector<std::int64_t>> expected{
      {-1, -1, 10}, {-1, 10, 11}, {10, 11, 12}, {11, 12, 13}, {12, 13, 14}};
  for (std::size_t w = 0; w < expected.size(); ++w) {
    s.write(node, write_rows({10.0 + static_cast<double>(w)}).view());
    const Rows r = read(s, {2});
    EXPECT_EQ(r.mail_eid, expected[w]) << "after write " << w + 1;
    EXPECT_EQ(r.memory_ts[0], 10.0 + static_cast<double>(w));
  }
  // Raw ring after 5 appends to S=3: slots hold 13, 14, 12 and slot 2 is the oldest.
  EXPECT_EQ(s.next_mail_pos()[2], 2);
  EXPECT_EQ(std::vector<std::int64_t>(s.mail_eid().begin() + 6, s.mail_eid().begin() + 9),
            (std::vector<std::int64_t>{13, 14, 12}));
  const Rows r = read(s, {2, 2});  // duplicates read the same row twice
  EXPECT_EQ(r.mail_ts, (std::vector<double>{12.25, 13.25, 14.25, 12.25, 13.25, 14.25}));
  EXPECT_EQ(std::vector<float>(r.mail.begin(), r.mail.begin() + 9),
            (std::vector<float>{-12, -13, -14, -13, -14, -15, -14, -15, -16}));
}

// A map-based model of the semantics, checked against the arrays on random duplicate-heavy
// writes.
TEST(MemoryState, MatchesAReferenceModelOnRandomWrites) {
  MemoryState s(kDims);
  std::map<std::int64_t, std::vector<std::int64_t>> mails;  // node -> eids, oldest first
  std::map<std::int64_t, double> ts;
  std::mt19937_64 rng(7);
  double value = 1;
  for (int w = 0; w < 50; ++w) {
    std::vector<std::int64_t> nodes(1 + rng() % 8);
    std::vector<double> values;
    for (auto& v : nodes) {
      v = static_cast<std::int64_t>(rng() % 5);
      values.push_back(value++);
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      bool last = true;
      for (std::size_t j = i + 1; j < nodes.size(); ++j) last = last && nodes[j] != nodes[i];
      if (!last) continue;
      ts[nodes[i]] = values[i];
      auto& m = mails[nodes[i]];
      m.push_back(static_cast<std::int64_t>(values[i]));
      if (m.size() > 3) m.erase(m.begin());
    }
    s.write(nodes, write_rows(values).view());
  }
  for (std::int64_t v = 0; v < 5; ++v) {
    const Rows r = read(s, {v});
    std::vector<std::int64_t> want(3 - mails[v].size(), -1);
    want.insert(want.end(), mails[v].begin(), mails[v].end());
    EXPECT_EQ(r.mail_eid, want) << "node " << v;
    EXPECT_EQ(r.memory_ts[0], ts[v]) << "node " << v;
  }
}

TEST(MemoryState, RangeCheckAndConstructorRefusals) {
  const MemoryState s(kDims);
  EXPECT_EQ(s.first_out_of_range(std::vector<std::int64_t>{0, 4, 2}), -1);
  EXPECT_EQ(s.first_out_of_range(std::vector<std::int64_t>{0, 5, -1}), 1);
  EXPECT_EQ(s.first_out_of_range(std::vector<std::int64_t>{-1}), 0);
  try {
    MemoryState bad(Dimensions{5, 0, 3, 3});
    FAIL() << "memory_dim 0 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "memory state: memory_dim must be >= 1, got 0");
  }
}

MemoryState busy_state() {
  MemoryState s(kDims);
  s.write(std::vector<std::int64_t>{0, 1, 2, 3, 4, 1}, write_rows({1, 2, 3, 4, 5, 6}).view());
  s.write(std::vector<std::int64_t>{4, 4, 2}, write_rows({7, 8, 9}).view());
  return s;
}

TEST(MemoryState, SnapshotRestoreIsBitExact) {
  const MemoryState a = busy_state();
  const std::vector<std::byte> bytes = a.snapshot(42);
  ASSERT_EQ(bytes.size(), 56 + a.state_bytes() + 4);
  EXPECT_EQ(std::memcmp(bytes.data(), "DTGLSNAP", 8), 0);
  std::int64_t next_batch = -1;
  EXPECT_EQ(MemoryState::snapshot_dims(bytes, &next_batch), kDims);
  EXPECT_EQ(next_batch, 42);
  std::uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
  EXPECT_EQ(stored, crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size() - 4));

  MemoryState b(kDims);
  EXPECT_EQ(b.restore(bytes), 42);
  EXPECT_EQ(b.snapshot(42), bytes);
  EXPECT_EQ(b.checksum(), a.checksum());
  EXPECT_EQ(b.memory(), a.memory());
  EXPECT_EQ(b.mail(), a.mail());
  EXPECT_EQ(b.mail_eid(), a.mail_eid());
  EXPECT_EQ(b.next_mail_pos(), a.next_mail_pos());
  b.reset();
  EXPECT_EQ(b.checksum(), MemoryState(kDims).checksum());
}

// Expects restore(bytes) to throw kBadSnapshot containing `what`, with `s` unchanged.
void expect_refused(MemoryState& s, const std::vector<std::byte>& bytes, const std::string& what) {
  const std::uint32_t before = s.checksum();
  try {
    s.restore(bytes);
    ADD_FAILURE() << "restore accepted bytes that should fail with: " << what;
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadSnapshot);
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.checksum(), before);
}

TEST(MemoryState, RestoreRefusesBadSnapshotsAndKeepsTheState) {
  MemoryState s = busy_state();
  const std::vector<std::byte> good = MemoryState(kDims).snapshot(0);

  std::vector<std::byte> corrupt = good;
  corrupt[60] ^= std::byte{0x01};
  expect_refused(s, corrupt, "CRC-32 mismatch");

  const Dimensions other{6, 2, 3, 3};
  expect_refused(s, MemoryState(other).snapshot(0),
                 "dimensions are num_nodes 6, memory_dim 2, mail_dim 3, mailbox_size 3, the "
                 "daemon has num_nodes 5");

  std::vector<std::byte> truncated = good;
  truncated.pop_back();
  expect_refused(s, truncated,
                 "length is " + std::to_string(good.size() - 1) + " bytes, expected " +
                     std::to_string(good.size()));
  expect_refused(s, std::vector<std::byte>(good.begin(), good.begin() + 20), "truncated: 20 bytes");

  std::vector<std::byte> magic = good;
  magic[0] = std::byte{'X'};
  expect_refused(s, magic, "magic is not DTGLSNAP");

  // A ring position outside [0, S) with a valid CRC: the last check before any copy.
  std::vector<std::byte> ring = good;
  const std::int64_t three = 3;
  std::memcpy(ring.data() + ring.size() - 4 - 5 * 8, &three, 8);
  const auto crc = static_cast<std::uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(ring.data()), ring.size() - 4));
  std::memcpy(ring.data() + ring.size() - 4, &crc, 4);
  expect_refused(s, ring, "next_mail_pos of node 0 is 3, outside [0, 3)");
}

TEST(MemoryState, AtomicFileWriteAndRead) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("disttgl-state-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "occupied");
  const std::vector<std::byte> bytes = busy_state().snapshot(3);
  write_file_atomic((dir / "snap").string(), bytes);
  EXPECT_EQ(read_file((dir / "snap").string()), bytes);

  // Renaming over a directory fails: the error names the path and no temporary is left.
  try {
    write_file_atomic((dir / "occupied").string(), bytes);
    ADD_FAILURE() << "write over a directory succeeded";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_EQ(std::string(e.what()).rfind((dir / "occupied").string() + ": rename: ", 0), 0u)
        << e.what();
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"occupied", "snap"}));

  try {
    read_file((dir / "missing").string());
    ADD_FAILURE() << "read of a missing file succeeded";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_EQ(std::string(e.what()),
              (dir / "missing").string() + ": cannot open: No such file or directory");
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace disttgl::memory_daemon

// libFuzzer target for everything the daemon parses from the network: decode_header and every
// decode_* function, then the MemoryState paths a decoded request drives (WRITE rows applied
// when their ids are in range, READ rows read, RESTORE of inline bytes). Built and run by
// scripts/fuzz.sh (clang++ -fsanitize=fuzzer,address,undefined).
//
// Input layout: byte 0 picks the decoder, the rest is its payload (for the header: the frame
// bytes). Invariants checked beyond "no crash, no UB, no leak": a decoded WRITE fits the
// dimensions it was checked against; a RESTORE either changes nothing (same checksum) or
// yields a state whose snapshot is the restored bytes.
//
// `frame_fuzzer --write-seeds DIR` writes a seed corpus of valid payloads to DIR.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "disttgl/memory_daemon/memory_state.hpp"
#include "disttgl/memory_daemon/protocol.hpp"

namespace md = disttgl::memory_daemon;

namespace {

// Small dimensions so that fuzzed row counts stay cheap.
const md::Dimensions kDims{6, 2, 3, 2};

enum Target : std::uint8_t {
  kHeader,
  kHello,
  kHelloOk,
  kRead,
  kReadOk,
  kWrite,
  kI64,
  kSnapshotRequest,
  kRestoreRequest,
  kSnapshotOk,
  kText,
  kError,
  kAttachShm,
  kReadShm,
  kWriteShm,
  kTargetCount,
};

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "frame_fuzzer: invariant violated: %s\n", what);
    std::abort();
  }
}

md::MemoryState& state() {
  static md::MemoryState s(kDims);
  return s;
}

void apply_write(const md::WriteRequest& w) {
  require(w.rows.n == static_cast<std::int64_t>(w.nodes.size()), "WRITE n");
  require(w.rows.memory.size() == w.nodes.size() * 2 && w.rows.mail.size() == w.nodes.size() * 3,
          "WRITE row sizes");
  md::MemoryState& s = state();
  if (s.first_out_of_range(w.nodes) >= 0) return;
  s.write(w.nodes, w.rows);
  // Reading the written nodes back exercises the ring rotation on the new positions.
  std::vector<std::byte> reply = md::make_read_ok(static_cast<std::int64_t>(w.nodes.size()), kDims);
  s.read(w.nodes, md::read_ok_rows(reply, kDims));
  const md::RowsView back = md::decode_read_ok(reply, kDims);
  require(back.n == static_cast<std::int64_t>(w.nodes.size()), "READ_OK round trip");
}

void apply_restore(const md::RestoreRequest& r) {
  if (!r.inline_bytes) return;  // a path: the daemon would read a file; not fuzzed here
  md::MemoryState& s = state();
  const std::uint32_t before = s.checksum();
  try {
    const std::int64_t next = s.restore(r.bytes);
    const std::vector<std::byte> again = s.snapshot(next);
    require(again.size() == r.bytes.size() &&
                std::memcmp(again.data(), r.bytes.data(), again.size()) == 0,
            "restored state does not snapshot to the same bytes");
  } catch (const md::ProtocolError& e) {
    require(e.code() == md::ErrorCode::kBadSnapshot, "RESTORE error code");
    require(s.checksum() == before, "a refused RESTORE changed the state");
  }
}

void run(Target target, std::span<const std::byte> p) {
  switch (target) {
    case kHeader:
      (void)md::decode_header(p, 1 << 20);
      break;
    case kHello:
      (void)md::decode_hello(p);
      break;
    case kHelloOk:
      (void)md::decode_hello_ok(p);
      break;
    case kRead: {
      const md::ReadRequest r = md::decode_read(p);
      if (r.nodes.size() <= 64 && state().first_out_of_range(r.nodes) < 0) {
        std::vector<std::byte> reply =
            md::make_read_ok(static_cast<std::int64_t>(r.nodes.size()), kDims);
        state().read(r.nodes, md::read_ok_rows(reply, kDims));
      }
      break;
    }
    case kReadOk:
      (void)md::decode_read_ok(p, kDims);
      break;
    case kWrite:
      apply_write(md::decode_write(p, kDims));
      break;
    case kI64:
      (void)md::decode_i64(p, "I64");
      break;
    case kSnapshotRequest:
      (void)md::decode_snapshot_request(p);
      break;
    case kRestoreRequest:
      apply_restore(md::decode_restore_request(p));
      break;
    case kSnapshotOk:
      (void)md::decode_snapshot_ok(p);
      break;
    case kText:
      (void)md::decode_text(p, "TEXT");
      break;
    case kError:
      (void)md::decode_error(p);
      break;
    case kAttachShm:
      (void)md::decode_attach_shm(p);
      break;
    case kReadShm: {
      // The READ inside, and its rows placed into a slot as the daemon does.
      const md::ShmSlotRef ref = md::decode_read_shm(p);
      const md::ReadRequest r = md::decode_read(ref.rest);
      if (r.nodes.size() <= 64 && state().first_out_of_range(r.nodes) < 0) {
        std::vector<std::byte> slot(4096);
        std::uint64_t bytes = 0;
        try {
          state().read(r.nodes, md::place_read_ok(slot, static_cast<std::int64_t>(r.nodes.size()),
                                                  kDims, bytes));
          (void)md::decode_read_ok(std::span<const std::byte>(slot).first(bytes), kDims);
        } catch (const md::ProtocolError& e) {
          require(e.code() == md::ErrorCode::kBadRowSize, "READ_SHM slot error code");
        }
      }
      break;
    }
    case kWriteShm:
      (void)md::decode_write_shm(p);
      break;
    default:
      break;
  }
}

void write_seed(const std::string& dir, const std::string& name, Target target,
                const std::vector<std::byte>& payload) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  const auto t = static_cast<char>(target);
  out.write(&t, 1);
  out.write(reinterpret_cast<const char*>(payload.data()),
            static_cast<std::streamsize>(payload.size()));
}

int write_seeds(const std::string& dir) {
  md::Hello hello;
  hello.job = "seed";
  hello.dims = kDims;
  hello.dataset_fingerprint = 42;
  const std::vector<std::int64_t> nodes{0, 3, 0, 5};
  std::vector<float> memory(8, 1.5F);
  std::vector<double> memory_ts{1, 2, 3, 4};
  std::vector<float> mail(12, -2.0F);
  std::vector<double> mail_ts{1.5, 2.5, 3.5, 4.5};
  std::vector<std::int64_t> mail_eid{10, 11, 12, 13};
  const md::RowsView rows{4, 1, memory, memory_ts, mail, mail_ts, mail_eid};
  md::FrameHeader h;
  h.type = md::MsgType::kRead;
  h.request_id = 7;
  h.payload_bytes = 40;
  std::vector<std::byte> header(md::kHeaderBytes);
  md::encode_header(h, header.data());

  md::MemoryState s(kDims);
  s.write(nodes, rows);
  std::vector<std::byte> read_ok = md::make_read_ok(2, kDims);
  s.read(std::vector<std::int64_t>{0, 5}, md::read_ok_rows(read_ok, kDims));
  md::RestoreRequest restore;
  const std::vector<std::byte> snap = s.snapshot(3);
  restore.bytes = snap;

  write_seed(dir, "header", kHeader, header);
  write_seed(dir, "hello", kHello, md::encode_hello(hello));
  write_seed(dir, "hello_ok", kHelloOk, md::encode_hello_ok({kDims, 3, "disttgl-memory-daemon"}));
  write_seed(dir, "read", kRead, md::encode_read(2, nodes));
  write_seed(dir, "read_ok", kReadOk, read_ok);
  write_seed(dir, "write", kWrite, md::encode_write(0, 0, nodes, rows, kDims));
  write_seed(dir, "i64", kI64, md::encode_i64(5));
  write_seed(dir, "snapshot_inline", kSnapshotRequest, md::encode_snapshot_request({true, ""}));
  write_seed(dir, "snapshot_file", kSnapshotRequest, md::encode_snapshot_request({false, "/x"}));
  write_seed(dir, "restore_inline", kRestoreRequest, md::encode_restore_request(restore));
  write_seed(dir, "snapshot_ok", kSnapshotOk, md::encode_snapshot_ok_inline(snap));
  write_seed(dir, "text", kText, md::encode_text("{\"next_batch\":1}"));
  write_seed(dir, "error", kError, md::encode_error({md::ErrorCode::kTimeout, "late"}));
  write_seed(dir, "attach_shm", kAttachShm, md::encode_attach_shm({4096, 4, 1}));
  write_seed(dir, "read_shm", kReadShm, md::encode_read_shm(1, 2, nodes));
  write_seed(dir, "write_shm", kWriteShm, md::encode_write_shm(4, 512));
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto target = static_cast<Target>(data[0] % kTargetCount);
  // A fresh, 16-byte aligned copy, as the daemon's receive buffers are.
  std::vector<std::byte> payload(size - 1);
  if (size > 1) std::memcpy(payload.data(), data + 1, size - 1);
  try {
    run(target, payload);
  } catch (const md::ProtocolError&) {
    // Refusals are the expected outcome for most inputs.
  }
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  for (int i = 1; i + 1 < *argc; ++i) {
    if (std::string((*argv)[i]) == "--write-seeds") std::exit(write_seeds((*argv)[i + 1]));
  }
  return 0;
}

// The wire codec of protocol.hpp. Fields are little-endian; this build assumes a
// little-endian host (x86-64, aarch64) and checks it at compile time, so arrays of rows are
// copied with memcpy rather than converted element by element.
#include "disttgl/memory_daemon/protocol.hpp"

#include "cat.hpp"

#include <bit>
#include <cstring>
#include <limits>
#include <sstream>

namespace disttgl::memory_daemon {

static_assert(std::endian::native == std::endian::little,
              "the memory-daemon protocol is little-endian; add byte swapping for this host");

using detail::cat;

namespace {

[[noreturn]] void malformed(std::string_view what, const std::string& detail) {
  throw ProtocolError(ErrorCode::kMalformed, cat(what, ": ", detail));
}

// Appends fixed-width values and arrays to a payload.
class Writer {
 public:
  explicit Writer(std::size_t reserve = 0) { out_.reserve(reserve); }
  template <typename T>
  void put(T value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  template <typename T>
  void put_array(std::span<const T> values) {
    const auto* p = reinterpret_cast<const std::byte*>(values.data());
    out_.insert(out_.end(), p, p + values.size_bytes());
  }
  void put_string(std::string_view text) {
    put(static_cast<std::uint32_t>(text.size()));
    const auto* p = reinterpret_cast<const std::byte*>(text.data());
    out_.insert(out_.end(), p, p + text.size());
  }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  std::vector<std::byte> out_;
};

// Reads fixed-width values and array views from a payload, naming the message in errors.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, std::string_view what) : bytes_(bytes), what_(what) {}

  template <typename T>
  T get(std::string_view field) {
    need(sizeof(T), field);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  // A view of `count` elements; the payload buffer must be aligned for T at this offset,
  // which holds for every layout here (8-byte fields first, arrays in decreasing width, and
  // receive buffers from std::vector/new are 16-byte aligned).
  template <typename T>
  std::span<const T> array(std::int64_t count, std::string_view field) {
    if (count < 0) malformed(what_, cat(field, ": negative count ", count));
    const auto n = static_cast<std::uint64_t>(count);
    if (n > (bytes_.size() - pos_) / sizeof(T)) {
      malformed(what_, cat(field, ": needs ", n * sizeof(T), " bytes, ", bytes_.size() - pos_,
                           " left in the payload"));
    }
    const std::byte* p = bytes_.data() + pos_;
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(T) != 0) {
      malformed(what_, cat(field, ": misaligned array"));
    }
    pos_ += n * sizeof(T);
    return {reinterpret_cast<const T*>(p), static_cast<std::size_t>(n)};
  }
  std::string string(std::string_view field) {
    const auto len = get<std::uint32_t>(field);
    if (len > kMaxStringBytes) {
      malformed(what_, cat(field, ": length ", len, " over the limit of ", kMaxStringBytes));
    }
    need(len, field);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }
  std::span<const std::byte> rest() {
    auto r = bytes_.subspan(pos_);
    pos_ = bytes_.size();
    return r;
  }
  void finish() const {
    if (pos_ != bytes_.size()) {
      malformed(what_, cat(bytes_.size() - pos_, " trailing bytes after the last field"));
    }
  }

 private:
  void need(std::size_t n, std::string_view field) const {
    if (bytes_.size() - pos_ < n) {
      malformed(what_, cat(field, ": needs ", n, " bytes, ", bytes_.size() - pos_, " left"));
    }
  }
  std::span<const std::byte> bytes_;
  std::string_view what_;
  std::size_t pos_ = 0;
};

void check_dims(const Dimensions& d) {
  if (d.num_nodes < 1 || d.memory_dim < 1 || d.mail_dim < 1 || d.mailbox_size < 1) {
    throw ProtocolError(ErrorCode::kBadRowSize,
                        "rows cannot be decoded before the dimensions are known (HELLO first)");
  }
}

// 8-byte arrays first, then the f32 ones: every array starts aligned to its element size
// whatever n and the dimensions are, so decoders can hand out views.
void put_rows(Writer& w, const RowsView& r) {
  w.put_array(r.memory_ts);
  w.put_array(r.mail_ts);
  w.put_array(r.mail_eid);
  w.put_array(r.memory);
  w.put_array(r.mail);
}

RowsView get_rows(Reader& rd, std::int64_t n, std::int64_t slots, const Dimensions& d) {
  RowsView r;
  r.n = n;
  r.slots = slots;
  r.memory_ts = rd.array<double>(n, "memory_ts");
  r.mail_ts = rd.array<double>(n * slots, "mail_ts");
  r.mail_eid = rd.array<std::int64_t>(n * slots, "mail_eid");
  r.memory = rd.array<float>(n * d.memory_dim, "memory");
  r.mail = rd.array<float>(n * slots * d.mail_dim, "mail");
  return r;
}

// Largest row count whose arrays fit in a frame, so n * width products cannot overflow.
constexpr std::int64_t kMaxRows = std::int64_t{1} << 40;

}  // namespace

bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

std::string_view type_name(MsgType type) {
  switch (type) {
    case MsgType::kHello: return "HELLO";
    case MsgType::kRead: return "READ";
    case MsgType::kWrite: return "WRITE";
    case MsgType::kReset: return "RESET";
    case MsgType::kSnapshot: return "SNAPSHOT";
    case MsgType::kRestore: return "RESTORE";
    case MsgType::kStats: return "STATS";
    case MsgType::kShutdown: return "SHUTDOWN";
    case MsgType::kAttachShm: return "ATTACH_SHM";
    case MsgType::kReadShm: return "READ_SHM";
    case MsgType::kWriteShm: return "WRITE_SHM";
    case MsgType::kAttachShmOk: return "ATTACH_SHM_OK";
    case MsgType::kReadShmOk: return "READ_SHM_OK";
    case MsgType::kWriteShmOk: return "WRITE_SHM_OK";
    case MsgType::kHelloOk: return "HELLO_OK";
    case MsgType::kReadOk: return "READ_OK";
    case MsgType::kWriteOk: return "WRITE_OK";
    case MsgType::kResetOk: return "RESET_OK";
    case MsgType::kSnapshotOk: return "SNAPSHOT_OK";
    case MsgType::kRestoreOk: return "RESTORE_OK";
    case MsgType::kStatsOk: return "STATS_OK";
    case MsgType::kShutdownOk: return "SHUTDOWN_OK";
    case MsgType::kError: return "ERROR";
  }
  return "UNKNOWN";
}

MsgType reply_type(MsgType request) {
  return static_cast<MsgType>(static_cast<std::uint16_t>(request) | 0x100);
}

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadMagic: return "bad_magic";
    case ErrorCode::kBadVersion: return "bad_version";
    case ErrorCode::kFrameTooLarge: return "frame_too_large";
    case ErrorCode::kMalformed: return "malformed";
    case ErrorCode::kUnknownType: return "unknown_type";
    case ErrorCode::kNoHello: return "no_hello";
    case ErrorCode::kMismatch: return "mismatch";
    case ErrorCode::kNodeOutOfRange: return "node_out_of_range";
    case ErrorCode::kBadRowSize: return "bad_row_size";
    case ErrorCode::kBatchOrder: return "batch_order";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kAborted: return "aborted";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kBadSnapshot: return "bad_snapshot";
    case ErrorCode::kShuttingDown: return "shutting_down";
  }
  return "unknown";
}

void encode_header(const FrameHeader& h, std::byte* out) {
  const auto type = static_cast<std::uint16_t>(h.type);
  std::memcpy(out + 0, &h.magic, 4);
  std::memcpy(out + 4, &h.version, 2);
  std::memcpy(out + 6, &type, 2);
  std::memcpy(out + 8, &h.request_id, 8);
  std::memcpy(out + 16, &h.payload_bytes, 8);
}

FrameHeader decode_header(std::span<const std::byte> bytes, std::uint64_t max_payload_bytes) {
  if (bytes.size() < kHeaderBytes) {
    throw ProtocolError(ErrorCode::kMalformed,
                        cat("frame header: needs ", kHeaderBytes, " bytes, got ", bytes.size()));
  }
  FrameHeader h;
  std::uint16_t type = 0;
  std::memcpy(&h.magic, bytes.data() + 0, 4);
  std::memcpy(&h.version, bytes.data() + 4, 2);
  std::memcpy(&type, bytes.data() + 6, 2);
  std::memcpy(&h.request_id, bytes.data() + 8, 8);
  std::memcpy(&h.payload_bytes, bytes.data() + 16, 8);
  h.type = static_cast<MsgType>(type);
  if (h.magic != kMagic) {
    throw ProtocolError(ErrorCode::kBadMagic, cat("frame header: bad magic 0x", std::hex, h.magic,
                                                  " (expected 0x", kMagic, ")"));
  }
  if (h.version != kVersion) {
    throw ProtocolError(ErrorCode::kBadVersion, cat("frame header: protocol version ", h.version,
                                                    " is not supported (this side speaks ",
                                                    kVersion, ")"));
  }
  if (h.payload_bytes > max_payload_bytes) {
    throw ProtocolError(ErrorCode::kFrameTooLarge,
                        cat("frame header: payload of ", h.payload_bytes,
                            " bytes is over the limit of ", max_payload_bytes, " bytes"));
  }
  return h;
}

std::uint64_t rows_bytes(std::int64_t n, std::int64_t slots, std::int64_t memory_dim,
                         std::int64_t mail_dim) {
  const auto un = static_cast<std::uint64_t>(n);
  const auto us = static_cast<std::uint64_t>(slots);
  return un * (static_cast<std::uint64_t>(memory_dim) * 4 + 8) +
         un * us * (static_cast<std::uint64_t>(mail_dim) * 4 + 8 + 8);
}

// ---- HELLO ----

std::vector<std::byte> encode_hello(const Hello& m) {
  Writer w(96 + m.job.size());
  w.put_string(m.job);
  w.put(m.memory_group);
  w.put(m.rank);
  w.put(m.layout.i);
  w.put(m.layout.j);
  w.put(m.layout.k);
  w.put(m.dims.num_nodes);
  w.put(m.dims.memory_dim);
  w.put(m.dims.mail_dim);
  w.put(m.dims.mailbox_size);
  w.put(m.dataset_fingerprint);
  return w.take();
}

Hello decode_hello(std::span<const std::byte> payload) {
  Reader r(payload, "HELLO");
  Hello m;
  m.job = r.string("job");
  m.memory_group = r.get<std::int32_t>("memory_group");
  m.rank = r.get<std::int32_t>("rank");
  m.layout.i = r.get<std::int32_t>("layout.i");
  m.layout.j = r.get<std::int32_t>("layout.j");
  m.layout.k = r.get<std::int32_t>("layout.k");
  m.dims.num_nodes = r.get<std::int64_t>("num_nodes");
  m.dims.memory_dim = r.get<std::int64_t>("memory_dim");
  m.dims.mail_dim = r.get<std::int64_t>("mail_dim");
  m.dims.mailbox_size = r.get<std::int64_t>("mailbox_size");
  m.dataset_fingerprint = r.get<std::uint64_t>("dataset_fingerprint");
  r.finish();
  if (m.layout.i < 1 || m.layout.j < 1 || m.layout.k < 1) {
    malformed("HELLO", cat("layout i=", m.layout.i, ",j=", m.layout.j, ",k=", m.layout.k,
                           ": every factor must be >= 1"));
  }
  const Dimensions& d = m.dims;
  for (const auto& [v, name] : {std::pair{d.num_nodes, "num_nodes"},
                                {d.memory_dim, "memory_dim"},
                                {d.mail_dim, "mail_dim"},
                                {d.mailbox_size, "mailbox_size"}}) {
    if (v < 0 || v > kMaxRows) malformed("HELLO", cat(name, ": ", v, " is out of range"));
  }
  return m;
}

std::vector<std::byte> encode_hello_ok(const HelloOk& m) {
  Writer w(48 + m.daemon_version.size());
  w.put(m.dims.num_nodes);
  w.put(m.dims.memory_dim);
  w.put(m.dims.mail_dim);
  w.put(m.dims.mailbox_size);
  w.put(m.next_batch);
  w.put_string(m.daemon_version);
  return w.take();
}

HelloOk decode_hello_ok(std::span<const std::byte> payload) {
  Reader r(payload, "HELLO_OK");
  HelloOk m;
  m.dims.num_nodes = r.get<std::int64_t>("num_nodes");
  m.dims.memory_dim = r.get<std::int64_t>("memory_dim");
  m.dims.mail_dim = r.get<std::int64_t>("mail_dim");
  m.dims.mailbox_size = r.get<std::int64_t>("mailbox_size");
  m.next_batch = r.get<std::int64_t>("next_batch");
  m.daemon_version = r.string("daemon_version");
  r.finish();
  return m;
}

// ---- READ ----

std::vector<std::byte> encode_read(std::int64_t batch, std::span<const std::int64_t> nodes) {
  Writer w(16 + nodes.size_bytes());
  w.put(batch);
  w.put(static_cast<std::int64_t>(nodes.size()));
  w.put_array(nodes);
  return w.take();
}

ReadRequest decode_read(std::span<const std::byte> payload) {
  Reader r(payload, "READ");
  ReadRequest m;
  m.batch = r.get<std::int64_t>("batch");
  const auto n = r.get<std::int64_t>("n");
  m.nodes = r.array<std::int64_t>(n, "nodes");
  r.finish();
  return m;
}

std::vector<std::byte> make_read_ok(std::int64_t n, const Dimensions& d) {
  check_dims(d);
  std::vector<std::byte> payload(16 + rows_bytes(n, d.mailbox_size, d.memory_dim, d.mail_dim));
  std::memcpy(payload.data(), &n, 8);
  std::memcpy(payload.data() + 8, &d.mailbox_size, 8);
  return payload;
}

namespace {
MutableRows read_ok_rows_at(std::byte* payload, const Dimensions& d) {
  std::int64_t n = 0;
  std::memcpy(&n, payload, 8);
  const std::int64_t s = d.mailbox_size;
  std::byte* p = payload + 16;
  MutableRows m{};  // same order as put_rows
  m.memory_ts = reinterpret_cast<double*>(p);
  p += n * 8;
  m.mail_ts = reinterpret_cast<double*>(p);
  p += n * s * 8;
  m.mail_eid = reinterpret_cast<std::int64_t*>(p);
  p += n * s * 8;
  m.memory = reinterpret_cast<float*>(p);
  p += n * d.memory_dim * 4;
  m.mail = reinterpret_cast<float*>(p);
  return m;
}
}  // namespace

MutableRows read_ok_rows(std::vector<std::byte>& payload, const Dimensions& d) {
  return read_ok_rows_at(payload.data(), d);
}

MutableRows place_read_ok(std::span<std::byte> out, std::int64_t n, const Dimensions& d,
                          std::uint64_t& bytes) {
  check_dims(d);
  bytes = 16 + rows_bytes(n, d.mailbox_size, d.memory_dim, d.mail_dim);
  if (bytes > out.size()) {
    throw ProtocolError(ErrorCode::kBadRowSize,
                        cat("READ_SHM: rows of ", n, " nodes need ", bytes,
                            " bytes, the shared-memory slot holds ", out.size()));
  }
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, &d.mailbox_size, 8);
  return read_ok_rows_at(out.data(), d);
}

std::uint64_t place_write(std::span<std::byte> out, std::int64_t batch, std::int32_t shard,
                          std::span<const std::int64_t> nodes, const RowsView& rows,
                          const Dimensions& d) {
  const auto n = static_cast<std::int64_t>(nodes.size());
  const std::uint64_t bytes = 24 + nodes.size_bytes() + rows_bytes(n, 1, d.memory_dim, d.mail_dim);
  if (bytes > out.size()) return 0;
  std::byte* p = out.data();
  const std::int32_t zero = 0;
  const auto put = [&p](const void* src, std::size_t len) {
    if (len > 0) std::memcpy(p, src, len);
    p += len;
  };
  put(&batch, 8);
  put(&shard, 4);
  put(&zero, 4);
  put(&n, 8);
  put(nodes.data(), nodes.size_bytes());
  put(rows.memory_ts.data(), rows.memory_ts.size_bytes());  // put_rows' order
  put(rows.mail_ts.data(), rows.mail_ts.size_bytes());
  put(rows.mail_eid.data(), rows.mail_eid.size_bytes());
  put(rows.memory.data(), rows.memory.size_bytes());
  put(rows.mail.data(), rows.mail.size_bytes());
  return bytes;
}


RowsView decode_read_ok(std::span<const std::byte> payload, const Dimensions& d) {
  check_dims(d);
  Reader r(payload, "READ_OK");
  const auto n = r.get<std::int64_t>("n");
  const auto slots = r.get<std::int64_t>("slots");
  if (n < 0 || n > kMaxRows) malformed("READ_OK", cat("n: ", n, " is out of range"));
  if (slots != d.mailbox_size) {
    throw ProtocolError(ErrorCode::kBadRowSize,
                        cat("READ_OK: ", slots, " mail slots, expected ", d.mailbox_size));
  }
  RowsView rows = get_rows(r, n, slots, d);
  r.finish();
  return rows;
}

// ---- WRITE ----

std::vector<std::byte> encode_write(std::int64_t batch, std::int32_t shard,
                                    std::span<const std::int64_t> nodes, const RowsView& rows,
                                    const Dimensions& d) {
  const auto n = static_cast<std::int64_t>(nodes.size());
  Writer w(32 + nodes.size_bytes() + rows_bytes(n, 1, d.memory_dim, d.mail_dim));
  w.put(batch);
  w.put(shard);
  w.put(std::int32_t{0});
  w.put(n);
  w.put_array(nodes);
  put_rows(w, rows);
  return w.take();
}

WriteRequest decode_write(std::span<const std::byte> payload, const Dimensions& d) {
  check_dims(d);
  Reader r(payload, "WRITE");
  WriteRequest m;
  m.batch = r.get<std::int64_t>("batch");
  m.shard = r.get<std::int32_t>("shard");
  if (r.get<std::int32_t>("reserved") != 0) malformed("WRITE", "reserved: must be 0");
  const auto n = r.get<std::int64_t>("n");
  if (n < 0 || n > kMaxRows) malformed("WRITE", cat("n: ", n, " is out of range"));
  m.nodes = r.array<std::int64_t>(n, "nodes");
  const std::uint64_t want = rows_bytes(n, 1, d.memory_dim, d.mail_dim);
  const std::uint64_t left = payload.size() - 24 - static_cast<std::uint64_t>(n) * 8;
  if (left != want) {
    throw ProtocolError(ErrorCode::kBadRowSize,
                        cat("WRITE: rows of ", n, " nodes need ", want, " bytes for memory_dim ",
                            d.memory_dim, " and mail_dim ", d.mail_dim, ", got ", left));
  }
  m.rows = get_rows(r, n, 1, d);
  r.finish();
  return m;
}

// ---- small replies ----

std::vector<std::byte> encode_i64(std::int64_t value) {
  Writer w(8);
  w.put(value);
  return w.take();
}

std::int64_t decode_i64(std::span<const std::byte> payload, std::string_view what) {
  Reader r(payload, what);
  const auto v = r.get<std::int64_t>("value");
  r.finish();
  return v;
}

std::vector<std::byte> encode_snapshot_request(const SnapshotRequest& m) {
  Writer w(8 + m.path.size());
  w.put(static_cast<std::uint8_t>(m.inline_bytes ? 0 : 1));
  if (!m.inline_bytes) w.put_string(m.path);
  return w.take();
}

SnapshotRequest decode_snapshot_request(std::span<const std::byte> payload) {
  Reader r(payload, "SNAPSHOT");
  SnapshotRequest m;
  const auto mode = r.get<std::uint8_t>("mode");
  if (mode > 1) malformed("SNAPSHOT", cat("mode: ", int{mode}, " is not 0 (inline) or 1 (file)"));
  m.inline_bytes = mode == 0;
  if (!m.inline_bytes) {
    m.path = r.string("path");
    if (m.path.empty()) malformed("SNAPSHOT", "path: empty");
  }
  r.finish();
  return m;
}

std::vector<std::byte> encode_restore_request(const RestoreRequest& m) {
  Writer w(8 + m.path.size() + m.bytes.size());
  w.put(static_cast<std::uint8_t>(m.inline_bytes ? 0 : 1));
  if (m.inline_bytes) {
    w.put_array(m.bytes);
  } else {
    w.put_string(m.path);
  }
  return w.take();
}

RestoreRequest decode_restore_request(std::span<const std::byte> payload) {
  Reader r(payload, "RESTORE");
  RestoreRequest m;
  const auto mode = r.get<std::uint8_t>("mode");
  if (mode > 1) malformed("RESTORE", cat("mode: ", int{mode}, " is not 0 (inline) or 1 (file)"));
  m.inline_bytes = mode == 0;
  if (m.inline_bytes) {
    m.bytes = r.rest();
  } else {
    m.path = r.string("path");
    if (m.path.empty()) malformed("RESTORE", "path: empty");
  }
  r.finish();
  return m;
}

std::vector<std::byte> encode_snapshot_ok_inline(std::span<const std::byte> snapshot) {
  Writer w(1 + snapshot.size());
  w.put(std::uint8_t{0});
  w.put_array(snapshot);
  return w.take();
}

std::vector<std::byte> encode_snapshot_ok_file(std::uint64_t bytes_written) {
  Writer w(9);
  w.put(std::uint8_t{1});
  w.put(bytes_written);
  return w.take();
}

SnapshotOk decode_snapshot_ok(std::span<const std::byte> payload) {
  Reader r(payload, "SNAPSHOT_OK");
  SnapshotOk m;
  const auto mode = r.get<std::uint8_t>("mode");
  if (mode > 1) malformed("SNAPSHOT_OK", cat("mode: ", int{mode}, " is not 0 or 1"));
  m.inline_bytes = mode == 0;
  if (m.inline_bytes) {
    m.bytes = r.rest();
  } else {
    m.bytes_written = r.get<std::uint64_t>("bytes_written");
  }
  r.finish();
  return m;
}

std::vector<std::byte> encode_text(std::string_view text) {
  Writer w(4 + text.size());
  w.put(static_cast<std::uint32_t>(text.size()));
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  w.put_array(std::span<const std::byte>(p, text.size()));
  return w.take();
}

std::string decode_text(std::span<const std::byte> payload, std::string_view what) {
  Reader r(payload, what);
  const auto len = r.get<std::uint32_t>("length");
  const auto bytes = r.array<std::byte>(len, "text");
  r.finish();
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// ---- shared-memory data plane ----

std::vector<std::byte> encode_attach_shm(const AttachShm& m) {
  Writer w(16);
  w.put(m.slot_bytes);
  w.put(m.read_slots);
  w.put(m.write_slots);
  return w.take();
}

AttachShm decode_attach_shm(std::span<const std::byte> payload) {
  Reader r(payload, "ATTACH_SHM");
  AttachShm m;
  m.slot_bytes = r.get<std::uint64_t>("slot_bytes");
  m.read_slots = r.get<std::uint32_t>("read_slots");
  m.write_slots = r.get<std::uint32_t>("write_slots");
  r.finish();
  const std::uint64_t slots = std::uint64_t{m.read_slots} + m.write_slots;
  if (m.slot_bytes == 0 || m.read_slots == 0 || m.write_slots == 0) {
    malformed("ATTACH_SHM", "slot_bytes, read_slots and write_slots must all be >= 1");
  }
  if (slots > 1024 || m.slot_bytes > kMaxShmSegmentBytes / slots) {
    malformed("ATTACH_SHM", cat(slots, " slots of ", m.slot_bytes, " bytes exceed the limit of ",
                                kMaxShmSegmentBytes, " bytes"));
  }
  return m;
}

std::vector<std::byte> encode_read_shm(std::uint32_t slot, std::int64_t batch,
                                       std::span<const std::int64_t> nodes) {
  Writer w(24 + nodes.size_bytes());
  w.put(slot);
  w.put(std::uint32_t{0});
  w.put(batch);
  w.put(static_cast<std::int64_t>(nodes.size()));
  w.put_array(nodes);
  return w.take();
}

ShmSlotRef decode_read_shm(std::span<const std::byte> payload) {
  Reader r(payload, "READ_SHM");
  ShmSlotRef m;
  m.slot = r.get<std::uint32_t>("slot");
  if (r.get<std::uint32_t>("reserved") != 0) malformed("READ_SHM", "reserved: must be 0");
  m.rest = r.rest();
  return m;
}

std::vector<std::byte> encode_write_shm(std::uint32_t slot, std::uint64_t bytes) {
  Writer w(16);
  w.put(slot);
  w.put(std::uint32_t{0});
  w.put(bytes);
  return w.take();
}

ShmSlotRef decode_write_shm(std::span<const std::byte> payload) {
  Reader r(payload, "WRITE_SHM");
  ShmSlotRef m;
  m.slot = r.get<std::uint32_t>("slot");
  if (r.get<std::uint32_t>("reserved") != 0) malformed("WRITE_SHM", "reserved: must be 0");
  m.bytes = r.get<std::uint64_t>("bytes");
  r.finish();
  return m;
}

std::vector<std::byte> encode_error(const ErrorReply& m) {
  Writer w(8 + m.message.size());
  w.put(static_cast<std::uint32_t>(m.code));
  const std::string_view text =
      std::string_view(m.message).substr(0, std::min<std::size_t>(m.message.size(), kMaxStringBytes));
  w.put_string(text);
  return w.take();
}

ErrorReply decode_error(std::span<const std::byte> payload) {
  Reader r(payload, "ERROR");
  ErrorReply m;
  m.code = static_cast<ErrorCode>(r.get<std::uint32_t>("code"));
  m.message = r.string("message");
  r.finish();
  return m;
}

}  // namespace disttgl::memory_daemon

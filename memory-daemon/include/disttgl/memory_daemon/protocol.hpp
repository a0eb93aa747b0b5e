// The memory-daemon wire protocol (docs/memory-daemon-protocol.md): versioned, length-prefixed
// binary frames, little-endian, shared by `disttgl-memory-daemon` and its clients (the
// trainer's DaemonMemoryStore). Torch-free so that the daemon needs no LibTorch.
//
// A frame is a 24-byte header followed by `payload_bytes` bytes of payload:
//   offset 0  u32 magic          kMagic ("DTGM" as bytes 44 54 47 4D)
//   offset 4  u16 version        kVersion
//   offset 6  u16 type           MsgType
//   offset 8  u64 request_id     chosen by the client, echoed in the reply
//   offset 16 u64 payload_bytes  <= the receiver's frame limit
// Every request gets exactly one reply with the same request_id: its *Ok type or kError.
// Replies may come out of request order (a READ waits for its batch turn; a WRITE sent after
// it on the same connection is answered first).
//
// Errors: decode_* throw ProtocolError with an ErrorCode and a message naming the field.
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace disttgl::memory_daemon {

inline constexpr std::uint32_t kMagic = 0x4D475444;  // bytes "DTGM" read as little-endian u32
inline constexpr std::uint16_t kVersion = 1;
inline constexpr std::size_t kHeaderBytes = 24;
/// Default largest payload a peer accepts (bytes); the daemon's --max-frame-bytes.
inline constexpr std::uint64_t kDefaultMaxPayloadBytes = std::uint64_t{1} << 30;

enum class MsgType : std::uint16_t {
  kHello = 1,
  kRead = 2,
  kWrite = 3,
  kReset = 4,
  kSnapshot = 5,
  kRestore = 6,
  kStats = 7,
  kShutdown = 8,
  kAttachShm = 9,
  kReadShm = 10,
  kWriteShm = 11,
  kHelloOk = 0x101,
  kReadOk = 0x102,
  kWriteOk = 0x103,
  kResetOk = 0x104,
  kSnapshotOk = 0x105,
  kRestoreOk = 0x106,
  kStatsOk = 0x107,
  kShutdownOk = 0x108,
  kAttachShmOk = 0x109,
  kReadShmOk = 0x10A,
  kWriteShmOk = 0x10B,
  kError = 0x1FF,
};

/// Name for messages and metrics labels, e.g. "READ"; "UNKNOWN" for other values.
std::string_view type_name(MsgType type);
/// The *Ok reply type of a request type.
MsgType reply_type(MsgType request);

/// Error codes of an ERROR reply (u32 on the wire).
enum class ErrorCode : std::uint32_t {
  kBadMagic = 1,        ///< header magic is not kMagic (connection is closed)
  kBadVersion = 2,      ///< header version is not kVersion (connection is closed)
  kFrameTooLarge = 3,   ///< payload_bytes over the receiver's limit (connection is closed)
  kMalformed = 4,       ///< payload does not decode as its type (wrong length, bad field)
  kUnknownType = 5,     ///< type is not a request type
  kNoHello = 6,         ///< a request other than HELLO/STATS/SHUTDOWN before HELLO
  kMismatch = 7,        ///< HELLO field differs from the daemon's (message names the field)
  kNodeOutOfRange = 8,  ///< a node id outside [0, num_nodes)
  kBadRowSize = 9,      ///< rows whose sizes do not fit the daemon's dimensions
  kBatchOrder = 10,     ///< a WRITE/READ for a batch that is not next (or already past)
  kTimeout = 11,        ///< a READ or RESET waited longer than the daemon's --wait-timeout
  kAborted = 12,        ///< a waiting READ was cancelled by a RESET/RESTORE or shutdown
  kIo = 13,             ///< snapshot file could not be written or read
  kBadSnapshot = 14,    ///< snapshot bytes are corrupt or for other dimensions
  kShuttingDown = 15,   ///< the daemon is stopping
};
std::string_view error_code_name(ErrorCode code);

/// A decode failure or an ERROR reply received by a client.
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

struct FrameHeader {
  std::uint32_t magic = kMagic;
  std::uint16_t version = kVersion;
  MsgType type = MsgType::kError;
  std::uint64_t request_id = 0;
  std::uint64_t payload_bytes = 0;
};

/// Writes the header's 24 bytes into `out` (at least kHeaderBytes).
void encode_header(const FrameHeader& header, std::byte* out);
/// Parses 24 bytes. Checks magic, version and `payload_bytes <= max_payload_bytes` and throws
/// ProtocolError (kBadMagic, kBadVersion, kFrameTooLarge) otherwise; the type is not checked.
FrameHeader decode_header(std::span<const std::byte> bytes, std::uint64_t max_payload_bytes);

/// Fixed sizes of one memory group's state.
struct Dimensions {
  std::int64_t num_nodes = 0;     ///< N
  std::int64_t memory_dim = 0;    ///< d_mem (f32 per node)
  std::int64_t mail_dim = 0;      ///< d_mail (f32 per mail)
  std::int64_t mailbox_size = 0;  ///< S mails per node
  bool operator==(const Dimensions&) const = default;
};

/// DistTGL's parallel layout (disttgl.md §4): i shards per logical batch, j epoch slots,
/// k memory groups. A daemon serves one memory group: i*j ranks.
struct Layout {
  std::int32_t i = 1;
  std::int32_t j = 1;
  std::int32_t k = 1;
  bool operator==(const Layout&) const = default;
};

// ---- request and reply payloads ---------------------------------------------------------

/// HELLO: u32 job length, job bytes, i32 memory_group, i32 rank, i32 i, i32 j, i32 k,
/// i64 num_nodes, i64 memory_dim, i64 mail_dim, i64 mailbox_size, u64 dataset_fingerprint.
/// A dimension of 0 means "whatever the daemon has" (a monitoring client).
struct Hello {
  std::string job;
  std::int32_t memory_group = 0;
  std::int32_t rank = 0;  ///< rank within the memory group, [0, i*j)
  Layout layout;
  Dimensions dims;
  std::uint64_t dataset_fingerprint = 0;
};
/// HELLO_OK: i64 num_nodes, memory_dim, mail_dim, mailbox_size, i64 next_batch,
/// u32 length + daemon version text.
struct HelloOk {
  Dimensions dims;
  std::int64_t next_batch = 0;
  std::string daemon_version;
};

/// READ: i64 batch, i64 n, n x i64 node ids (duplicates allowed).
struct ReadRequest {
  std::int64_t batch = 0;
  std::span<const std::int64_t> nodes;
};

/// Rows of n nodes, structure of arrays, as views into a buffer (no ownership). Wire order
/// (READ_OK after "i64 n, i64 slots"; WRITE after its node ids), 8-byte arrays first so each
/// array is aligned to its element size: memory_ts f64[n], mail_ts f64[n*slots],
/// mail_eid i64[n*slots], memory f32[n*d_mem], mail f32[n*slots*d_mail].
/// A READ_OK has slots == mailbox_size in chronological order (slot 0 oldest, empty slots
/// first, mail_eid -1 = empty); a WRITE has slots == 1.
struct RowsView {
  std::int64_t n = 0;
  std::int64_t slots = 0;
  std::span<const float> memory;
  std::span<const double> memory_ts;
  std::span<const float> mail;
  std::span<const double> mail_ts;
  std::span<const std::int64_t> mail_eid;
};

/// Bytes of the five row arrays of n rows (without any prefix).
std::uint64_t rows_bytes(std::int64_t n, std::int64_t slots, std::int64_t memory_dim,
                         std::int64_t mail_dim);

/// WRITE: i64 batch, i32 shard, i32 zero, i64 n, n x i64 node ids, then the rows (slots 1).
struct WriteRequest {
  std::int64_t batch = 0;
  std::int32_t shard = 0;  ///< mini-batch shard s in [0, i)
  std::span<const std::int64_t> nodes;
  RowsView rows;
};
/// WRITE_OK: i64 next_batch (batch + 1 once all i shards of `batch` are applied, else batch).

/// SNAPSHOT and RESTORE: u8 mode, then for mode 0 (inline) the snapshot bytes (RESTORE) or
/// nothing (SNAPSHOT), for mode 1 (file) u32 length + path on the daemon's file system.
/// SNAPSHOT_OK: u8 mode, then inline: the snapshot bytes; file: u64 bytes written.
/// RESTORE_OK: i64 next_batch. RESET_OK: i64 next_batch (0).
/// STATS_OK: u32 length + a JSON object (docs/memory-daemon-protocol.md lists its keys).
/// ERROR: u32 ErrorCode, u32 length + message.
struct SnapshotRequest {
  bool inline_bytes = true;
  std::string path;
};
struct RestoreRequest {
  bool inline_bytes = true;
  std::string path;
  std::span<const std::byte> bytes;  ///< inline mode
};
struct ErrorReply {
  ErrorCode code = ErrorCode::kMalformed;
  std::string message;
};

// ---- codec ------------------------------------------------------------------------------
// encode_* return a payload (append it after a header); decode_* parse a payload whose
// length is exact (trailing bytes are kMalformed). Views returned by decode_* point into the
// payload and live as long as it. `dims` is the receiver's fixed dimensions.

std::vector<std::byte> encode_hello(const Hello& m);
Hello decode_hello(std::span<const std::byte> payload);
std::vector<std::byte> encode_hello_ok(const HelloOk& m);
HelloOk decode_hello_ok(std::span<const std::byte> payload);

std::vector<std::byte> encode_read(std::int64_t batch, std::span<const std::int64_t> nodes);
ReadRequest decode_read(std::span<const std::byte> payload);
/// READ_OK payload of n rows: the caller fills the row arrays in place through
/// read_ok_rows() (one copy from the state straight into the send buffer).
std::vector<std::byte> make_read_ok(std::int64_t n, const Dimensions& dims);
/// Mutable views of the row arrays inside a make_read_ok payload.
struct MutableRows {
  float* memory;
  double* memory_ts;
  float* mail;
  double* mail_ts;
  std::int64_t* mail_eid;
};
MutableRows read_ok_rows(std::vector<std::byte>& payload, const Dimensions& dims);
RowsView decode_read_ok(std::span<const std::byte> payload, const Dimensions& dims);

/// WRITE payload; `rows` must have slots == 1 and n == nodes.size().
std::vector<std::byte> encode_write(std::int64_t batch, std::int32_t shard,
                                    std::span<const std::int64_t> nodes, const RowsView& rows,
                                    const Dimensions& dims);
/// Checks the sizes against `dims` (kBadRowSize naming the array) but not the node range.
WriteRequest decode_write(std::span<const std::byte> payload, const Dimensions& dims);

std::vector<std::byte> encode_i64(std::int64_t value);  ///< WRITE_OK, RESET_OK, RESTORE_OK
std::int64_t decode_i64(std::span<const std::byte> payload, std::string_view what);

std::vector<std::byte> encode_snapshot_request(const SnapshotRequest& m);
SnapshotRequest decode_snapshot_request(std::span<const std::byte> payload);
std::vector<std::byte> encode_restore_request(const RestoreRequest& m);
RestoreRequest decode_restore_request(std::span<const std::byte> payload);

/// SNAPSHOT_OK: inline (mode 0, the snapshot bytes follow) or file (mode 1, u64 bytes).
std::vector<std::byte> encode_snapshot_ok_inline(std::span<const std::byte> snapshot);
std::vector<std::byte> encode_snapshot_ok_file(std::uint64_t bytes_written);
struct SnapshotOk {
  bool inline_bytes = true;
  std::span<const std::byte> bytes;  ///< inline mode: view into the payload
  std::uint64_t bytes_written = 0;   ///< file mode
};
SnapshotOk decode_snapshot_ok(std::span<const std::byte> payload);

std::vector<std::byte> encode_text(std::string_view text);  ///< STATS_OK
std::string decode_text(std::span<const std::byte> payload, std::string_view what);

std::vector<std::byte> encode_error(const ErrorReply& m);
ErrorReply decode_error(std::span<const std::byte> payload);

// ---- the shared-memory data plane (Unix-domain connections only) -------------------------
// ATTACH_SHM asks the daemon for a shared-memory segment of `read_slots + write_slots` slots of
// `slot_bytes` each (read slot r at offset r * slot_bytes, write slot w after the read
// slots). The daemon creates it (memfd), and sends its file descriptor with the ATTACH_SHM_OK
// frame as SCM_RIGHTS ancillary data, so the client must receive that reply with recvmsg
// before it reads anything else. The socket then carries only small control frames:
//   READ_SHM:  u32 read slot, u32 zero, then a READ payload. READ_SHM_OK: u64 bytes; the read
//              slot then holds a READ_OK payload of that many bytes (same layout as on the
//              socket), written by the daemon before it sent the reply.
//   WRITE_SHM: u32 write slot, u32 zero, u64 bytes; the write slot holds a WRITE payload of
//              that many bytes, written by the client before it sent the request. The daemon
//              copies it out before decoding (the client could change it concurrently).
//              WRITE_SHM_OK: i64 next_batch, as WRITE_OK.
// Ordering and errors are those of READ and WRITE; a READ whose rows do not fit the slot is
// refused with kBadRowSize (the client then uses READ).
struct AttachShm {
  std::uint64_t slot_bytes = 0;
  std::uint32_t read_slots = 0;
  std::uint32_t write_slots = 0;
};
/// Largest segment a daemon creates (bytes).
inline constexpr std::uint64_t kMaxShmSegmentBytes = std::uint64_t{1} << 36;
std::vector<std::byte> encode_attach_shm(const AttachShm& m);
/// Throws kMalformed for zero slots or a segment over kMaxShmSegmentBytes.
AttachShm decode_attach_shm(std::span<const std::byte> payload);
struct ShmSlotRef {
  std::uint32_t slot = 0;
  std::span<const std::byte> rest;  ///< READ_SHM: the READ payload
  std::uint64_t bytes = 0;          ///< WRITE_SHM: bytes of the WRITE payload in the slot
};
std::vector<std::byte> encode_read_shm(std::uint32_t slot, std::int64_t batch,
                                       std::span<const std::int64_t> nodes);
ShmSlotRef decode_read_shm(std::span<const std::byte> payload);
std::vector<std::byte> encode_write_shm(std::uint32_t slot, std::uint64_t bytes);
ShmSlotRef decode_write_shm(std::span<const std::byte> payload);
/// A READ_OK payload of n rows laid out in place in `out` (at least 16 + rows_bytes bytes);
/// returns the views to fill and sets `bytes` to the payload's size.
MutableRows place_read_ok(std::span<std::byte> out, std::int64_t n, const Dimensions& dims,
                          std::uint64_t& bytes);
/// Writes a WRITE payload in place into `out`; returns its size, or 0 if it does not fit.
std::uint64_t place_write(std::span<std::byte> out, std::int64_t batch, std::int32_t shard,
                          std::span<const std::int64_t> nodes, const RowsView& rows,
                          const Dimensions& dims);

/// True when `port` is a decimal TCP port in [0, 65535] (name resolvers would wrap 99999).
bool valid_port(std::string_view port);

/// Longest path or job name accepted (bytes).
inline constexpr std::uint32_t kMaxStringBytes = 4096;

}  // namespace disttgl::memory_daemon

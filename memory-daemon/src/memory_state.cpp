#include "disttgl/memory_daemon/memory_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string_view>

namespace disttgl::memory_daemon {

// The snapshot format and the wire protocol are little-endian; the arrays are copied as they
// lie in memory.
static_assert(std::endian::native == std::endian::little,
              "memory daemon needs a little-endian host");

namespace {

constexpr char kSnapshotMagic[8] = {'D', 'T', 'G', 'L', 'S', 'N', 'A', 'P'};
constexpr std::uint32_t kSnapshotVersion = 1;
constexpr std::size_t kSnapshotHeaderBytes = 56;
constexpr std::size_t kCrcBytes = 4;

std::size_t to_size(std::int64_t value) { return static_cast<std::size_t>(value); }

// a * b, or throws std::invalid_argument when it does not fit in an i64.
std::int64_t checked_mul(std::int64_t a, std::int64_t b, const char* what) {
  std::int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) {
    throw std::invalid_argument(std::string("memory state: ") + what + " overflows");
  }
  return out;
}

template <typename T>
void put(std::byte*& out, const T& value) {
  std::memcpy(out, &value, sizeof(T));
  out += sizeof(T);
}

template <typename T>
void put_array(std::byte*& out, const std::vector<T>& values) {
  if (!values.empty()) std::memcpy(out, values.data(), values.size() * sizeof(T));
  out += values.size() * sizeof(T);
}

template <typename T>
T get(const std::byte* in) {
  T value;
  std::memcpy(&value, in, sizeof(T));
  return value;
}

template <typename T>
void get_array(const std::byte*& in, std::vector<T>& values) {
  if (!values.empty()) std::memcpy(values.data(), in, values.size() * sizeof(T));
  in += values.size() * sizeof(T);
}

template <typename T>
std::uint32_t crc_update(std::uint32_t crc, const std::vector<T>& values) {
  return static_cast<std::uint32_t>(
      crc32_z(crc, reinterpret_cast<const Bytef*>(values.data()), values.size() * sizeof(T)));
}

[[noreturn]] void bad_snapshot(const std::string& what) {
  throw ProtocolError(ErrorCode::kBadSnapshot, "snapshot: " + what);
}

[[noreturn]] void io_error(const std::string& path, const std::string& what, int err) {
  throw ProtocolError(ErrorCode::kIo, path + ": " + what + ": " + std::strerror(err));
}

std::string dims_text(const Dimensions& d) {
  return "num_nodes " + std::to_string(d.num_nodes) + ", memory_dim " +
         std::to_string(d.memory_dim) + ", mail_dim " + std::to_string(d.mail_dim) +
         ", mailbox_size " + std::to_string(d.mailbox_size);
}

}  // namespace

MemoryState::MemoryState(const Dimensions& dims) : dims_(dims) {
  const std::pair<const char*, std::int64_t> fields[] = {{"num_nodes", dims.num_nodes},
                                                         {"memory_dim", dims.memory_dim},
                                                         {"mail_dim", dims.mail_dim},
                                                         {"mailbox_size", dims.mailbox_size}};
  for (const auto& [name, value] : fields) {
    if (value < 1) {
      throw std::invalid_argument(std::string("memory state: ") + name + " must be >= 1, got " +
                                  std::to_string(value));
    }
  }
  const std::int64_t n = dims.num_nodes;
  const std::int64_t slots = checked_mul(n, dims.mailbox_size, "num_nodes * mailbox_size");
  memory_.resize(to_size(checked_mul(n, dims.memory_dim, "num_nodes * memory_dim")));
  memory_ts_.resize(to_size(n));
  mail_.resize(to_size(checked_mul(slots, dims.mail_dim, "num_nodes * mailbox_size * mail_dim")));
  mail_ts_.resize(to_size(slots));
  mail_eid_.resize(to_size(slots));
  next_mail_pos_.resize(to_size(n));
  seen_.resize(to_size(n));
  reset();
}

std::uint64_t MemoryState::state_bytes() const {
  return memory_.size() * sizeof(float) + memory_ts_.size() * sizeof(double) +
         mail_.size() * sizeof(float) + mail_ts_.size() * sizeof(double) +
         mail_eid_.size() * sizeof(std::int64_t) + next_mail_pos_.size() * sizeof(std::int64_t);
}

void MemoryState::reset() {
  std::fill(memory_.begin(), memory_.end(), 0.0F);
  std::fill(memory_ts_.begin(), memory_ts_.end(), 0.0);
  std::fill(mail_.begin(), mail_.end(), 0.0F);
  std::fill(mail_ts_.begin(), mail_ts_.end(), 0.0);
  std::fill(mail_eid_.begin(), mail_eid_.end(), std::int64_t{-1});
  std::fill(next_mail_pos_.begin(), next_mail_pos_.end(), std::int64_t{0});
}

void MemoryState::read(std::span<const std::int64_t> nodes, const MutableRows& out) const {
  const std::size_t d_mem = to_size(dims_.memory_dim);
  const std::size_t d_mail = to_size(dims_.mail_dim);
  const std::size_t slots = to_size(dims_.mailbox_size);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const std::size_t v = to_size(nodes[i]);
    std::memcpy(out.memory + i * d_mem, memory_.data() + v * d_mem, d_mem * sizeof(float));
    out.memory_ts[i] = memory_ts_[v];
    // Ring slot next_mail_pos is the oldest: rotate so it comes first (chronological order).
    const std::size_t start = to_size(next_mail_pos_[v]);
    for (std::size_t k = 0; k < slots; ++k) {
      const std::size_t src = v * slots + (start + k) % slots;
      const std::size_t dst = i * slots + k;
      std::memcpy(out.mail + dst * d_mail, mail_.data() + src * d_mail, d_mail * sizeof(float));
      out.mail_ts[dst] = mail_ts_[src];
      out.mail_eid[dst] = mail_eid_[src];
    }
  }
}

void MemoryState::write(std::span<const std::int64_t> nodes, const RowsView& rows) {
  const std::size_t d_mem = to_size(dims_.memory_dim);
  const std::size_t d_mail = to_size(dims_.mail_dim);
  const std::size_t slots = to_size(dims_.mailbox_size);
  // Walking from the last position to the first, the first time a node is met is its last
  // occurrence; distinct nodes touch disjoint rows, so the order of application is irrelevant
  // and the result is deterministic. seen_ is cleared again below: O(n), not O(N).
  for (std::size_t i = nodes.size(); i-- > 0;) {
    const std::size_t v = to_size(nodes[i]);
    if (seen_[v] != 0) continue;
    seen_[v] = 1;
    std::memcpy(memory_.data() + v * d_mem, rows.memory.data() + i * d_mem, d_mem * sizeof(float));
    memory_ts_[v] = rows.memory_ts[i];
    const std::size_t pos = to_size(next_mail_pos_[v]);
    const std::size_t dst = v * slots + pos;
    std::memcpy(mail_.data() + dst * d_mail, rows.mail.data() + i * d_mail, d_mail * sizeof(float));
    mail_ts_[dst] = rows.mail_ts[i];
    mail_eid_[dst] = rows.mail_eid[i];
    next_mail_pos_[v] = static_cast<std::int64_t>((pos + 1) % slots);
  }
  for (const std::int64_t v : nodes) seen_[to_size(v)] = 0;
}

std::int64_t MemoryState::first_out_of_range(std::span<const std::int64_t> nodes) const {
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i] < 0 || nodes[i] >= dims_.num_nodes) return static_cast<std::int64_t>(i);
  }
  return -1;
}

std::uint32_t MemoryState::checksum() const {
  auto crc = static_cast<std::uint32_t>(crc32_z(0L, Z_NULL, 0));
  crc = crc_update(crc, memory_);
  crc = crc_update(crc, memory_ts_);
  crc = crc_update(crc, mail_);
  crc = crc_update(crc, mail_ts_);
  crc = crc_update(crc, mail_eid_);
  crc = crc_update(crc, next_mail_pos_);
  return crc;
}

std::vector<std::byte> MemoryState::snapshot(std::int64_t next_batch) const {
  std::vector<std::byte> out(kSnapshotHeaderBytes + state_bytes() + kCrcBytes);
  std::byte* p = out.data();
  std::memcpy(p, kSnapshotMagic, sizeof(kSnapshotMagic));
  p += sizeof(kSnapshotMagic);
  put(p, kSnapshotVersion);
  put(p, std::uint32_t{0});
  put(p, dims_.num_nodes);
  put(p, dims_.memory_dim);
  put(p, dims_.mail_dim);
  put(p, dims_.mailbox_size);
  put(p, next_batch);
  put_array(p, memory_);
  put_array(p, memory_ts_);
  put_array(p, mail_);
  put_array(p, mail_ts_);
  put_array(p, mail_eid_);
  put_array(p, next_mail_pos_);
  const auto crc = static_cast<std::uint32_t>(
      crc32_z(0L, reinterpret_cast<const Bytef*>(out.data()), out.size() - kCrcBytes));
  put(p, crc);
  return out;
}

Dimensions MemoryState::snapshot_dims(std::span<const std::byte> bytes, std::int64_t* next_batch) {
  if (bytes.size() < kSnapshotHeaderBytes + kCrcBytes) {
    bad_snapshot("truncated: " + std::to_string(bytes.size()) + " bytes, a header needs " +
                 std::to_string(kSnapshotHeaderBytes + kCrcBytes));
  }
  if (std::memcmp(bytes.data(), kSnapshotMagic, sizeof(kSnapshotMagic)) != 0) {
    bad_snapshot("not a disttgl snapshot (magic is not DTGLSNAP)");
  }
  const auto version = get<std::uint32_t>(bytes.data() + 8);
  if (version != kSnapshotVersion) {
    bad_snapshot("version " + std::to_string(version) + ", this daemon reads version " +
                 std::to_string(kSnapshotVersion));
  }
  Dimensions dims;
  dims.num_nodes = get<std::int64_t>(bytes.data() + 16);
  dims.memory_dim = get<std::int64_t>(bytes.data() + 24);
  dims.mail_dim = get<std::int64_t>(bytes.data() + 32);
  dims.mailbox_size = get<std::int64_t>(bytes.data() + 40);
  const auto batch = get<std::int64_t>(bytes.data() + 48);
  if (dims.num_nodes < 1 || dims.memory_dim < 1 || dims.mail_dim < 1 || dims.mailbox_size < 1) {
    bad_snapshot("dimensions must be >= 1, got " + dims_text(dims));
  }
  if (batch < 0) bad_snapshot("next_batch " + std::to_string(batch) + " is negative");
  if (next_batch != nullptr) *next_batch = batch;
  return dims;
}

std::int64_t MemoryState::restore(std::span<const std::byte> bytes) {
  std::int64_t next_batch = 0;
  const Dimensions dims = snapshot_dims(bytes, &next_batch);
  if (!(dims == dims_)) {
    bad_snapshot("dimensions are " + dims_text(dims) + ", the daemon has " + dims_text(dims_));
  }
  const std::uint64_t expected = kSnapshotHeaderBytes + state_bytes() + kCrcBytes;
  if (bytes.size() != expected) {
    bad_snapshot("length is " + std::to_string(bytes.size()) + " bytes, expected " +
                 std::to_string(expected) + " for these dimensions");
  }
  const auto stored = get<std::uint32_t>(bytes.data() + bytes.size() - kCrcBytes);
  const auto actual = static_cast<std::uint32_t>(
      crc32_z(0L, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size() - kCrcBytes));
  if (stored != actual) {
    bad_snapshot("CRC-32 mismatch (stored " + std::to_string(stored) + ", computed " +
                 std::to_string(actual) + "): the bytes are corrupt");
  }
  // Ring positions are checked in place before any array is touched: no partial restore.
  const std::size_t pos_offset = bytes.size() - kCrcBytes - next_mail_pos_.size() * 8;
  for (std::size_t v = 0; v < next_mail_pos_.size(); ++v) {
    const auto pos = get<std::int64_t>(bytes.data() + pos_offset + v * 8);
    if (pos < 0 || pos >= dims_.mailbox_size) {
      bad_snapshot("next_mail_pos of node " + std::to_string(v) + " is " + std::to_string(pos) +
                   ", outside [0, " + std::to_string(dims_.mailbox_size) + ")");
    }
  }
  const std::byte* p = bytes.data() + kSnapshotHeaderBytes;
  get_array(p, memory_);
  get_array(p, memory_ts_);
  get_array(p, mail_);
  get_array(p, mail_ts_);
  get_array(p, mail_eid_);
  get_array(p, next_mail_pos_);
  return next_batch;
}

void write_file_atomic(const std::string& path, std::span<const std::byte> bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) io_error(path, "cannot create a temporary file in " + dir.string(), errno);
  // Any failure below removes the temporary file; the target is untouched until rename.
  auto fail = [&](const std::string& what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    io_error(path, what, err);
  };
  ::fchmod(fd, 0644);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write", errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_error(path, "close", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_error(path, "rename", err);
  }
  // Make the rename itself durable; a failure here leaves a complete file, so it is ignored.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

std::vector<std::byte> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) io_error(path, "cannot open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    io_error(path, "stat", err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ProtocolError(ErrorCode::kIo, path + ": not a regular file");
  }
  std::vector<std::byte> out(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      io_error(path, "read", err);
    }
    if (n == 0) break;  // the file shrank while being read
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

}  // namespace disttgl::memory_daemon

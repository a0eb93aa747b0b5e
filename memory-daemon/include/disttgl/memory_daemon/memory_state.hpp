// MemoryState: one memory group's node memory and mailbox as plain arrays, with exactly the
// semantics of the trainer's LocalMemoryStore (disttgl.md §3.1; trainer/include/disttgl/
// trainer/memory/memory_store.hpp), and the snapshot format both the daemon and the trainer
// read. Torch-free.
//
// State per node v: memory [d_mem] f32, memory_ts f64, a ring of S mail slots (mail [d_mail]
// f32, mail_ts f64, mail_eid i64, -1 = empty) and next_mail_pos (the oldest slot, the next
// one written).
//
// Snapshot format (little-endian), version 1:
//   offset 0  8 bytes "DTGLSNAP"
//   offset 8  u32 version (1), u32 zero
//   offset 16 i64 num_nodes, i64 memory_dim, i64 mail_dim, i64 mailbox_size, i64 next_batch
//   offset 56 memory f32[N*d_mem], memory_ts f64[N], mail f32[N*S*d_mail] (ring layout),
//             mail_ts f64[N*S], mail_eid i64[N*S], next_mail_pos i64[N]
//   end-4     u32 CRC-32 (zlib) of every byte before it
// Thread-safety: not thread-safe; the daemon touches it from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "disttgl/memory_daemon/protocol.hpp"

namespace disttgl::memory_daemon {

class MemoryState {
 public:
  /// Allocates the state in its reset() form. Throws std::invalid_argument naming the field
  /// for a size < 1.
  explicit MemoryState(const Dimensions& dims);

  const Dimensions& dims() const { return dims_; }
  /// Bytes held by the arrays.
  std::uint64_t state_bytes() const;

  /// Zero memory and times, every mail slot empty, ring positions 0.
  void reset();

  /// Copies the rows of `nodes` (each in [0, N); checked by the caller) into `out`, mails
  /// rotated to chronological order (oldest first), as LocalMemoryStore::read.
  void read(std::span<const std::int64_t> nodes, const MutableRows& out) const;

  /// For each distinct node, its LAST occurrence i in `nodes`: memory <- rows.memory[i],
  /// memory_ts <- rows.memory_ts[i], and mail i appended to its ring (overwriting the oldest
  /// slot), as LocalMemoryStore::write. rows.slots must be 1; node range checked by caller.
  void write(std::span<const std::int64_t> nodes, const RowsView& rows);

  /// Index into `nodes` of the first id outside [0, N), or -1 when all are in range.
  std::int64_t first_out_of_range(std::span<const std::int64_t> nodes) const;

  /// CRC-32 of the whole state (for STATS: tests check that a refused request changed
  /// nothing).
  std::uint32_t checksum() const;

  /// The snapshot bytes (format above) with `next_batch` recorded.
  std::vector<std::byte> snapshot(std::int64_t next_batch) const;
  /// Replaces the state with a snapshot's; returns its next_batch. Validates everything
  /// (magic, version, CRC, dimensions equal to dims(), ring positions in [0, S), exact
  /// length) before changing anything; throws ProtocolError(kBadSnapshot, ...) naming what
  /// is wrong.
  std::int64_t restore(std::span<const std::byte> bytes);

  /// Reads the dimensions and next_batch from a snapshot header without validating the
  /// arrays (the trainer uses it to size tensors). Throws ProtocolError(kBadSnapshot).
  static Dimensions snapshot_dims(std::span<const std::byte> bytes, std::int64_t* next_batch);

  /// Replaces the state with ring-layout arrays (the trainer's checkpoint keys). Sizes must
  /// fit dims() and ring positions lie in [0, S); otherwise throws
  /// ProtocolError(kBadSnapshot) naming the array, with the state unchanged. Defined in
  /// memory_state_assign.cpp.
  void assign(std::vector<float> memory, std::vector<double> memory_ts, std::vector<float> mail,
              std::vector<double> mail_ts, std::vector<std::int64_t> mail_eid,
              std::vector<std::int64_t> next_mail_pos);

  // Raw arrays (ring layout) for the trainer's checkpoint conversion and tests.
  const std::vector<float>& memory() const { return memory_; }
  const std::vector<double>& memory_ts() const { return memory_ts_; }
  const std::vector<float>& mail() const { return mail_; }
  const std::vector<double>& mail_ts() const { return mail_ts_; }
  const std::vector<std::int64_t>& mail_eid() const { return mail_eid_; }
  const std::vector<std::int64_t>& next_mail_pos() const { return next_mail_pos_; }

 private:
  Dimensions dims_;
  std::vector<float> memory_;
  std::vector<double> memory_ts_;
  std::vector<float> mail_;
  std::vector<double> mail_ts_;
  std::vector<std::int64_t> mail_eid_;
  std::vector<std::int64_t> next_mail_pos_;
  std::vector<std::uint8_t> seen_;  // write()'s last-occurrence marks; all 0 between calls
};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename.
/// Throws ProtocolError(kIo, "PATH: reason") and leaves no temporary file behind on failure.
void write_file_atomic(const std::string& path, std::span<const std::byte> bytes);
/// Reads a whole file. Throws ProtocolError(kIo, "PATH: reason").
std::vector<std::byte> read_file(const std::string& path);

}  // namespace disttgl::memory_daemon

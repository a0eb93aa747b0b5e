// SharedSegment: the shared-memory data plane of one Unix-domain connection (protocol.hpp,
// ATTACH_SHM). An anonymous memfd the daemon creates, maps, and hands to the client as a file
// descriptor over the socket; read slots first, then write slots, each `slot_bytes` long.
// The daemon writes READ_SHM rows into a read slot before replying and copies a WRITE_SHM
// payload out of a write slot before decoding it (the client could change it concurrently).
// Thread-safety: the daemon's one io_context thread; kept alive by the connection and by the
// READs parked with it (shared_ptr).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "disttgl/memory_daemon/protocol.hpp"

namespace disttgl::memory_daemon {

class SharedSegment {
 public:
  /// Creates and maps a segment for `request` (already validated by decode_attach_shm).
  /// Throws ProtocolError(kIo, "...") when memfd_create, ftruncate or mmap fail.
  static std::shared_ptr<SharedSegment> create(const AttachShm& request);
  ~SharedSegment();
  SharedSegment(const SharedSegment&) = delete;
  SharedSegment& operator=(const SharedSegment&) = delete;

  /// The memfd, open until release_fd() (after it was sent).
  int fd() const { return fd_; }
  void release_fd();
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t slot_bytes() const { return layout_.slot_bytes; }
  std::uint32_t read_slots() const { return layout_.read_slots; }
  /// Read slot `slot` in [0, read_slots); ProtocolError(kMalformed) otherwise.
  std::span<std::byte> read_slot(std::uint32_t slot) const;
  /// Write slot `slot` in [read_slots, read_slots + write_slots) (absolute slot index);
  /// ProtocolError(kMalformed) otherwise.
  std::span<std::byte> write_slot(std::uint32_t slot) const;

 private:
  SharedSegment() = default;
  AttachShm layout_;
  int fd_ = -1;
  std::byte* base_ = nullptr;
  std::uint64_t bytes_ = 0;
};

/// Where a READ_SHM's rows go: a read slot of a connection's segment.
struct ShmTarget {
  std::shared_ptr<SharedSegment> segment;
  std::uint32_t slot = 0;
};

}  // namespace disttgl::memory_daemon

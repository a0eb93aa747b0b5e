#include "shared_segment.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace disttgl::memory_daemon {

std::shared_ptr<SharedSegment> SharedSegment::create(const AttachShm& request) {
  std::shared_ptr<SharedSegment> s(new SharedSegment());
  s->layout_ = request;
  s->bytes_ = request.slot_bytes * (std::uint64_t{request.read_slots} + request.write_slots);
  const auto fail = [](const char* what) {
    throw ProtocolError(ErrorCode::kIo,
                        fmt::format("ATTACH_SHM: {} failed ({})", what, std::strerror(errno)));
  };
  s->fd_ = ::memfd_create("disttgl-memory-daemon", MFD_CLOEXEC);
  if (s->fd_ < 0) fail("memfd_create");
  if (::ftruncate(s->fd_, static_cast<off_t>(s->bytes_)) != 0) fail("ftruncate");
  void* base = ::mmap(nullptr, s->bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd_, 0);
  if (base == MAP_FAILED) fail("mmap");
  s->base_ = static_cast<std::byte*>(base);
  return s;
}

SharedSegment::~SharedSegment() {
  if (base_ != nullptr) ::munmap(base_, bytes_);
  release_fd();
}

void SharedSegment::release_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::span<std::byte> SharedSegment::read_slot(std::uint32_t slot) const {
  if (slot >= layout_.read_slots) {
    throw ProtocolError(ErrorCode::kMalformed,
                        fmt::format("READ_SHM: slot {} is not a read slot (there are {})", slot,
                                    layout_.read_slots));
  }
  return {base_ + std::uint64_t{slot} * layout_.slot_bytes, layout_.slot_bytes};
}

std::span<std::byte> SharedSegment::write_slot(std::uint32_t slot) const {
  if (slot < layout_.read_slots || slot - layout_.read_slots >= layout_.write_slots) {
    throw ProtocolError(ErrorCode::kMalformed,
                        fmt::format("WRITE_SHM: slot {} is not a write slot (those are [{}, {}))",
                                    slot, layout_.read_slots,
                                    layout_.read_slots + layout_.write_slots));
  }
  return {base_ + std::uint64_t{slot} * layout_.slot_bytes, layout_.slot_bytes};
}

}  // namespace disttgl::memory_daemon

// The 64-bit payload checksum of dataset.bin: FNV-1a-style over little-endian 64-bit words
// with an xor-shift after each multiply (disttgl's own; not a published hash). Each step is
// a bijection of the state, so any change to a single 8-byte word always changes the result.
// Thread-safety: a value type; one instance per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace disttgl::trainer::detail {

class Checksum64 {
 public:
  /// Feeds `bytes` bytes; the stream may be split at any byte boundary.
  void update(const void* data, std::size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    length_ += bytes;
    if (tail_size_ > 0) {
      const std::size_t take = bytes < 8 - tail_size_ ? bytes : 8 - tail_size_;
      std::memcpy(tail_ + tail_size_, p, take);
      tail_size_ += take;
      p += take;
      bytes -= take;
      if (tail_size_ < 8) return;
      mix(load(tail_));
      tail_size_ = 0;
    }
    for (; bytes >= 8; bytes -= 8, p += 8) mix(load(p));
    if (bytes > 0) std::memcpy(tail_, p, bytes);
    tail_size_ = bytes;
  }

  /// The checksum of everything fed so far (the object stays usable).
  std::uint64_t digest() const {
    Checksum64 copy = *this;
    if (copy.tail_size_ > 0) {
      unsigned char last[8] = {};
      std::memcpy(last, copy.tail_, copy.tail_size_);
      copy.mix(load(last));
    }
    copy.mix(length_);
    return copy.state_;
  }

 private:
  static std::uint64_t load(const unsigned char* p) {
    std::uint64_t word = 0;
    std::memcpy(&word, p, 8);  // the format is little-endian, as is every supported host
    return word;
  }
  void mix(std::uint64_t word) {
    state_ = (state_ ^ word) * 0x100000001b3ULL;  // FNV-1a 64-bit prime
    state_ ^= state_ >> 32;
  }

  std::uint64_t state_ = 0xcbf29ce484222325ULL;  // FNV-1a 64-bit offset basis
  unsigned char tail_[8] = {};
  std::size_t tail_size_ = 0;
  std::uint64_t length_ = 0;
};

}  // namespace disttgl::trainer::detail

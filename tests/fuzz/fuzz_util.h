// SPDX-License-Identifier: Apache-2.0
// Shared by the fuzz targets: a cursor over the fuzzer's bytes, and a hard failure that
// libFuzzer reports as a crash (with the input that caused it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace clio::fuzz {

/// Reads the fuzzer's input front to back; past the end every read yields zeros (or nothing).
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t left() const { return size_ - pos_; }
  uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t u16() {
    const uint16_t lo = u8();
    return static_cast<uint16_t>(lo | (u8() << 8));
  }
  /// The next min(n, left()) bytes.
  std::span<const std::byte> take(size_t n) {
    n = n < left() ? n : left();
    const auto s = std::as_bytes(std::span(data_ + pos_, n));
    pos_ += n;
    return s;
  }
  std::span<const std::byte> rest() { return take(left()); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

/// An invariant the code under test broke: prints why and aborts (libFuzzer saves the input).
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

#define FUZZ_REQUIRE(cond)                  \
  do {                                      \
    if (!(cond)) ::clio::fuzz::fail(#cond); \
  } while (0)

}  // namespace clio::fuzz

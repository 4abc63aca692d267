// SPDX-License-Identifier: Apache-2.0
#include "common/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace clio {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = make_table();

uint32_t crc32c_soft(uint32_t crc, const uint8_t* p, size_t len) {
  crc = ~crc;
  for (size_t i = 0; i < len; ++i) crc = kTable[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const uint8_t* p, size_t len) {
  uint64_t c = ~crc;
  while (len >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
    p += 8;
    len -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (len--) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}
// Static initialisers may run before the CPU model is probed, hence the explicit init.
const bool kHaveHw = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}();
#endif

uint32_t crc32c_u64_soft(uint32_t crc, uint64_t w) {
  uint8_t b[8];
  std::memcpy(b, &w, 8);
  return ~crc32c_soft(~crc, b, 8);
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc3_hw(uint32_t seed, const uint8_t* p, size_t len) {
  uint64_t a = 0x6a09e667, b = 0xbb67ae85, c = 0x3c6ef372;  // distinct lane starts
  while (len >= 24) {
    uint64_t w0, w1, w2;
    std::memcpy(&w0, p, 8);
    std::memcpy(&w1, p + 8, 8);
    std::memcpy(&w2, p + 16, 8);
    a = _mm_crc32_u64(a, w0);  // three independent dependency chains
    b = _mm_crc32_u64(b, w1);
    c = _mm_crc32_u64(c, w2);
    p += 24;
    len -= 24;
  }
  if (len >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    a = _mm_crc32_u64(a, w);
    p += 8;
    len -= 8;
  }
  if (len >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    b = _mm_crc32_u64(b, w);
    p += 8;
    len -= 8;
  }
  uint32_t a32 = static_cast<uint32_t>(a);
  if (len >= 4) {  // the same as four byte steps (CRC32C takes a word's bytes lowest first)
    uint32_t w;
    std::memcpy(&w, p, 4);
    a32 = _mm_crc32_u32(a32, w);
    p += 4;
    len -= 4;
  }
  while (len--) a32 = _mm_crc32_u8(a32, *p++);
  uint32_t r = _mm_crc32_u32(seed, a32);
  r = _mm_crc32_u32(r, static_cast<uint32_t>(b));
  return _mm_crc32_u32(r, static_cast<uint32_t>(c));
}
#endif

/// The same function without SSE4.2 (tables), so that hosts without it interoperate.
uint32_t crc3_soft(uint32_t seed, const uint8_t* p, size_t len) {
  uint32_t a = 0x6a09e667, b = 0xbb67ae85, c = 0x3c6ef372;
  auto step = [](uint32_t crc, const uint8_t* q) {
    uint64_t w;
    std::memcpy(&w, q, 8);
    return crc32c_u64_soft(crc, w);
  };
  while (len >= 24) {
    a = step(a, p);
    b = step(b, p + 8);
    c = step(c, p + 16);
    p += 24;
    len -= 24;
  }
  if (len >= 8) {
    a = step(a, p);
    p += 8;
    len -= 8;
  }
  if (len >= 8) {
    b = step(b, p);
    p += 8;
    len -= 8;
  }
  for (; len; --len, ++p) a = ~crc32c_soft(~a, p, 1);
  uint8_t buf[4];
  uint32_t r = seed;
  for (uint32_t v : {a, b, c}) {
    std::memcpy(buf, &v, 4);
    r = ~crc32c_soft(~r, buf, 4);
  }
  return r;
}

}  // namespace

uint32_t crc32c_3way(uint32_t seed, const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (kHaveHw) [[likely]]
    return crc3_hw(seed, p, len);
#endif
  return crc3_soft(seed, p, len);
}

uint32_t crc32c(uint32_t crc, const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (kHaveHw) [[likely]]
    return crc32c_hw(crc, p, len);
#endif
  return crc32c_soft(crc, p, len);
}

}  // namespace clio

// SPDX-License-Identifier: Apache-2.0
#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/rng.h"

namespace clio {
namespace {

TEST(Crc32cTest, KnownVector) {
  EXPECT_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u) << "extends";
}

/// crc32c_3way spelled out with the plain CRC (raw update = CRC without the inversions).
uint32_t raw(uint32_t crc, const void* p, size_t n) { return ~crc32c(~crc, p, n); }

uint32_t reference_3way(uint32_t seed, const uint8_t* p, size_t len) {
  uint32_t lane[3] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u};
  // Words are dealt 24 bytes at a time (w0->a, w1->b, w2->c); a leftover word goes to a, a
  // second leftover word to b; trailing bytes to a.
  lane[0] = 0x6a09e667u;
  lane[1] = 0xbb67ae85u;
  lane[2] = 0x3c6ef372u;
  size_t off = 0;
  while (len - off >= 24) {
    for (int l = 0; l < 3; ++l) lane[l] = raw(lane[l], p + off + 8 * l, 8);
    off += 24;
  }
  if (len - off >= 8) {
    lane[0] = raw(lane[0], p + off, 8);
    off += 8;
  }
  if (len - off >= 8) {
    lane[1] = raw(lane[1], p + off, 8);
    off += 8;
  }
  lane[0] = raw(lane[0], p + off, len - off);
  uint32_t r = seed;
  for (uint32_t v : lane) r = raw(r, &v, 4);
  return r;
}

TEST(Crc32cTest, ThreeWayMatchesItsDefinition) {
  Rng rng(5);
  for (size_t len = 0; len < 300; ++len) {
    std::vector<uint8_t> d(len);
    for (auto& b : d) b = static_cast<uint8_t>(rng.next());
    const uint32_t seed = static_cast<uint32_t>(rng.next());
    ASSERT_EQ(crc32c_3way(seed, d.data(), len), reference_3way(seed, d.data(), len)) << len;
  }
}

TEST(Crc32cTest, ThreeWayCatchesEverySingleAndBurstError) {
  Rng rng(6);
  std::vector<uint8_t> d(200);
  for (auto& b : d) b = static_cast<uint8_t>(rng.next());
  const uint32_t good = crc32c_3way(0, d.data(), d.size());
  for (size_t bit = 0; bit < d.size() * 8; ++bit) {
    auto e = d;
    e[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    ASSERT_NE(crc32c_3way(0, e.data(), e.size()), good) << "bit " << bit;
  }
  for (int i = 0; i < 20000; ++i) {  // random bursts of up to 32 bits
    auto e = d;
    const size_t start = rng.below(d.size() * 8 - 32);
    const uint32_t pattern = static_cast<uint32_t>(rng.next()) | 1u;
    for (int k = 0; k < 32; ++k)
      if (pattern >> k & 1) e[(start + k) / 8] ^= static_cast<uint8_t>(1u << ((start + k) % 8));
    ASSERT_NE(crc32c_3way(0, e.data(), e.size()), good);
  }
}

}  // namespace
}  // namespace clio

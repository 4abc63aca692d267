// SPDX-License-Identifier: Apache-2.0
#include "common/spsc_ring.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace clio {
namespace {

TEST(SpscRingTest, FifoAndCapacity) {
  SpscRing<int> r(5);  // rounded up to 8
  EXPECT_EQ(r.capacity(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(r.push(i));
  EXPECT_FALSE(r.push(8)) << "full";
  int v;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(r.pop(&v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(r.pop(&v)) << "empty";
}

TEST(SpscRingTest, Bursts) {
  SpscRing<int> r(4);
  std::vector<int> in{1, 2, 3, 4, 5, 6};
  EXPECT_EQ(r.push_burst(in), 4u);
  std::vector<int> out(10);
  EXPECT_EQ(r.pop_burst(out), 4u);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[3], 4);
  EXPECT_EQ(r.pop_burst(out), 0u);
}

TEST(SpscRingTest, TwoThreadsPassEveryValueInOrder) {
  SpscRing<uint64_t> r(64);
  constexpr uint64_t kN = 1'000'000;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kN;)
      if (r.push(i)) ++i;
  });
  uint64_t expect = 0;
  while (expect < kN) {
    uint64_t v;
    if (r.pop(&v)) {
      ASSERT_EQ(v, expect);
      ++expect;
    }
  }
  producer.join();
}

}  // namespace
}  // namespace clio

// SPDX-License-Identifier: Apache-2.0
// Ring (cn/ring.h): FIFO order across wrap-around and growth, the fixed capacity, and the
// removals CLib's queue makes (truncate, erase_at), checked against std::deque as a shadow.
#include "cn/ring.h"

#include <gtest/gtest.h>

#include <deque>

#include "common/rng.h"

namespace clio::cn {
namespace {

TEST(RingTest, KeepsOrderAcrossWrapAroundAndGrowth) {
  Ring<uint32_t> r(1000);
  std::deque<uint32_t> shadow;
  Rng rng(7);
  uint32_t next = 0;
  for (int step = 0; step < 200'000; ++step) {
    // Mostly pushes while small, mostly pops while large: the contents move round the buffer
    // many times, and the buffer grows several times on the way.
    const bool push = shadow.empty() || rng.below(1000) > shadow.size();
    if (push) {
      if (shadow.size() == r.max_size()) {
        EXPECT_FALSE(r.push_back(next));
        continue;
      }
      ASSERT_TRUE(r.push_back(next));
      shadow.push_back(next++);
    } else {
      ASSERT_EQ(r.front(), shadow.front());
      r.pop_front();
      shadow.pop_front();
    }
    ASSERT_EQ(r.size(), shadow.size());
    if (!shadow.empty()) {
      ASSERT_EQ(r.back(), shadow.back());
    }
  }
  for (size_t i = 0; i < shadow.size(); ++i) ASSERT_EQ(r[i], shadow[i]);
  EXPECT_LE(r.capacity(), r.max_size());
}

TEST(RingTest, RefusesBeyondItsCapacityAndAllocatesNothingOnceGrown) {
  Ring<uint64_t> r(100);  // rounded up to 128
  EXPECT_EQ(r.max_size(), 128u);
  EXPECT_EQ(r.capacity(), 0u);  // nothing until the first push
  for (uint64_t i = 0; i < 128; ++i) ASSERT_TRUE(r.push_back(i));
  EXPECT_FALSE(r.push_back(128));
  EXPECT_EQ(r.size(), 128u);
  EXPECT_EQ(r.back(), 127u);
  const size_t cap = r.capacity();
  for (int round = 0; round < 1000; ++round) {  // steady state: the buffer stays as it is
    r.pop_front();
    ASSERT_TRUE(r.push_back(1000 + static_cast<uint64_t>(round)));
  }
  EXPECT_EQ(r.capacity(), cap);
  EXPECT_EQ(r.front(), 1000u + 1000u - 128u);  // 1000 popped: the 128 first, then 872 new ones
}

TEST(RingTest, TruncateFindAndEraseKeepTheRestInOrder) {
  Ring<uint32_t> r(64);
  for (uint32_t i = 0; i < 40; ++i) r.push_back(i);
  for (int i = 0; i < 30; ++i) r.pop_front();         // the front is now deep in the buffer
  for (uint32_t i = 40; i < 70; ++i) r.push_back(i);  // and the back wraps around
  ASSERT_EQ(r.size(), 40u);                           // 30..69
  EXPECT_EQ(r.find(45), 15u);
  EXPECT_EQ(r.find(7), r.size());  // gone
  r.erase_at(r.find(45));
  ASSERT_EQ(r.size(), 39u);
  for (size_t i = 0; i < r.size(); ++i) EXPECT_EQ(r[i], i < 15 ? 30 + i : 31 + i);
  r.truncate(10);
  ASSERT_EQ(r.size(), 10u);
  EXPECT_EQ(r.back(), 39u);
  ASSERT_TRUE(r.push_back(99));
  EXPECT_EQ(r[10], 99u);
}

}  // namespace
}  // namespace clio::cn

// SPDX-License-Identifier: Apache-2.0
// The pieces of CLib's engine that can be tested alone: the conflict filter and the
// delay-based window with its RTT estimator.
#include "cn/ordering.h"

#include <gtest/gtest.h>

#include <vector>

#include "cn/congestion.h"
#include "common/rng.h"

namespace clio::cn {
namespace {

TEST(OrderingTest, RangesConflictOnlyWhenOverlappingAndWriting) {
  EXPECT_TRUE(ranges_conflict(0, 10, true, 5, 6, false)) << "write, then read of a byte of it";
  EXPECT_TRUE(ranges_conflict(0, 10, false, 9, 20, true)) << "read, then write";
  EXPECT_TRUE(ranges_conflict(0, 10, true, 0, 10, true));
  EXPECT_FALSE(ranges_conflict(0, 10, false, 0, 10, false)) << "reads never conflict";
  EXPECT_FALSE(ranges_conflict(0, 10, true, 10, 20, true)) << "adjacent bytes are not shared";
}

// The filter must never say "no conflict" when there is one (it may say "maybe" freely).
TEST(OrderingTest, ConflictIndexHasNoFalseNegatives) {
  Rng rng(3);
  struct R {
    uint64_t lo, hi;
    bool w;
  };
  for (int round = 0; round < 200; ++round) {
    ConflictIndex idx;
    std::vector<R> tracked;
    for (int i = 0; i < 64; ++i) {
      const uint64_t lo = rng.below(1 << 20);
      R r{lo, lo + 1 + rng.below(5000), rng.chance(0.3)};
      idx.add(r.lo, r.hi, r.w);
      tracked.push_back(r);
    }
    for (int q = 0; q < 500; ++q) {
      const uint64_t lo = rng.below(1 << 20);
      const R p{lo, lo + 1 + rng.below(5000), rng.chance(0.5)};
      bool truth = false;
      for (const R& t : tracked) truth |= ranges_conflict(p.lo, p.hi, p.w, t.lo, t.hi, t.w);
      if (truth) {
        ASSERT_TRUE(idx.may_conflict(p.lo, p.hi, p.w, false));
      }
    }
    for (const R& t : tracked) idx.remove(t.lo, t.hi, t.w);
    EXPECT_FALSE(idx.may_conflict(0, 1 << 21, true, false)) << "empty after removing everything";
  }
}

TEST(OrderingTest, ConflictIndexCountsItselfOnce) {
  ConflictIndex idx;
  idx.add(100, 200, true);
  EXPECT_FALSE(idx.may_conflict(100, 200, true, /*self_tracked=*/true));
  EXPECT_TRUE(idx.may_conflict(150, 160, false, false));
  idx.add(5000, 5100, false);
  EXPECT_FALSE(idx.may_conflict(5000, 5100, false, true)) << "reads of a block with no writer";
}

TEST(CongestionTest, RttEstimatorFollowsSamples) {
  RttEstimator r;
  EXPECT_EQ(r.rto_ns(1000, 100000), 1000u) << "the floor before any sample";
  for (int i = 0; i < 50; ++i) r.sample(10'000);
  EXPECT_NEAR(static_cast<double>(r.srtt_ns()), 10'000, 100);
  EXPECT_EQ(r.min_ns(), 10'000u);
  EXPECT_LE(r.rto_ns(1000, 100000), 12'000u) << "steady samples: little variance";
  r.sample(100'000);
  EXPECT_GT(r.rto_ns(1000, 1'000'000), 30'000u) << "a spike widens the timeout";
}

TEST(CongestionTest, WindowGrowsUnderTargetAndShrinksAbove) {
  CongestionConfig c;
  c.initial_window = 4;
  c.target_floor_ns = 20'000;
  DelayWindow w(c);
  uint64_t now = 1'000'000;
  for (int i = 0; i < 100; ++i) w.on_ack(10'000, 10'000, 10'000, now += 1000);
  EXPECT_GT(w.window(), 10) << "additive increase while delay stays under target";
  const double before = w.window();
  w.on_ack(200'000, 10'000, 10'000, now += 50'000);
  EXPECT_LT(w.window(), before * 0.7) << "multiplicative decrease when delay is far above";
  const double after_one = w.window();
  w.on_ack(200'000, 10'000, 10'000, now += 1);
  EXPECT_EQ(w.window(), after_one) << "at most one decrease per RTT";
}

TEST(CongestionTest, WindowBelowOnePacesRequests) {
  CongestionConfig c;
  c.initial_window = 1;
  c.min_window = 0.125;
  DelayWindow w(c);
  uint64_t now = 1'000'000'000;
  for (int i = 0; i < 20; ++i) w.on_timeout(1000, now += 10'000);
  EXPECT_DOUBLE_EQ(w.window(), 0.125);
  w.on_send(now);
  EXPECT_FALSE(w.can_send(1, now + 100'000, 10'000)) << "one at a time";
  EXPECT_FALSE(w.can_send(0, now + 10'000, 10'000)) << "and spaced RTT / window = 80 us apart";
  EXPECT_TRUE(w.can_send(0, now + 80'000, 10'000));
}

TEST(CongestionTest, DisabledMeansFixedWindow) {
  CongestionConfig c;
  c.enabled = false;
  c.max_window = 32;
  DelayWindow w(c);
  w.on_ack(10'000'000, 1000, 1000, 5'000'000);
  w.on_timeout(0, 10'000'000);
  EXPECT_EQ(w.window(), 32);
  EXPECT_TRUE(w.can_send(31, 0, 0));
  EXPECT_FALSE(w.can_send(32, 0, 0));
}

}  // namespace
}  // namespace clio::cn

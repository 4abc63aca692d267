// SPDX-License-Identifier: Apache-2.0
#include "common/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/rng.h"

namespace clio {
namespace {

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.percentile(0.5), 50u);
  EXPECT_EQ(h.percentile(0.99), 99u);
  EXPECT_EQ(h.percentile(1.0), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(HistogramTest, PercentilesWithinRelativeErrorOfExact) {
  Rng rng(3);
  Histogram h;
  std::vector<uint64_t> all;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = 100 + rng.below(1) + (rng.next() >> (20 + rng.below(40)));
    h.record(v);
    all.push_back(v);
  }
  std::sort(all.begin(), all.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const uint64_t exact = all[static_cast<size_t>(std::ceil(q * all.size())) - 1];
    const double got = static_cast<double>(h.percentile(q));
    EXPECT_NEAR(got, static_cast<double>(exact), static_cast<double>(exact) / 60.0) << "q=" << q;
  }
}

TEST(HistogramTest, BucketsCoverTheWholeRange) {
  uint64_t prev = 0;
  for (int i = 1; i < Histogram::kBuckets; ++i) {
    const uint64_t lo = Histogram::bucket_low(i);
    ASSERT_GT(lo, prev);
    ASSERT_EQ(Histogram::index(lo), i);
    ASSERT_EQ(Histogram::index(lo - 1), i - 1);
    prev = lo;
  }
  EXPECT_EQ(Histogram::index(UINT64_MAX), Histogram::kBuckets - 1);
}

TEST(HistogramTest, MergeAddsCounts) {
  Histogram a, b;
  a.record(10);
  b.record(1000);
  b.record(5);
  a.merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.min(), 5u);
  EXPECT_EQ(a.max(), 1000u);
}

}  // namespace
}  // namespace clio

// SPDX-License-Identifier: Apache-2.0
// A log-linear histogram of non-negative integers (latencies in ns, sizes in bytes).
//
// Values below 128 are counted exactly; above, each power of two is cut into 64 equal
// sub-buckets, so any reported percentile is within 1/64 (1.6%) of a recorded value. Fixed
// size (about 30 KiB), no allocation after construction, O(1) record. Not thread-safe: give each
// thread its own and merge().
#pragma once

#include <array>
#include <cstdint>

namespace clio {

class Histogram {
 public:
  static constexpr int kSubBits = 6;  ///< 64 sub-buckets per power of two
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr int kBuckets = static_cast<int>(2 * kSub + (63 - kSubBits) * kSub);

  void record(uint64_t v) {
    ++counts_[index(v)];
    ++count_;
    sum_ += v;
    if (v < min_) min_ = v;
    if (v > max_) max_ = v;
  }
  void merge(const Histogram& other);
  void reset() { *this = Histogram(); }

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const {
    return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0;
  }
  /// The value at quantile q in [0,1] (0.5 = median, 0.999 = p99.9); 0 when empty. Exact below
  /// 128, else the midpoint of its sub-bucket clamped to [min, max].
  uint64_t percentile(double q) const;

  static int index(uint64_t v) {
    if (v < 2 * kSub) return static_cast<int>(v);
    const int e = 63 - __builtin_clzll(v);  // >= kSubBits + 1
    const int shift = e - kSubBits;
    return static_cast<int>((shift + 1) * kSub + (v >> shift) - kSub);
  }
  /// Lowest value that maps to bucket i.
  static uint64_t bucket_low(int i) {
    if (i < static_cast<int>(2 * kSub)) return static_cast<uint64_t>(i);
    const int shift = i / static_cast<int>(kSub) - 1;
    const uint64_t mant = static_cast<uint64_t>(i % static_cast<int>(kSub)) + kSub;
    return mant << shift;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace clio

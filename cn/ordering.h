// SPDX-License-Identifier: Apache-2.0
// Release ordering (Clio §4.4): CLib holds back a request that overlaps, on any byte, an earlier
// request of the same thread that is still queued or in flight, when either of them writes
// (read after write, write after read, write after write). Everything else goes in parallel.
//
// ConflictIndex is the cheap filter in front of the exact check: two counters per hashed 1 KiB
// block of the address space, one for every tracked request and one for writers. A request can
// only conflict if one of its blocks is shared; then CLib compares byte ranges exactly against
// the tracked requests. On a conflict-free workload the filter answers in a few loads. The paper
// checks at page granularity; we check bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace clio::cn {

/// True when [lo1,hi1) and [lo2,hi2) share a byte and at least one of them writes.
constexpr bool ranges_conflict(uint64_t lo1, uint64_t hi1, bool w1, uint64_t lo2, uint64_t hi2,
                               bool w2) {
  return (w1 || w2) && lo1 < hi2 && lo2 < hi1;
}

class ConflictIndex {
 public:
  static constexpr int kBlockShift = 10;
  static constexpr size_t kCounters = 4096;

  void add(uint64_t lo, uint64_t hi, bool write) { update(lo, hi, write, +1); }
  void remove(uint64_t lo, uint64_t hi, bool write) { update(lo, hi, write, -1); }

  /// False when [lo,hi) certainly conflicts with no tracked request other than itself (it may
  /// or may not be tracked; a tracked range counts once in each of its blocks). True means
  /// "compare exactly".
  bool may_conflict(uint64_t lo, uint64_t hi, bool write, bool self_tracked) const {
    const uint16_t self = self_tracked ? 1 : 0;
    for (uint64_t b = lo >> kBlockShift; b <= (hi - 1) >> kBlockShift; ++b) {
      const size_t h = slot(b);
      if (write ? all_[h] > self : writers_[h] > 0) return true;
    }
    return false;
  }

 private:
  static size_t slot(uint64_t block) { return (block * 0x9E3779B97F4A7C15ull) >> 52; }
  static_assert(kCounters == size_t{1} << 12, "slot() takes the top 12 bits");

  void update(uint64_t lo, uint64_t hi, bool write, int d) {
    for (uint64_t b = lo >> kBlockShift; b <= (hi - 1) >> kBlockShift; ++b) {
      const size_t h = slot(b);
      all_[h] = static_cast<uint16_t>(all_[h] + d);
      if (write) writers_[h] = static_cast<uint16_t>(writers_[h] + d);
    }
  }

  std::array<uint16_t, kCounters> all_{};
  std::array<uint16_t, kCounters> writers_{};
};

}  // namespace clio::cn

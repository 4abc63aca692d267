// SPDX-License-Identifier: Apache-2.0
// A bounded lock-free single-producer / single-consumer ring.
//
// One thread may push, one (other) thread may pop; neither ever blocks or allocates after
// construction. Positions are 64-bit and never wrap in practice. Each side caches the other's
// position so that a push or pop touches the shared cache line only when the cached view says
// the ring is full or empty.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>

#include "common/check.h"

namespace clio {

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "slots are copied with plain assignment");

 public:
  /// Capacity is rounded up to a power of two (at least 2).
  explicit SpscRing(size_t capacity)
      : mask_(std::bit_ceil(capacity < 2 ? size_t{2} : capacity) - 1),
        slots_(std::make_unique<T[]>(mask_ + 1)) {}

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return mask_ + 1; }

  /// Producer only. False when full.
  bool push(const T& v) {
    const uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);  // pairs with pop's release
      if (t - head_cache_ > mask_) return false;
    }
    slots_[t & mask_] = v;
    tail_.store(t + 1, std::memory_order_release);  // publishes the slot to the consumer
    return true;
  }

  /// Producer only. Pushes as many of `vs` as fit; returns how many.
  size_t push_burst(std::span<const T> vs) {
    const uint64_t t = tail_.load(std::memory_order_relaxed);
    size_t room = mask_ + 1 - (t - head_cache_);
    if (room < vs.size()) {
      head_cache_ = head_.load(std::memory_order_acquire);
      room = mask_ + 1 - (t - head_cache_);
    }
    const size_t n = vs.size() < room ? vs.size() : room;
    for (size_t i = 0; i < n; ++i) slots_[(t + i) & mask_] = vs[i];
    if (n != 0) tail_.store(t + n, std::memory_order_release);
    return n;
  }

  /// Consumer only. False when empty.
  bool pop(T* out) {
    const uint64_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);  // pairs with push's release
      if (h == tail_cache_) return false;
    }
    *out = slots_[h & mask_];
    head_.store(h + 1, std::memory_order_release);  // hands the slot back to the producer
    return true;
  }

  /// Consumer only. Pops up to out.size(); returns how many.
  size_t pop_burst(std::span<T> out) {
    const uint64_t h = head_.load(std::memory_order_relaxed);
    if (tail_cache_ - h < out.size()) tail_cache_ = tail_.load(std::memory_order_acquire);
    const size_t avail = tail_cache_ - h;
    const size_t n = out.size() < avail ? out.size() : avail;
    for (size_t i = 0; i < n; ++i) out[i] = slots_[(h + i) & mask_];
    if (n != 0) head_.store(h + n, std::memory_order_release);
    return n;
  }

  /// Either side (or a third thread): a snapshot that may be stale by the time it returns.
  size_t size_approx() const {
    const uint64_t t = tail_.load(std::memory_order_acquire);
    const uint64_t h = head_.load(std::memory_order_acquire);
    return t >= h ? static_cast<size_t>(t - h) : 0;
  }

 private:
  const size_t mask_;
  std::unique_ptr<T[]> slots_;
  alignas(64) std::atomic<uint64_t> head_{0};  ///< next slot to pop; written by the consumer
  uint64_t tail_cache_ = 0;                    ///< consumer's view of tail_
  alignas(64) std::atomic<uint64_t> tail_{0};  ///< next slot to fill; written by the producer
  uint64_t head_cache_ = 0;                    ///< producer's view of head_
};

}  // namespace clio

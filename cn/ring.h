// SPDX-License-Identifier: Apache-2.0
// Ring: a FIFO of trivially copyable values in one circular buffer, for CLib's per-thread queues.
// It grows by doubling up to a fixed capacity and never shrinks, so once a thread has reached its
// high-water mark, pushing and popping allocate nothing (std::deque allocates and frees a block
// every few hundred entries as its contents move forward, on the request path).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <memory>
#include <type_traits>

#include "common/check.h"

namespace clio::cn {

template <typename T>
class Ring {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  /// Holds at most `max_entries` (rounded up to a power of two); nothing is allocated yet.
  explicit Ring(size_t max_entries) : max_(std::bit_ceil(max_entries)) {}

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  size_t max_size() const { return max_; }

  /// Entry i from the front (0: the oldest).
  T& operator[](size_t i) { return buf_[(head_ + i) & (cap_ - 1)]; }
  const T& operator[](size_t i) const { return buf_[(head_ + i) & (cap_ - 1)]; }
  T& front() { return (*this)[0]; }
  const T& front() const { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }
  const T& back() const { return (*this)[size_ - 1]; }

  /// Appends v; false (and nothing changed) when max_size() entries are held.
  bool push_back(const T& v) {
    if (size_ == cap_) {
      if (cap_ == max_) return false;
      grow();
    }
    buf_[(head_ + size_) & (cap_ - 1)] = v;
    ++size_;
    return true;
  }
  void pop_front() {
    CLIO_DCHECK(size_ > 0);
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
  }
  /// Keeps the first n entries (n <= size()).
  void truncate(size_t n) {
    CLIO_DCHECK(n <= size_);
    size_ = n;
  }
  /// The position of the first entry equal to v, or size() when there is none.
  size_t find(const T& v) const {
    size_t i = 0;
    while (i < size_ && !((*this)[i] == v)) ++i;
    return i;
  }
  /// Removes entry i (i < size()), keeping the others in order.
  void erase_at(size_t i) {
    CLIO_DCHECK(i < size_);
    for (; i + 1 < size_; ++i) (*this)[i] = (*this)[i + 1];
    --size_;
  }

 private:
  void grow() {
    const size_t cap = cap_ == 0 ? std::min<size_t>(16, max_) : cap_ * 2;
    auto buf = std::make_unique_for_overwrite<T[]>(cap);
    for (size_t i = 0; i < size_; ++i) buf[i] = (*this)[i];
    buf_ = std::move(buf);
    cap_ = cap;
    head_ = 0;
  }

  std::unique_ptr<T[]> buf_;
  size_t cap_ = 0;   ///< a power of two, or 0 before the first push
  size_t head_ = 0;  ///< position of the front in buf_
  size_t size_ = 0;
  const size_t max_;
};

}  // namespace clio::cn

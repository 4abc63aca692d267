// SPDX-License-Identifier: Apache-2.0
// The memory pool: one anonymous MAP_NORESERVE region cut into pages of one size.
//
// Physical memory is taken only when a page is prepared (just before it enters a free-page ring)
// and given back when a freed page is scrubbed, so the pool may be far larger than the host's
// RAM. Pages of 2 MiB and more are backed by transparent huge pages where the kernel offers them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/mapped_memory.h"

namespace clio::mn {

class MemoryPool {
 public:
  /// pool_bytes is rounded down to whole pages. Throws clio::Error when it cannot be mapped.
  MemoryPool(uint64_t pool_bytes, uint64_t page_bytes);

  uint64_t num_pages() const { return num_pages_; }
  uint64_t page_bytes() const { return page_bytes_; }
  int page_shift() const { return page_shift_; }
  uint64_t bytes() const { return num_pages_ << page_shift_; }

  /// Host address of page `ppn` (ppn < num_pages()).
  std::byte* page(uint64_t ppn) const { return base_ + (ppn << page_shift_); }

  /// Makes a zero page resident (MADV_POPULATE_WRITE, or touching it where the kernel lacks
  /// that), so that its first access on the fast path costs no kernel fault. Slow path only.
  void prepare(uint64_t ppn);

  /// Zeroes the pages and returns their memory to the kernel (MADV_DONTNEED). Sorts `ppns` and
  /// issues one call per contiguous run. Slow path only.
  void scrub(std::span<uint64_t> ppns);

 private:
  uint64_t page_bytes_;
  int page_shift_;
  uint64_t num_pages_;
  MappedMemory memory_;
  std::byte* base_;
  bool have_populate_ = true;
};

}  // namespace clio::mn

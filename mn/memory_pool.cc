// SPDX-License-Identifier: Apache-2.0
#include "mn/memory_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/check.h"
#include "common/error.h"
#include "common/log.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

namespace clio::mn {

MemoryPool::MemoryPool(uint64_t pool_bytes, uint64_t page_bytes)
    : page_bytes_(page_bytes),
      page_shift_(__builtin_ctzll(page_bytes)),
      num_pages_(pool_bytes / page_bytes),
      memory_(num_pages_ * page_bytes, /*huge=*/page_bytes >= (uint64_t{2} << 20), "memory pool"),
      base_(static_cast<std::byte*>(memory_.data())) {}

void MemoryPool::prepare(uint64_t ppn) {
  CLIO_DCHECK(ppn < num_pages_);
  std::byte* p = page(ppn);
  if (have_populate_) {
    if (madvise(p, page_bytes_, MADV_POPULATE_WRITE) == 0) return;
    if (errno != EINVAL) {
      // ENOMEM and the like: the host is out of RAM. Touching would fail just the same, so the
      // page stays unpopulated and the kernel will fault it in on first access instead.
      CLIO_LOG(WARN, "mn.pool", "cannot populate page %llu (errno %d)",
               static_cast<unsigned long long>(ppn), errno);
      return;
    }
    have_populate_ = false;  // old kernel: fall back to touching
  }
  // The page is zero already (never used, or scrubbed); writing a zero into each 4 KiB makes it
  // resident without changing it.
  for (uint64_t off = 0; off < page_bytes_; off += 4096)
    reinterpret_cast<volatile char*>(p)[off] = 0;
}

void MemoryPool::scrub(std::span<uint64_t> ppns) {
  std::sort(ppns.begin(), ppns.end());
  size_t i = 0;
  while (i < ppns.size()) {
    size_t j = i + 1;
    while (j < ppns.size() && ppns[j] == ppns[j - 1] + 1) ++j;
    const size_t len = (j - i) * page_bytes_;
    if (madvise(page(ppns[i]), len, MADV_DONTNEED) != 0) {
      // Cannot happen for a private anonymous mapping; zero by hand so nothing ever leaks.
      CLIO_LOG(WARN, "mn.pool", "madvise(DONTNEED) failed (errno %d); zeroing instead", errno);
      std::memset(page(ppns[i]), 0, len);
    }
    i = j;
  }
}

}  // namespace clio::mn

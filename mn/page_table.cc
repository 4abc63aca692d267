// SPDX-License-Identifier: Apache-2.0
#include "mn/page_table.h"

#include <algorithm>
#include <bit>

#include "common/check.h"

namespace clio::mn {

PageTable::PageTable(uint64_t min_slots)
    : num_buckets_(
          std::bit_ceil(std::max<uint64_t>(1, (min_slots + kPtesPerBucket - 1) / kPtesPerBucket))),
      mask_(num_buckets_ - 1),
      group_shift_(std::min(kVpnBits, std::countr_zero(num_buckets_) + 2)),
      memory_(num_buckets_ * sizeof(Bucket), /*huge=*/true, "page table"),
      buckets_(static_cast<Bucket*>(memory_.data())),
      fill_(num_buckets_, 0) {}

bool PageTable::find_window(uint64_t len, uint64_t from, uint64_t* first) const {
  if (len == 0 || len > num_buckets_) return false;
  // One pass over (at most) twice the ring: the length of the run of non-full buckets ending at
  // each position; the first run that reaches `len` is the answer.
  uint64_t run = 0;
  for (uint64_t i = 0; i < num_buckets_ + len - 1; ++i) {
    const uint64_t b = (from + i) & mask_;
    run = fill_[b] < kPtesPerBucket ? run + 1 : 0;
    if (run == len) {
      *first = (b - (len - 1)) & mask_;
      return true;
    }
  }
  return false;
}

Pte* PageTable::reserve(uint64_t tag, uint64_t word) {
  CLIO_DCHECK(tag != Pte::kEmpty && (tag & Pte::kPending) == 0);
  const uint64_t index = bucket_of(tag);
  if (fill_[index] == kPtesPerBucket) return nullptr;
  for (Pte& p : buckets_[index].ptes) {
    if (p.load_tag() == Pte::kEmpty) {
      p.store_word(word);
      p.store_tag(tag | Pte::kPending);
      ++fill_[index];
      used_slots_.fetch_add(1, std::memory_order_relaxed);
      return &p;
    }
  }
  CLIO_CHECK_MSG(false, "bucket fill count disagrees with its slots");
  return nullptr;
}

void PageTable::cancel(Pte* p) {
  CLIO_DCHECK(p->load_tag() & Pte::kPending);
  --fill_[index_of(p)];
  p->store_word(0);
  p->store_tag(Pte::kEmpty);
  used_slots_.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t PageTable::retire(Pte* p) {
  const uint64_t old = p->exchange_word(0);
  p->store_tag(Pte::kTombstone);
  return old;
}

void PageTable::clear(Pte* p) {
  CLIO_DCHECK(p->load_tag() == Pte::kTombstone);
  --fill_[index_of(p)];
  p->store_tag(Pte::kEmpty);
  used_slots_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace clio::mn

// SPDX-License-Identifier: Apache-2.0
// The fast path proper: what runs per request. No allocation, no exceptions, no locks.
#include <atomic>
#include <cstring>

#include "common/check.h"
#include "mn/fast_path_slot.h"

namespace clio::mn {

void FastPath::top_up_when_idle() {
  if (lazy_ != nullptr || mn_.pool_exhausted.load(std::memory_order_relaxed)) return;
  if (slot_.free_pages.size_approx() < slot_.free_pages.capacity()) mn_.slow_path.ring();
}

Status FastPath::fault(Pte* p, uint64_t* word) {
  uint64_t w = *word;
  // A lost race costs one retry; more than a few means protect() keeps flipping the word.
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::atomic_ref<uint64_t> spare(slot_.spare_page);
    uint64_t ppn = spare.load(std::memory_order_relaxed);
    if (ppn != kNoPage) {
      spare.store(kNoPage, std::memory_order_relaxed);
    } else if (!slot_.free_pages.pop(&ppn)) [[unlikely]] {
      mn_.slow_path.ring();
      bump(slot_.counters.retry_later);
      return mn_.pool_exhausted.load(std::memory_order_relaxed) ? Status::kNoMemory
                                                                : Status::kRetryLater;
    }
    const uint64_t desired = w | Pte::kValid | ppn;
    if (p->cas_word(w, desired)) {
      *word = desired;
      bump(slot_.counters.faults);
      if (slot_.free_pages.size_approx() < ring_low_water_) mn_.slow_path.ring();
      return Status::kOk;
    }
    // Lost: `w` now holds the current word. Keep the page for the next fault.
    spare.store(ppn, std::memory_order_relaxed);
    if (!(w & Pte::kAllocated)) return Status::kUnmapped;  // freed meanwhile
    if (w & Pte::kValid) {                                 // another worker faulted it in
      *word = w;
      return Status::kOk;
    }
  }
  bump(slot_.counters.retry_later);
  return Status::kRetryLater;
}

Status FastPath::check_key(uint32_t pid, uint64_t key, bool write) const {
  if (pid == 0 || pid >= max_ras_ || key == 0) [[unlikely]]
    return Status::kNoSuchRas;
  if (key != mn_.spaces.key_rw(pid)) [[unlikely]] {
    if (key != mn_.spaces.key_ro(pid)) return Status::kNoSuchRas;
    if (write) return Status::kPermission;
  }
  return Status::kOk;
}

Status FastPath::translate(const Target& t, uint32_t len, bool write, std::byte** host) {
  CLIO_DCHECK(in_batch_);
  if (len == 0 || (t.va & page_mask_) + len > page_mask_ + 1) [[unlikely]]
    return Status::kBadArgument;
  if (Status s = check_key(t.pid, t.key, write); s != Status::kOk) [[unlikely]]
    return s;
  if (t.va >= kVaLimit) [[unlikely]]
    return Status::kUnmapped;
  if (lazy_ != nullptr) [[unlikely]]
    return translate_lazy(t, write, host);

  const uint64_t tag = Pte::make_tag(t.pid, t.va >> page_shift_);
  uint64_t word;
  if (tlb_.lookup(tag, &word)) [[likely]] {
    bump(slot_.counters.tlb_hits);
  } else {
    bump(slot_.counters.tlb_misses);
    Pte* p = table_.find(tag);
    if (p == nullptr) return Status::kUnmapped;
    word = p->load_word();
    if (!(word & Pte::kAllocated)) [[unlikely]]
      return Status::kUnmapped;  // being freed
    if (write && !(word & Pte::kWritable)) return Status::kPermission;
    if (!(word & Pte::kValid)) {
      const Status s = fault(p, &word);
      if (s != Status::kOk) return s;
    }
    tlb_.insert(tag, word);
  }
  if (write && !(word & Pte::kWritable)) [[unlikely]]
    return Status::kPermission;
  *host = pool_base_ + ((word & Pte::kPpnMask) << page_shift_) + (t.va & page_mask_);
  return Status::kOk;
}

Status FastPath::translate_lazy(const Target& t, bool write, std::byte** host) {
  uint64_t word = lazy_->find(t.pid, t.va >> page_shift_);
  if (word == 0) {
    bool mapped = false;
    const Status s = mn_.lazy_fault(mn_.node, t.pid, t.va, write, &word, &mapped);
    if (s != Status::kOk) return s;
    if (mapped) bump(slot_.counters.faults);
  }
  if (write && !(word & Pte::kWritable)) return Status::kPermission;
  *host = pool_base_ + ((word & Pte::kPpnMask) << page_shift_) + (t.va & page_mask_);
  return Status::kOk;
}

namespace {
inline Status count_error(Status s, FastPathCounters& c) {
  if (s != Status::kRetryLater) bump(c.errors);
  return s;
}
}  // namespace

Status FastPath::read(const Target& t, std::span<std::byte> out) {
  std::byte* src;
  const uint32_t len = out.size() > UINT32_MAX ? 0 : static_cast<uint32_t>(out.size());
  if (Status s = translate(t, len, false, &src); s != Status::kOk) [[unlikely]]
    return count_error(s, slot_.counters);
  std::memcpy(out.data(), src, out.size());
  bump(slot_.counters.reads);
  return Status::kOk;
}

Status FastPath::read_view(const Target& t, uint32_t len, const std::byte** data) {
  std::byte* src;
  if (Status s = translate(t, len, false, &src); s != Status::kOk) [[unlikely]]
    return count_error(s, slot_.counters);
  *data = src;
  bump(slot_.counters.reads);
  return Status::kOk;
}

Status FastPath::write(const Target& t, std::span<const std::byte> in) {
  std::byte* dst;
  const uint32_t len = in.size() > UINT32_MAX ? 0 : static_cast<uint32_t>(in.size());
  if (Status s = translate(t, len, true, &dst); s != Status::kOk) [[unlikely]]
    return count_error(s, slot_.counters);
  std::memcpy(dst, in.data(), in.size());
  bump(slot_.counters.writes);
  return Status::kOk;
}

Status FastPath::cas(const Target& t, uint64_t expected, uint64_t desired, uint64_t* old) {
  if (t.va & 7) [[unlikely]]
    return count_error(Status::kBadArgument, slot_.counters);
  std::byte* p;
  if (Status s = translate(t, 8, true, &p); s != Status::kOk) [[unlikely]]
    return count_error(s, slot_.counters);
  std::atomic_ref<uint64_t> word(*reinterpret_cast<uint64_t*>(p));
  word.compare_exchange_strong(expected, desired);
  *old = expected;  // on success it still holds the expected (= old) value
  bump(slot_.counters.cas);
  return Status::kOk;
}

Status FastPath::faa(const Target& t, uint64_t add, uint64_t* old) {
  if (t.va & 7) [[unlikely]]
    return count_error(Status::kBadArgument, slot_.counters);
  std::byte* p;
  if (Status s = translate(t, 8, true, &p); s != Status::kOk) [[unlikely]]
    return count_error(s, slot_.counters);
  *old = std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(p)).fetch_add(add);
  bump(slot_.counters.faa);
  return Status::kOk;
}

}  // namespace clio::mn

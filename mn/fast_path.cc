// SPDX-License-Identifier: Apache-2.0
#include <atomic>

#include "common/check.h"
#include "mn/fast_path_slot.h"

namespace clio::mn {

FastPathCounters load_counters(const FastPathCounters& c) {
  auto ld = [](const uint64_t& v) {
    return std::atomic_ref(const_cast<uint64_t&>(v)).load(std::memory_order_relaxed);
  };
  FastPathCounters r;
#define CLIO_X(name, report, doc) r.name = ld(c.name);
  CLIO_FAST_PATH_COUNTERS(CLIO_X)
#undef CLIO_X
  return r;
}

FastPath::FastPath(const FastPathView& mn, FastPathSlot& slot, int index)
    : mn_(mn),
      slot_(slot),
      index_(index),
      base_(load_counters(slot.counters)),
      seen_inval_seq_(slot.inval_seq.load(std::memory_order_seq_cst)),
      table_(mn.table),
      lazy_(mn.lazy),
      pool_base_(mn.pool.page(0)),
      page_shift_(mn.pool.page_shift()),
      page_mask_(mn.pool.page_bytes() - 1),
      max_ras_(mn.max_ras),
      ring_low_water_(static_cast<uint32_t>(slot.free_pages.capacity() / 2)) {}

FastPath::~FastPath() {
  CLIO_CHECK_MSG(!in_batch_, "a FastPath was destroyed inside a batch");
  // Hands the slot (its ring and spare page) back; the slow path reclaims it.
  slot_.state.store(FastPathSlot::kRetiring, std::memory_order_seq_cst);
  mn_.slow_path.ring();
}

void FastPath::enter() {
  CLIO_DCHECK(!in_batch_);
  in_batch_ = true;
  // seq_cst store, then seq_cst loads (inval_seq here, page-table tags later): see
  // MemoryNode::synchronize for why the slow path may then trust what it reads of `epoch`.
  slot_.epoch.store(slot_.epoch.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
  const uint64_t seq = slot_.inval_seq.load(std::memory_order_seq_cst);
  if (seq != seen_inval_seq_) [[unlikely]] {
    seen_inval_seq_ = seq;
    apply_invalidations();
  }
}

void FastPath::leave() {
  CLIO_DCHECK(in_batch_);
  in_batch_ = false;
  // Release: everything this batch did to pool memory happens-before the slow path's reuse.
  slot_.epoch.store(slot_.epoch.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

void FastPath::apply_invalidations() {
  if (slot_.flush_all.exchange(false, std::memory_order_seq_cst)) {
    tlb_.flush();
    Invalidation inv;
    while (slot_.invalidations.pop(&inv)) {
    }
    return;
  }
  Invalidation inv;
  while (slot_.invalidations.pop(&inv)) tlb_.invalidate(inv.pid, inv.vpn_lo, inv.vpn_hi);
}

bool FastPath::submit(const ControlRequest& req) {
  if (!slot_.requests.push(req)) return false;
  mn_.slow_path.ring();
  return true;
}

size_t FastPath::poll_replies(std::span<ControlReply> out) { return slot_.replies.pop_burst(out); }

FastPathCounters FastPath::counters() const {
  FastPathCounters now = load_counters(slot_.counters);
  now -= base_;
  return now;
}

}  // namespace clio::mn

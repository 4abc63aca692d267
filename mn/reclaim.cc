// SPDX-License-Identifier: Apache-2.0
// Reclaim: how the slow path takes memory back from the fast path. Unmapping retires PTEs; a
// TLB shoot-down and a grace period (every worker has left the batch it was in) follow before a
// retired slot is cleared or a freed page is scrubbed and reused; retiring workers' slots and
// queued pages come back here too. Runs on the slow-path thread.
#include <sched.h>

#include <thread>

#include "common/check.h"
#include "common/clock.h"
#include "mn/fast_path_slot.h"
#include "mn/memory_node.h"

namespace clio::mn {

void MemoryNode::reclaim_retiring_workers() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    FastPathSlot& s = *slots_[i];
    if (s.state.load(std::memory_order_acquire) != FastPathSlot::kRetiring) continue;
    // The worker is gone: this thread is now the consumer of its rings.
    uint64_t ppn;
    while (s.free_pages.pop(&ppn)) prepared_pages_.push_back(ppn);
    if (s.spare_page != kNoPage) prepared_pages_.push_back(s.spare_page);
    s.spare_page = kNoPage;
    Invalidation inv;
    while (s.invalidations.pop(&inv)) {
    }
    ControlRequest req;
    while (s.requests.pop(&req)) {
    }
    ControlReply rep;
    while (s.replies.pop(&rep)) {
    }
    pending_replies_[i].clear();
    // Requests of the gone worker still in progress or deferred: nobody waits for them now,
    // and the slot may soon serve a new worker that must not see their replies.
    if (job_.active && job_.src.slot == static_cast<int>(i)) job_.src.slot = -2;
    for (auto& d : deferred_)
      if (d.first.slot == static_cast<int>(i)) d.first.slot = -2;
    s.flush_all.store(false, std::memory_order_relaxed);
    pages_prepared_.store(prepared_pages_.size(), std::memory_order_relaxed);
    s.state.store(FastPathSlot::kFree, std::memory_order_seq_cst);
  }
}

void MemoryNode::unmap(uint32_t pid, uint64_t vpn, uint64_t pages) {
  if (lazy_ != nullptr) {
    std::lock_guard lock(fault_mu_);  // faults of every address space wait: the design's cost
    for (uint64_t i = 0; i < pages; ++i) {
      const uint64_t old = lazy_->unmap(pid, vpn + i);
      if (old & Pte::kValid) retired_pages_.push_back(old & Pte::kPpnMask);
    }
    return;
  }
  for (uint64_t i = 0; i < pages; ++i) {
    Pte* p = table_.find(Pte::make_tag(pid, vpn + i));
    CLIO_CHECK_MSG(p != nullptr, "an allocated page has no page-table slot");
    const uint64_t old = table_.retire(p);
    retired_slots_.push_back(p);
    if (old & Pte::kValid) retired_pages_.push_back(old & Pte::kPpnMask);
  }
}

void MemoryNode::shootdown_and_recycle(const Invalidation* inv, size_t n) {
  for (const auto& sp : slots_) {
    FastPathSlot& s = *sp;
    if (s.state.load(std::memory_order_seq_cst) != FastPathSlot::kActive) continue;
    for (size_t i = 0; i < n; ++i)
      if (!s.invalidations.push(inv[i])) s.flush_all.store(true, std::memory_order_seq_cst);
    s.inval_seq.fetch_add(1, std::memory_order_seq_cst);
  }
  synchronize();
  for (Pte* p : retired_slots_) table_.clear(p);
  retired_slots_.clear();
  std::unique_lock lazy_lock(fault_mu_, std::defer_lock);
  if (lazy_ != nullptr) {
    lazy_lock.lock();
    lazy_->reclaim();  // no reader holds what was unlinked before the grace period
    lazy_lock.unlock();
  }
  if (!retired_pages_.empty()) {
    pool_.scrub(retired_pages_);             // zeroes them and returns their RAM to the kernel
    if (lazy_ != nullptr) lazy_lock.lock();  // their faults take pages from free_pages_
    free_pages_.insert(free_pages_.end(), retired_pages_.begin(), retired_pages_.end());
    pages_free_.fetch_add(retired_pages_.size(), std::memory_order_relaxed);
    pages_recycled_.fetch_add(retired_pages_.size(), std::memory_order_relaxed);
    retired_pages_.clear();
    pool_exhausted_.store(false, std::memory_order_relaxed);
  }
}

void MemoryNode::synchronize() {
  // Why this is enough: the slow path's page-table stores and inval_seq bumps are seq_cst and
  // come before the epoch loads below; a worker's epoch store in enter() is seq_cst and comes
  // before its seq_cst loads of inval_seq and of tags. In the single total order of seq_cst
  // operations, a worker we see outside a batch (even epoch) therefore sees our changes as soon
  // as it enters; a worker we see inside (odd) may still hold old translations until it leaves,
  // so we wait for its epoch to move. Its leave() is a release store: everything it did to pool
  // memory happens-before what we do next with those pages.
  for (const auto& sp : slots_) {
    FastPathSlot& s = *sp;
    if (s.state.load(std::memory_order_seq_cst) != FastPathSlot::kActive) continue;
    const uint64_t e = s.epoch.load(std::memory_order_seq_cst);
    if ((e & 1) == 0) continue;
    for (uint32_t spins = 0; s.epoch.load(std::memory_order_acquire) == e &&
                             s.state.load(std::memory_order_acquire) == FastPathSlot::kActive;
         ++spins) {
      if (spins < 128) {
        cpu_relax();
      } else if (spins < 1024) {
        sched_yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    }
  }
  grace_periods_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace clio::mn

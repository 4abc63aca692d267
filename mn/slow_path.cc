// SPDX-License-Identifier: Apache-2.0
// The slow path: one thread that owns allocation, address spaces, and free-page refill. It may
// allocate, block and take its time; the fast path never waits for it.
#include <sched.h>

#include <algorithm>
#include <thread>

#include "common/check.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/units.h"
#include "mn/memory_node.h"
#include "mn/worker_slot.h"

namespace clio::mn {
namespace {

/// How much page preparation one pass of the loop may do before it looks at control requests
/// again: keeps ralloc latency bounded while rings of large pages fill.
constexpr uint64_t kRefillBudgetBytes = uint64_t{32} << 20;
/// Every source of work rings the doorbell (control requests, rings below their low water mark,
/// admin calls, retiring workers), so an idle slow path sleeps long: a short timeout would wake
/// it often enough to preempt busy-polling workers and show in their p99.
constexpr uint64_t kIdleSleepNs = 100'000'000;

uint64_t now_ms() { return now_ns() / 1'000'000; }

}  // namespace

// One pass: admin calls and workers' control requests (a ralloc among them becomes the job),
// retiring workers, free-page refill, one step of the job, expired leases. Refill and other
// clients' requests therefore wait for at most one step of a ralloc (ralloc_step_slots slot
// operations, about a millisecond by default), never for a whole one.
void MemoryNode::slow_path_main() {
  while (!stop_.load(std::memory_order_acquire)) {
    size_t work = drain_admin();
    work += drain_worker_requests();
    reclaim_retiring_workers();
    if (!refill_paused_) work += refill_rings(kRefillBudgetBytes);
    if (job_.active) {
      step_job();
      ++work;
    }
    replay_deferred();
    expire_leases();
    if (work == 0) doorbell_.wait(kIdleSleepNs, [this] { return slow_path_has_work(); });
  }
  // Answer whatever is still queued so that no caller waits forever.
  ControlReply bye{};
  bye.status = Status::kShuttingDown;
  if (job_.active) {
    if (job_.kind == Job::kRalloc)
      for (Pte* q : reserve_scratch_) table_.cancel(q);
    reserve_scratch_.clear();
    bye.cookie = job_.req.cookie;
    complete(job_.src, bye);
    job_.active = false;
  }
  for (auto& [src, req] : deferred_) {
    bye.cookie = req.cookie;
    complete(src, bye);
  }
  deferred_.clear();
  std::lock_guard lock(admin_mu_);
  slow_exited_ = true;
  for (auto& [kind, call] : admin_queue_) {
    call->reply.status = Status::kShuttingDown;
    call->done = true;
  }
  admin_queue_.clear();
  admin_cv_.notify_all();
}

bool MemoryNode::slow_path_has_work() {
  if (stop_.load(std::memory_order_seq_cst)) return true;
  {
    std::lock_guard lock(admin_mu_);
    if (!admin_queue_.empty()) return true;
  }
  const bool can_refill =
      lazy_ == nullptr && !refill_paused_ && !pool_exhausted_.load(std::memory_order_relaxed);
  for (const auto& s : slots_) {
    const int st = s->state.load(std::memory_order_seq_cst);
    if (st == WorkerSlot::kRetiring) return true;
    if (st != WorkerSlot::kActive) continue;
    if (s->requests.size_approx() != 0) return true;
    if (can_refill && s->free_pages.size_approx() < s->free_pages.capacity()) return true;
  }
  return false;
}

size_t MemoryNode::drain_admin() {
  std::deque<std::pair<AdminKind, AdminCall*>> batch;
  {
    std::lock_guard lock(admin_mu_);
    batch.swap(admin_queue_);
  }
  for (auto& [kind, call] : batch) {
    switch (kind) {
      case AdminKind::kControl:
        dispatch(call->req, Source{-1, call});  // complete() marks it done
        break;
      case AdminKind::kPause:
        refill_paused_ = true;
        break;
      case AdminKind::kResume:
        refill_paused_ = false;
        break;
      case AdminKind::kRefill:
        reclaim_retiring_workers();
        while (refill_rings(UINT64_MAX) != 0) {
        }
        break;
      case AdminKind::kReclaim:
        reclaim_retiring_workers();
        break;
    }
  }
  if (!batch.empty()) {
    std::lock_guard lock(admin_mu_);
    for (auto& [kind, call] : batch)
      if (kind != AdminKind::kControl) call->done = true;
    admin_cv_.notify_all();
  }
  return batch.size();
}

size_t MemoryNode::drain_worker_requests() {
  size_t n = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    WorkerSlot& s = *slots_[i];
    if (s.state.load(std::memory_order_acquire) != WorkerSlot::kActive) continue;
    auto& pending = pending_replies_[i];
    while (!pending.empty() && s.replies.push(pending.front())) pending.pop_front();
    ControlRequest req;
    while (pending.empty() && s.requests.pop(&req)) {
      dispatch(req, Source{static_cast<int>(i), nullptr});
      ++n;
    }
  }
  return n;
}

void MemoryNode::reclaim_retiring_workers() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    WorkerSlot& s = *slots_[i];
    if (s.state.load(std::memory_order_acquire) != WorkerSlot::kRetiring) continue;
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
    s.state.store(WorkerSlot::kFree, std::memory_order_seq_cst);
  }
}

bool MemoryNode::take_free_page(uint64_t* ppn) {
  if (!free_pages_.empty()) {
    *ppn = free_pages_.back();
    free_pages_.pop_back();
  } else if (next_fresh_page_ < pool_.num_pages()) {
    *ppn = next_fresh_page_++;
  } else {
    return false;
  }
  pages_free_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

size_t MemoryNode::refill_rings(uint64_t budget_bytes) {
  if (lazy_ != nullptr) return 0;  // their faults zero pages on the request path
  size_t pushed = 0;
  uint64_t spent = 0;
  bool exhausted = false;
  for (const auto& sp : slots_) {
    WorkerSlot& s = *sp;
    if (s.state.load(std::memory_order_acquire) != WorkerSlot::kActive) continue;
    size_t room = s.free_pages.capacity() - s.free_pages.size_approx();
    while (room > 0 && spent < budget_bytes) {
      uint64_t ppn;
      if (!prepared_pages_.empty()) {
        ppn = prepared_pages_.back();
        prepared_pages_.pop_back();
      } else if (take_free_page(&ppn)) {
        pool_.prepare(ppn);  // zero and resident before the fast path sees it
        spent += pool_.page_bytes();
      } else {
        exhausted = true;
        break;
      }
      const bool ok = s.free_pages.push(ppn);
      CLIO_DCHECK(ok);  // only this thread pushes, and there was room
      (void)ok;
      ++pushed;
      --room;
    }
  }
  pages_prepared_.store(prepared_pages_.size(), std::memory_order_relaxed);
  if (exhausted != pool_exhausted_.load(std::memory_order_relaxed)) {
    pool_exhausted_.store(exhausted, std::memory_order_relaxed);
    if (exhausted) CLIO_LOG(WARN, "mn.slow", "memory pool exhausted: first touches fail");
  }
  return pushed;
}

ControlReply MemoryNode::execute(const ControlRequest& req) {
  ControlReply r{};
  r.cookie = req.cookie;
  switch (req.op) {
    case wire::Opcode::kRasCreate:
      r = do_create_ras();
      r.cookie = req.cookie;
      break;
    case wire::Opcode::kProtect:
      r.status = do_protect(req.pid, req.key, req.va, req.flags & wire::kFlagReadOnly);
      break;
    default:
      r.status = Status::kBadArgument;
      break;
  }
  CLIO_LOG(DEBUG, "mn.slow", "%s pid=%u va=0x%llx size=%llu -> %s", wire::opcode_name(req.op),
           req.op == wire::Opcode::kRasCreate ? r.pid : req.pid,
           static_cast<unsigned long long>(req.op == wire::Opcode::kRalloc ? r.va : req.va),
           static_cast<unsigned long long>(req.size), status_name(r.status));
  return r;
}

MemoryNode::Ras* MemoryNode::find_ras(uint32_t pid, uint64_t key) {
  auto it = ras_.find(pid);
  if (it == ras_.end() || key == 0 || it->second.key_rw != key) return nullptr;
  renewed_ms_[pid].store(now_ms(), std::memory_order_relaxed);  // its owner is alive
  return &it->second;
}

ControlReply MemoryNode::do_create_ras() {
  ControlReply r{};
  uint32_t pid;
  if (next_pid_ < cfg_.max_ras) {
    pid = next_pid_++;
  } else if (!free_pids_.empty()) {
    pid = free_pids_.front();  // oldest first: a stale client's pid stays dead for longest
    free_pids_.pop_front();
  } else {
    r.status = Status::kTooManyRas;
    return r;
  }
  Ras ras;
  ras.key_rw = random_key();
  do {
    ras.key_ro = random_key();
  } while (ras.key_ro == ras.key_rw);
  std::atomic_ref(keys_[pid].ro).store(ras.key_ro);
  std::atomic_ref(keys_[pid].rw).store(ras.key_rw);
  r.status = Status::kOk;
  r.pid = pid;
  r.key_rw = ras.key_rw;
  r.key_ro = ras.key_ro;
  renewed_ms_[pid].store(now_ms(), std::memory_order_relaxed);
  ras_.emplace(pid, std::move(ras));
  ras_live_.fetch_add(1, std::memory_order_relaxed);
  return r;
}

void MemoryNode::begin_destroy(uint32_t pid) {
  Ras& r = ras_.at(pid);
  // Keys first: from here on no new access of this pid passes the fast path's check.
  std::atomic_ref(keys_[pid].rw).store(0);
  std::atomic_ref(keys_[pid].ro).store(0);
  job_.ranges.clear();
  for (const auto& [va, vma] : r.vmas)
    job_.ranges.emplace_back(va >> pool_.page_shift(), vma.pages);
  r.vmas.clear();
  if (lazy_ != nullptr) {
    std::lock_guard lock(fault_mu_);
    lazy_vmas_[pid].clear();  // no new first touch from here on
  }
  r.pages = 0;
}

bool MemoryNode::start_destroy(const ControlRequest& req, Source src, ControlReply* out) {
  if (find_ras(req.pid, req.key) == nullptr) {
    out->status = Status::kNoSuchRas;
    out->cookie = req.cookie;
    return false;
  }
  begin_destroy(req.pid);
  start_unmap(req, src, /*destroy=*/true);
  return true;
}

bool MemoryNode::start_rfree(const ControlRequest& req, Source src, ControlReply* out) {
  out->cookie = req.cookie;
  Ras* r = find_ras(req.pid, req.key);
  if (r == nullptr) {
    out->status = Status::kNoSuchRas;
    return false;
  }
  auto it = r->vmas.find(req.va);
  if (it == r->vmas.end()) {
    // Inside an allocation but not its start is a misuse; anywhere else is simply unmapped.
    out->status = overlaps(*r, req.va, 1) ? Status::kBadArgument : Status::kUnmapped;
    return false;
  }
  const uint64_t pages = it->second.pages;
  r->vmas.erase(it);  // gone for this address space's later requests (they wait anyway)
  r->pages -= pages;
  if (lazy_ != nullptr) {
    std::lock_guard lock(fault_mu_);
    lazy_vmas_[req.pid].erase(req.va);
  }
  job_.ranges.assign(1, {req.va >> pool_.page_shift(), pages});
  start_unmap(req, src, /*destroy=*/false);
  return true;
}

void MemoryNode::start_unmap(const ControlRequest& req, Source src, bool destroy) {
  auto ranges = std::move(job_.ranges);
  job_ = Job{};
  job_.kind = Job::kUnmap;
  job_.active = true;
  job_.src = src;
  job_.req = req;
  job_.ranges = std::move(ranges);
  job_.destroy = destroy;
}

bool MemoryNode::step_unmap() {
  const uint32_t pid = job_.req.pid;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (uint64_t budget = cfg_.ralloc_step_slots; budget > 0 && job_.range < job_.ranges.size();) {
    const auto [vpn, pages] = job_.ranges[job_.range];
    const uint64_t n = std::min(budget, pages - job_.range_done);
    const uint64_t from = vpn + job_.range_done;
    unmap(pid, from, n);
    lo = std::min(lo, from);
    hi = std::max(hi, from + n);
    budget -= n;
    job_.range_done += n;
    if (job_.range_done == pages) {
      ++job_.range;
      job_.range_done = 0;
    }
  }
  const bool last = job_.range == job_.ranges.size();
  // Each step's pages are shot down and recycled after their own grace period.
  const Invalidation inv = last && job_.destroy ? Invalidation{pid, 0, uint64_t{1} << kVpnBits}
                                                : Invalidation{pid, lo, hi};
  if (lo < hi || last) shootdown_and_recycle(&inv, 1);
  if (!last) return false;
  if (job_.destroy) {
    ras_.erase(pid);
    free_pids_.push_back(pid);  // after the grace period: no worker still acts for it
    ras_live_.fetch_sub(1, std::memory_order_relaxed);
  } else {
    rfrees_.fetch_add(1, std::memory_order_relaxed);
  }
  job_.active = false;
  job_.ranges.clear();
  ControlReply r{};
  r.status = Status::kOk;
  r.cookie = job_.req.cookie;
  complete(job_.src, r);
  return true;
}

bool MemoryNode::overlaps(const Ras& r, uint64_t va, uint64_t len) const {
  const int shift = pool_.page_shift();
  auto it = r.vmas.upper_bound(va);  // first allocation starting after va
  if (it != r.vmas.end() && it->first < va + len) return true;
  if (it != r.vmas.begin()) {
    --it;
    if (it->first + (it->second.pages << shift) > va) return true;
  }
  return false;
}

bool MemoryNode::candidate(Ras& r, uint32_t pid, uint64_t len, uint32_t attempt, uint64_t* va) {
  const uint64_t page = pool_.page_bytes();
  const int shift = pool_.page_shift();
  if (attempt == 0) {
    // First choice: right after the previous allocation; else the lowest gap that fits.
    if (r.next_va <= kVaLimit - len && !overlaps(r, r.next_va, len)) {
      *va = r.next_va;
      return true;
    }
    uint64_t prev_end = kVaBase;
    for (const auto& [start, vma] : r.vmas) {
      if (start >= prev_end && start - prev_end >= len) {
        *va = prev_end;
        return true;
      }
      prev_end = std::max(prev_end, start + (vma.pages << shift));
    }
    if (prev_end <= kVaLimit - len) {
      *va = prev_end;
      return true;
    }
    return false;
  }
  const uint64_t pages = len >> shift;
  if (attempt == 1) {
    // Second choice: a window of buckets that all have room (see PageTable), then a VA whose
    // pages land exactly there: group g, offset o with rotation(pid, g) + o == window (mod n).
    const uint64_t n = table_.num_buckets();
    const uint64_t group = table_.group_pages();
    uint64_t window;
    if (pages > n || !table_.find_window(pages, rng_.below(n), &window)) return false;
    const uint64_t vpn_limit = kVaLimit >> shift;
    uint64_t g = std::max(r.next_va, kVaBase) >> shift;
    g /= group;
    for (int tries = 0; tries < 64 && (g + 1) * group <= vpn_limit; ++tries, ++g) {
      for (uint64_t o = (window - table_.rotation(pid, g)) & (n - 1); o + pages <= group; o += n) {
        const uint64_t v = (g * group + o) << shift;
        if (v >= kVaBase && !overlaps(r, v, len)) {
          *va = v;
          return true;
        }
      }
    }
    return false;
  }
  // Later choices: a random place, which lands on an unrelated set of buckets.
  const uint64_t slots = (kVaLimit - kVaBase - len) / page + 1;
  const uint64_t v = kVaBase + rng_.below(slots) * page;
  if (overlaps(r, v, len)) return false;
  *va = v;
  return true;
}

void MemoryNode::dispatch(const ControlRequest& req, Source src) {
  replay_deferred();  // what arrived earlier goes first
  const bool becomes_job = req.op == wire::Opcode::kRalloc || req.op == wire::Opcode::kRfree ||
                           req.op == wire::Opcode::kRasDestroy;
  if (job_.active && (becomes_job || req.pid == job_.req.pid)) {
    deferred_.emplace_back(src, req);
    return;
  }
  if (!becomes_job) {
    complete(src, execute(req));
    return;
  }
  ControlReply r{};
  const bool started = req.op == wire::Opcode::kRalloc  ? start_ralloc(req, src, &r)
                       : req.op == wire::Opcode::kRfree ? start_rfree(req, src, &r)
                                                        : start_destroy(req, src, &r);
  if (started) {
    step_job();  // small ones finish here; the job answers src when it does
  } else {
    complete(src, r);  // refused at once
  }
}

void MemoryNode::replay_deferred() {
  if (replaying_) return;
  replaying_ = true;
  while (!job_.active && !deferred_.empty()) {
    const auto [src, req] = deferred_.front();
    deferred_.pop_front();
    dispatch(req, src);
  }
  replaying_ = false;
}

void MemoryNode::complete(Source src, const ControlReply& r) {
  if (src.slot >= 0) {
    auto& pending = pending_replies_[src.slot];
    if (!pending.empty() || !slots_[src.slot]->replies.push(r)) pending.push_back(r);
  } else if (src.slot == -1) {
    std::lock_guard lock(admin_mu_);
    src.call->reply = r;
    src.call->done = true;
    admin_cv_.notify_all();
  }  // -2: the worker that asked has gone
}

bool MemoryNode::start_ralloc(const ControlRequest& req, Source src, ControlReply* out) {
  auto refuse = [&](Status s, bool failure) {
    if (failure) ralloc_failures_.fetch_add(1, std::memory_order_relaxed);
    out->status = s;
    out->cookie = req.cookie;
    return false;
  };
  Ras* r = find_ras(req.pid, req.key);
  if (r == nullptr) return refuse(Status::kNoSuchRas, false);
  const uint8_t flags = req.flags;
  if (req.size == 0 || (flags & ~(wire::kFlagReadOnly | wire::kFlagFixedVa)) != 0)
    return refuse(Status::kBadArgument, false);
  const int shift = pool_.page_shift();
  // Fail fast: what can never fit is refused before any slot is touched.
  if (req.size > kVaLimit - kVaBase) return refuse(Status::kNoMemory, true);
  const uint64_t pages = (req.size + pool_.page_bytes() - 1) >> shift;
  const uint64_t len = pages << shift;
  if (flags & wire::kFlagFixedVa) {
    if (req.va == 0 || (req.va & (pool_.page_bytes() - 1)) != 0 || req.va >= kVaLimit ||
        len > kVaLimit - req.va)
      return refuse(Status::kBadArgument, false);
    if (overlaps(*r, req.va, len)) return refuse(Status::kVaInUse, false);
  }
  if (r->pages + pages > quota_pages_ || r->pages + pages > quota_slots_) {
    quota_refusals_.fetch_add(1, std::memory_order_relaxed);
    CLIO_LOG(DEBUG, "mn.slow", "ralloc of %s for pid %u: over its quota", format_size(len).c_str(),
             req.pid);
    return refuse(r->pages + pages > quota_pages_ ? Status::kQuotaMemory : Status::kQuotaSlots,
                  true);
  }
  if (lazy_ != nullptr) {
    // The lazily-mapping designs record the range; first touches map its pages.
    uint64_t v = req.va;
    if (!(flags & wire::kFlagFixedVa) && !candidate(*r, req.pid, len, 0, &v))
      return refuse(Status::kNoMemory, true);
    const bool writable = !(flags & wire::kFlagReadOnly);
    r->vmas.emplace(v, Vma{pages, writable});
    r->next_va = v + len;
    r->pages += pages;
    {
      std::lock_guard lock(fault_mu_);
      lazy_vmas_[req.pid].emplace(v, Vma{pages, writable});
    }
    rallocs_.fetch_add(1, std::memory_order_relaxed);
    out->status = Status::kOk;
    out->cookie = req.cookie;
    out->va = v;
    return false;  // answered at once
  }
  if (table_.used_slots() + pages > table_.num_slots()) return refuse(Status::kNoMemory, true);
  job_ = Job{};
  job_.kind = Job::kRalloc;
  job_.active = true;
  job_.src = src;
  job_.req = req;
  job_.pages = pages;
  job_.len = len;
  job_.word = Pte::kAllocated | ((flags & wire::kFlagReadOnly) ? 0 : Pte::kWritable);
  job_.work_limit = 8 * pages + (uint64_t{1} << 20);
  reserve_scratch_.clear();
  return true;
}

bool MemoryNode::step_ralloc() {
  Ras* r = find_ras(job_.req.pid, job_.req.key);
  if (r == nullptr) {  // cannot happen (its destroy waits in deferred_), but never guess
    for (Pte* q : reserve_scratch_) table_.cancel(q);
    reserve_scratch_.clear();
    finish_ralloc(Status::kNoSuchRas);
    return true;
  }
  const uint32_t pid = job_.req.pid;
  const bool fixed = job_.req.flags & wire::kFlagFixedVa;
  const uint32_t tries = fixed ? 1 : cfg_.ralloc_tries;
  for (uint64_t budget = cfg_.ralloc_step_slots; budget > 0;) {
    if (job_.cancelling) {
      // A candidate failed (or the work bound was reached): its slots go back, in steps too.
      for (; !reserve_scratch_.empty() && budget > 0; --budget, ++job_.work) {
        table_.cancel(reserve_scratch_.back());
        reserve_scratch_.pop_back();
      }
      if (!reserve_scratch_.empty()) return false;
      job_.cancelling = job_.placing = false;
      continue;
    }
    if (!job_.placing) {
      if (job_.attempt >= tries || job_.work >= job_.work_limit) {
        CLIO_LOG(DEBUG, "mn.slow", "ralloc of %s for pid %u: no range fits after %u tries",
                 format_size(job_.len).c_str(), pid, job_.attempt);
        finish_ralloc(fixed ? Status::kFixedVaUnavailable : Status::kNoMemory);
        return true;
      }
      const uint32_t attempt = job_.attempt++;
      --budget;
      ++job_.work;
      uint64_t v = job_.req.va;
      if (!fixed && !candidate(*r, pid, job_.len, attempt, &v)) continue;
      job_.placing = true;
      job_.start = v;
      reserve_scratch_.clear();
    }
    const uint64_t vpn = job_.start >> pool_.page_shift();
    for (; reserve_scratch_.size() < job_.pages && budget > 0; --budget, ++job_.work) {
      Pte* p = table_.reserve(Pte::make_tag(pid, vpn + reserve_scratch_.size()), job_.word);
      if (p == nullptr) {  // a bucket is full: try elsewhere
        if (!fixed) ralloc_retries_.fetch_add(1, std::memory_order_relaxed);
        job_.cancelling = true;
        break;
      }
      reserve_scratch_.push_back(p);
    }
    if (job_.cancelling) continue;
    if (reserve_scratch_.size() < job_.pages) {
      if (job_.work >= job_.work_limit) job_.cancelling = true;
      continue;  // out of budget (the loop ends) or out of work (cancel, then refuse)
    }
    for (uint64_t i = 0; i < job_.pages; ++i)
      table_.publish(reserve_scratch_[i], Pte::make_tag(pid, vpn + i));
    reserve_scratch_.clear();
    r->vmas.emplace(job_.start, Vma{job_.pages, !(job_.req.flags & wire::kFlagReadOnly)});
    r->next_va = job_.start + job_.len;
    r->pages += job_.pages;
    rallocs_.fetch_add(1, std::memory_order_relaxed);
    finish_ralloc(Status::kOk);
    return true;
  }
  return false;
}

void MemoryNode::finish_ralloc(Status s) {
  ControlReply r{};
  r.status = s;
  r.cookie = job_.req.cookie;
  if (s == Status::kOk) {
    r.va = job_.start;
  } else {
    ralloc_failures_.fetch_add(1, std::memory_order_relaxed);
  }
  CLIO_LOG(DEBUG, "mn.slow", "ralloc pid=%u size=%llu -> %s va=0x%llx", job_.req.pid,
           static_cast<unsigned long long>(job_.req.size), status_name(s),
           static_cast<unsigned long long>(r.va));
  job_.active = false;
  complete(job_.src, r);
}

void MemoryNode::expire_leases() {
  if (cfg_.lease_ms == 0 || job_.active) return;  // a destruction is a job: one at a time
  const uint64_t now = now_ms();
  if (expired_scratch_.empty()) {
    if (now - last_lease_scan_ms_ < std::max<uint64_t>(1, cfg_.lease_ms / 8)) return;
    last_lease_scan_ms_ = now;
    for (const auto& [pid, ras] : ras_) {
      const uint64_t renewed = renewed_ms_[pid].load(std::memory_order_relaxed);
      if (now > renewed && now - renewed > cfg_.lease_ms) expired_scratch_.push_back(pid);
    }
  }
  // One per pass, as a kRasDestroy job in steps; the rest on later passes.
  while (!expired_scratch_.empty()) {
    const uint32_t pid = expired_scratch_.back();
    expired_scratch_.pop_back();
    const uint64_t renewed = renewed_ms_[pid].load(std::memory_order_relaxed);
    if (ras_.count(pid) == 0 || now <= renewed || now - renewed <= cfg_.lease_ms) continue;
    CLIO_LOG(INFO, "mn.slow", "address space %u: lease of %llu ms ran out; destroyed", pid,
             static_cast<unsigned long long>(cfg_.lease_ms));
    ras_expired_.fetch_add(1, std::memory_order_relaxed);
    begin_destroy(pid);  // keys cleared now: the owner cannot race the destruction
    ControlRequest req{};
    req.op = wire::Opcode::kRasDestroy;
    req.pid = pid;
    start_unmap(req, Source{-2, nullptr}, /*destroy=*/true);  // nobody waits for the answer
    step_job();
    return;
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

Status MemoryNode::do_protect(uint32_t pid, uint64_t key, uint64_t va, bool read_only) {
  Ras* r = find_ras(pid, key);
  if (r == nullptr) return Status::kNoSuchRas;
  auto it = r->vmas.find(va);
  if (it == r->vmas.end()) return overlaps(*r, va, 1) ? Status::kBadArgument : Status::kUnmapped;
  const uint64_t vpn = va >> pool_.page_shift();
  if (lazy_ != nullptr) {
    std::lock_guard lock(fault_mu_);
    lazy_vmas_[pid].at(va).writable = !read_only;
    for (uint64_t i = 0; i < it->second.pages; ++i)
      lazy_->update(pid, vpn + i, Pte::kWritable, !read_only);
  }
  for (uint64_t i = 0; lazy_ == nullptr && i < it->second.pages; ++i) {
    Pte* p = table_.find(Pte::make_tag(pid, vpn + i));
    CLIO_CHECK_MSG(p != nullptr, "an allocated page has no page-table slot");
    uint64_t w = p->load_word();
    uint64_t want;
    do {
      want = read_only ? (w & ~Pte::kWritable) : (w | Pte::kWritable);
    } while (w != want && !p->cas_word(w, want));
  }
  it->second.writable = !read_only;
  // Downgrades must not leave a cached writable translation, nor a write in flight, behind.
  const Invalidation inv{pid, vpn, vpn + it->second.pages};
  shootdown_and_recycle(&inv, 1);
  return Status::kOk;
}

void MemoryNode::shootdown_and_recycle(const Invalidation* inv, size_t n) {
  for (const auto& sp : slots_) {
    WorkerSlot& s = *sp;
    if (s.state.load(std::memory_order_seq_cst) != WorkerSlot::kActive) continue;
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
    WorkerSlot& s = *sp;
    if (s.state.load(std::memory_order_seq_cst) != WorkerSlot::kActive) continue;
    const uint64_t e = s.epoch.load(std::memory_order_seq_cst);
    if ((e & 1) == 0) continue;
    for (uint32_t spins = 0; s.epoch.load(std::memory_order_acquire) == e &&
                             s.state.load(std::memory_order_acquire) == WorkerSlot::kActive;
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

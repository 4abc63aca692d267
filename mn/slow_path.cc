// SPDX-License-Identifier: Apache-2.0
// The slow path: one thread that owns allocation, address spaces, and free-page refill. It may
// allocate, block and take its time; the fast path never waits for it.
#include <algorithm>

#include "common/check.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/units.h"
#include "mn/fast_path_slot.h"
#include "mn/memory_node.h"

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
    if (st == FastPathSlot::kRetiring) return true;
    if (st != FastPathSlot::kActive) continue;
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
    FastPathSlot& s = *slots_[i];
    if (s.state.load(std::memory_order_acquire) != FastPathSlot::kActive) continue;
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
    FastPathSlot& s = *sp;
    if (s.state.load(std::memory_order_acquire) != FastPathSlot::kActive) continue;
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
  Ras* r = spaces_.find(pid, key);
  if (r != nullptr) spaces_.touch(pid, now_ms());  // its owner is alive
  return r;
}

ControlReply MemoryNode::do_create_ras() {
  ControlReply r{};
  r.status = spaces_.create(now_ms(), &r.pid, &r.key_rw, &r.key_ro);
  if (r.status == Status::kOk) ras_live_.fetch_add(1, std::memory_order_relaxed);
  return r;
}

void MemoryNode::begin_destroy(uint32_t pid) {
  job_.ranges.clear();
  spaces_.revoke(pid, &job_.ranges);  // keys first: no new access of pid passes the fast path
  if (lazy_ != nullptr) {
    std::lock_guard lock(fault_mu_);
    lazy_vmas_[pid].clear();  // no new first touch from here on
  }
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
  uint64_t pages;
  // Gone for this address space's later requests (they wait anyway).
  out->status = spaces_.remove(*r, req.va, &pages);
  if (out->status != Status::kOk) return false;
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
    spaces_.release(pid);  // after the grace period: no worker still acts for it
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
    if (Status s = spaces_.check_fixed(*r, req.va, len); s != Status::kOk) return refuse(s, false);
  }
  if (Status s = spaces_.check_quota(*r, pages); s != Status::kOk) {
    quota_refusals_.fetch_add(1, std::memory_order_relaxed);
    CLIO_LOG(DEBUG, "mn.slow", "ralloc of %s for pid %u: over its quota", format_size(len).c_str(),
             req.pid);
    return refuse(s, true);
  }
  if (lazy_ != nullptr) {
    // The lazily-mapping designs record the range; first touches map its pages.
    uint64_t v = req.va;
    if (!(flags & wire::kFlagFixedVa) && !spaces_.candidate(*r, req.pid, len, 0, &v))
      return refuse(Status::kNoMemory, true);
    const bool writable = !(flags & wire::kFlagReadOnly);
    spaces_.add(*r, v, pages, writable);
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
      if (!fixed && !spaces_.candidate(*r, pid, job_.len, attempt, &v)) continue;
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
    spaces_.add(*r, job_.start, job_.pages, !(job_.req.flags & wire::kFlagReadOnly));
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
    spaces_.collect_expired(now, cfg_.lease_ms, &expired_scratch_);
  }
  // One per pass, as a kRasDestroy job in steps; the rest on later passes.
  while (!expired_scratch_.empty()) {
    const uint32_t pid = expired_scratch_.back();
    expired_scratch_.pop_back();
    if (!spaces_.expired(pid, now, cfg_.lease_ms)) continue;
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

Status MemoryNode::do_protect(uint32_t pid, uint64_t key, uint64_t va, bool read_only) {
  Ras* r = find_ras(pid, key);
  if (r == nullptr) return Status::kNoSuchRas;
  Status why;
  Vma* vma = spaces_.find_vma(*r, va, &why);
  if (vma == nullptr) return why;
  const uint64_t vpn = va >> pool_.page_shift();
  if (lazy_ != nullptr) {
    std::lock_guard lock(fault_mu_);
    lazy_vmas_[pid].at(va).writable = !read_only;
    for (uint64_t i = 0; i < vma->pages; ++i)
      lazy_->update(pid, vpn + i, Pte::kWritable, !read_only);
  }
  for (uint64_t i = 0; lazy_ == nullptr && i < vma->pages; ++i) {
    Pte* p = table_.find(Pte::make_tag(pid, vpn + i));
    CLIO_CHECK_MSG(p != nullptr, "an allocated page has no page-table slot");
    uint64_t w = p->load_word();
    uint64_t want;
    do {
      want = read_only ? (w & ~Pte::kWritable) : (w | Pte::kWritable);
    } while (w != want && !p->cas_word(w, want));
  }
  vma->writable = !read_only;
  // Downgrades must not leave a cached writable translation, nor a write in flight, behind.
  const Invalidation inv{pid, vpn, vpn + vma->pages};
  shootdown_and_recycle(&inv, 1);
  return Status::kOk;
}

}  // namespace clio::mn

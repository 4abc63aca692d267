// SPDX-License-Identifier: Apache-2.0
#include "mn/memory_node.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/units.h"
#include "mn/fast_path_slot.h"

namespace clio::mn {
namespace {

const MnConfig& validated(const MnConfig& cfg) {
  cfg.validate();
  return cfg;
}

uint64_t now_ms() { return now_ns() / 1'000'000; }

}  // namespace

MemoryNode::MemoryNode(const MnConfig& cfg)
    : cfg_(validated(cfg)),
      design_(find_design(cfg_.design)),
      pool_(cfg_.pool_bytes, cfg_.page_bytes),
      // The lazily-mapping designs translate through their own table: clio's stays minimal.
      table_(design_->make_table != nullptr
                 ? kPtesPerBucket
                 : static_cast<uint64_t>(
                       std::ceil(static_cast<double>(pool_.num_pages()) * cfg_.overprovision))),
      // Quotas, in pages: with one page size per MN a page is one page-table slot.
      spaces_(cfg_.max_ras, pool_.page_shift(), table_, cfg_.seed != 0 ? cfg_.seed : now_ns(),
              cfg_.ras_max_bytes != 0 ? cfg_.ras_max_bytes >> pool_.page_shift() : UINT64_MAX,
              cfg_.ras_max_slots != 0 ? cfg_.ras_max_slots : UINT64_MAX) {
  slots_.reserve(cfg_.max_workers);
  for (uint32_t i = 0; i < cfg_.max_workers; ++i)
    slots_.push_back(std::make_unique<FastPathSlot>(cfg_.ring_depth()));
  pending_replies_.resize(cfg_.max_workers);
  pages_free_.store(pool_.num_pages(), std::memory_order_relaxed);
  if (design_->make_table != nullptr) {
    lazy_ = design_->make_table(cfg_, pool_.num_pages());
    lazy_vmas_.resize(cfg_.max_ras);
    CLIO_LOG(INFO, "mn", "memory pool %s in %llu pages of %s; design %s: %s",
             format_size(pool_.bytes()).c_str(), static_cast<unsigned long long>(pool_.num_pages()),
             format_size(pool_.page_bytes()).c_str(), design_->name, design_->summary);
  } else {
    CLIO_LOG(INFO, "mn",
             "memory pool %s in %llu pages of %s; page table %s (%.4f%% of the pool, %llu slots)",
             format_size(pool_.bytes()).c_str(), static_cast<unsigned long long>(pool_.num_pages()),
             format_size(pool_.page_bytes()).c_str(), format_size(table_.bytes()).c_str(),
             100.0 * static_cast<double>(table_.bytes()) / static_cast<double>(pool_.bytes()),
             static_cast<unsigned long long>(table_.num_slots()));
  }
  slow_thread_ = std::thread([this] { slow_path_main(); });
}

MemoryNode::~MemoryNode() {
  for (const auto& s : slots_)
    CLIO_CHECK_MSG(s->state.load() != FastPathSlot::kActive,
                   "every FastPath must be destroyed before its MemoryNode");
  stop_.store(true, std::memory_order_seq_cst);
  doorbell_.ring();
  slow_thread_.join();
}

std::unique_ptr<FastPath> MemoryNode::add_fast_path() {
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < slots_.size(); ++i) {
      int expected = FastPathSlot::kFree;
      if (slots_[i]->state.compare_exchange_strong(expected, FastPathSlot::kActive,
                                                   std::memory_order_seq_cst)) {
        doorbell_.ring();  // its free-page ring wants filling
        const FastPathView view{table_,    lazy_.get(),     spaces_,        pool_, cfg_.max_ras,
                                doorbell_, pool_exhausted_, &lazy_fault_of, *this};
        return std::unique_ptr<FastPath>(new FastPath(view, *slots_[i], static_cast<int>(i)));
      }
    }
    // Slots of destroyed workers return to kFree on the slow path; have it do so now.
    admin(AdminKind::kReclaim, nullptr);
  }
  throw Error("memory node: all " + std::to_string(cfg_.max_workers) +
              " worker slots are in use (MnConfig::max_workers)");
}

void MemoryNode::admin(AdminKind kind, AdminCall* call) {
  AdminCall local;
  if (call == nullptr) call = &local;
  std::unique_lock lock(admin_mu_);
  if (slow_exited_) {
    call->reply.status = Status::kShuttingDown;
    return;
  }
  admin_queue_.emplace_back(kind, call);
  lock.unlock();
  doorbell_.ring();
  lock.lock();
  admin_cv_.wait(lock, [&] { return call->done; });
}

ControlReply MemoryNode::call(const ControlRequest& req) {
  AdminCall c;
  c.req = req;
  c.reply.cookie = req.cookie;
  admin(AdminKind::kControl, &c);
  return c.reply;
}

MemoryNode::RasInfo MemoryNode::create_ras() {
  ControlRequest req{};
  req.op = wire::Opcode::kRasCreate;
  const ControlReply r = call(req);
  return {r.status, r.pid, r.key_rw, r.key_ro};
}

Status MemoryNode::destroy_ras(uint32_t pid, uint64_t key_rw) {
  ControlRequest req{};
  req.op = wire::Opcode::kRasDestroy;
  req.pid = pid;
  req.key = key_rw;
  return call(req).status;
}

Status MemoryNode::ralloc(uint32_t pid, uint64_t key_rw, uint64_t size, uint8_t flags, uint64_t* va,
                          uint64_t fixed_va) {
  ControlRequest req{};
  req.op = wire::Opcode::kRalloc;
  req.pid = pid;
  req.key = key_rw;
  req.size = size;
  req.flags = flags;
  req.va = fixed_va;
  const ControlReply r = call(req);
  if (r.status == Status::kOk) *va = r.va;
  return r.status;
}

Status MemoryNode::rfree(uint32_t pid, uint64_t key_rw, uint64_t va) {
  ControlRequest req{};
  req.op = wire::Opcode::kRfree;
  req.pid = pid;
  req.key = key_rw;
  req.va = va;
  return call(req).status;
}

bool MemoryNode::renew(uint32_t pid, uint64_t key) { return spaces_.renew(pid, key, now_ms()); }

Status MemoryNode::protect(uint32_t pid, uint64_t key_rw, uint64_t va, bool read_only) {
  ControlRequest req{};
  req.op = wire::Opcode::kProtect;
  req.pid = pid;
  req.key = key_rw;
  req.va = va;
  req.flags = read_only ? wire::kFlagReadOnly : 0;
  return call(req).status;
}

const Vma* MemoryNode::lazy_vma(uint32_t pid, uint64_t va) const {
  const auto& vmas = lazy_vmas_[pid];
  auto it = vmas.upper_bound(va);  // first allocation starting after va
  if (it == vmas.begin()) return nullptr;
  --it;
  return va - it->first < (it->second.pages << pool_.page_shift()) ? &it->second : nullptr;
}

void MemoryNode::give_back_page(uint64_t ppn) {
  free_pages_.push_back(ppn);
  pages_free_.fetch_add(1, std::memory_order_relaxed);
}

Status MemoryNode::lazy_fault(uint32_t pid, uint64_t va, bool write, uint64_t* word, bool* mapped) {
  const uint64_t vpn = va >> pool_.page_shift();
  *mapped = false;
  std::unique_lock lock(fault_mu_);
  for (;;) {
    if (const uint64_t w = lazy_->find(pid, vpn); w != 0) {  // another worker was first
      *word = w;
      return Status::kOk;
    }
    const Vma* vma = lazy_vma(pid, va);
    if (vma == nullptr) return Status::kUnmapped;
    if (write && !vma->writable) return Status::kPermission;
    uint64_t ppn;
    if (!take_free_page(&ppn)) return Status::kNoMemory;
    if (design_->faults == Design::Faults::kInline) {
      // The worker zeroes the page itself while others (and the control path) go on; then it
      // checks again that the range is still there and nobody mapped the page meanwhile.
      lock.unlock();
      pool_.prepare(ppn);
      lock.lock();
      if (lazy_->find(pid, vpn) != 0 || lazy_vma(pid, va) == nullptr) {
        give_back_page(ppn);  // zero: fit for the free list as it is
        continue;
      }
      vma = lazy_vma(pid, va);
    } else {
      pool_.prepare(ppn);  // zero on the request path, under the lock
    }
    const uint64_t w = Pte::kAllocated | Pte::kValid | (vma->writable ? Pte::kWritable : 0) | ppn;
    lazy_->map(pid, vpn, w);
    *word = w;
    *mapped = true;
    return Status::kOk;
  }
}

void MemoryNode::set_refill_paused(bool paused) {
  admin(paused ? AdminKind::kPause : AdminKind::kResume, nullptr);
}

void MemoryNode::refill_now() { admin(AdminKind::kRefill, nullptr); }

MnStats MemoryNode::stats() const {
  MnStats s;
  s.pool_bytes = pool_.bytes();
  s.page_bytes = pool_.page_bytes();
  s.pages_total = pool_.num_pages();
  s.pages_free = pages_free_.load(std::memory_order_relaxed);
  for (const auto& slot : slots_) {
    const int st = slot->state.load(std::memory_order_acquire);
    if (st == FastPathSlot::kFree) continue;
    s.workers += st == FastPathSlot::kActive;
    s.pages_queued += slot->free_pages.size_approx();
    s.pages_queued += std::atomic_ref(slot->spare_page).load(std::memory_order_relaxed) != kNoPage;
  }
  s.pages_queued += pages_prepared_.load(std::memory_order_relaxed);
  for (const auto& slot : slots_) s.fast += load_counters(slot->counters);
  // Exact whenever no fault or free is in progress.
  const uint64_t recycled = pages_recycled_.load(std::memory_order_relaxed);
  s.pages_mapped = s.fast.faults > recycled ? s.fast.faults - recycled : 0;
  s.pt_slots = table_.num_slots();
  s.pt_slots_used = table_.used_slots();
  s.pt_bytes = table_.bytes();
  if (lazy_ != nullptr) {
    std::lock_guard lock(fault_mu_);
    s.pt_slots = s.pt_slots_used = 0;
    s.pt_bytes = lazy_->bytes();
  }
  s.pt_share = static_cast<double>(s.pt_bytes) / static_cast<double>(s.pool_bytes);
#define CLIO_X(name, report, doc) s.name = name##_.load(std::memory_order_relaxed);
  CLIO_MN_SLOW_PATH_COUNTERS(CLIO_X)
#undef CLIO_X
  return s;
}

}  // namespace clio::mn

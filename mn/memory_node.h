// SPDX-License-Identifier: Apache-2.0
// The memory node (MN) as a library: memory pool, hash page table, address spaces, the slow path
// thread, and the registry of fast-path workers.
//
//   fast path (FastPath, one per thread)      slow path (one thread, owned here)
//   ----------------------------------        -----------------------------------
//   reads, writes, atomics, translation,      ralloc / rfree / protect, address-space
//   page faults from a free-page ring         create / destroy, free-page refill, scrubbing
//          |   submit() ----- SPSC ring ----->   |
//          |   <---- SPSC ring ----- replies    |
//          |   <---- SPSC ring ----- pre-zeroed pages, TLB shoot-downs
//
// The fast path never waits on the slow path: an empty free-page ring makes a fault answer
// kRetryLater. The slow path does wait on the fast path, and only there: before it reuses a
// freed page or page-table slot it waits until every worker has left the batch it was in (a
// grace period), so no in-flight access can touch memory that changed hands.
//
// Implemented in memory_node.cc (set-up, workers, admin calls), slow_path.cc (the thread's loop
// and the control operations it runs), and reclaim.cc (unmapping, TLB shoot-downs, grace periods
// and recycling). The address spaces themselves, as data, are an AddressSpaces
// (address_spaces.h).
#pragma once

#include <atomic>
#include <cinttypes>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/doorbell.h"
#include "mn/address_spaces.h"
#include "mn/config.h"
#include "mn/control.h"
#include "mn/design.h"
#include "mn/fast_path.h"
#include "mn/memory_pool.h"
#include "mn/page_table.h"

namespace clio::mn {

struct FastPathSlot;
struct Invalidation;

/// The slow path's counters, the one list from which MemoryNode's atomics (name_), MnStats and
/// MnServer::report() are made: X(name, report, doc), where `report` is the counter's piece of
/// the report's address-space line (a printf format taking the value; "": not printed there).
#define CLIO_MN_SLOW_PATH_COUNTERS(X)                                                            \
  X(ras_live, "  address spaces=%" PRIu64, "address spaces alive (a gauge)")                     \
  X(ras_expired, " expired-leases=%" PRIu64, "address spaces destroyed as their lease ran out")  \
  X(rallocs, " rallocs=%" PRIu64, "allocations made")                                            \
  X(ralloc_retries, " ralloc-retries=%" PRIu64,                                                  \
    "candidate ranges refused because a bucket was full")                                        \
  X(ralloc_failures, " ralloc-failures=%" PRIu64, "rallocs refused, quota refusals among them")  \
  X(quota_refusals, " (over quota %" PRIu64 ")", "rallocs refused for an address space's quota") \
  X(ralloc_steps, " ralloc-steps=%" PRIu64,                                                      \
    "times a ralloc, rfree or destruction gave way to other work before it finished")            \
  X(rfrees, " rfrees=%" PRIu64, "allocations freed")                                             \
  X(grace_periods, "", "grace periods waited for")

/// A snapshot of the MN's state and counters.
struct MnStats {
  uint64_t pool_bytes = 0;
  uint64_t page_bytes = 0;
  uint64_t pages_total = 0;
  uint64_t pages_free = 0;    ///< not assigned and not queued in a ring
  uint64_t pages_queued = 0;  ///< pre-zeroed, waiting in workers' free-page rings
  uint64_t pages_mapped = 0;  ///< backing a valid PTE
  uint64_t pt_slots = 0;
  uint64_t pt_slots_used = 0;  ///< reserved for allocated pages (or retiring)
  uint64_t pt_bytes = 0;
  double pt_share = 0;  ///< pt_bytes / pool_bytes
  uint64_t workers = 0;
#define CLIO_X(name, report, doc) uint64_t name = 0;
  CLIO_MN_SLOW_PATH_COUNTERS(CLIO_X)
#undef CLIO_X
  FastPathCounters fast;  ///< summed over every worker that ever ran
};

class MemoryNode {
 public:
  /// Validates `cfg` (throws clio::ConfigError), maps the pool and the page table (throws
  /// clio::Error), and starts the slow-path thread.
  explicit MemoryNode(const MnConfig& cfg);
  /// Stops the slow path. Every FastPath must have been destroyed.
  ~MemoryNode();
  MemoryNode(const MemoryNode&) = delete;
  MemoryNode& operator=(const MemoryNode&) = delete;

  /// Registers a fast-path worker. Throws clio::Error when max_workers are registered.
  std::unique_ptr<FastPath> add_fast_path();

  // --- Control operations: blocking; any thread that is not inside a worker batch. ---------
  /// Runs one control request on the slow path and returns its reply.
  ControlReply call(const ControlRequest& req);

  struct RasInfo {
    Status status;
    uint32_t pid;
    uint64_t key_rw;
    uint64_t key_ro;
  };
  RasInfo create_ras();
  Status destroy_ras(uint32_t pid, uint64_t key_rw);
  /// Allocates `size` bytes (rounded up to pages) in the address space; *va receives the start.
  /// flags: wire::kFlagReadOnly, wire::kFlagFixedVa (then `fixed_va` is the start wanted).
  Status ralloc(uint32_t pid, uint64_t key_rw, uint64_t size, uint8_t flags, uint64_t* va,
                uint64_t fixed_va = 0);
  /// Frees the allocation that starts at `va`.
  Status rfree(uint32_t pid, uint64_t key_rw, uint64_t va);
  /// Makes the allocation that starts at `va` read-only or read-write.
  Status protect(uint32_t pid, uint64_t key_rw, uint64_t va, bool read_only);

  /// Renews the lease of address space `pid` (MnConfig::lease_ms) when `key` is its read-write
  /// key; false otherwise. Lock-free, any thread (the network server calls it on kStats).
  bool renew(uint32_t pid, uint64_t key);

  // --- Seams for tests and benchmarks (blocking) --------------------------------------------
  /// While paused, the slow path does not refill free-page rings on its own.
  void set_refill_paused(bool paused);
  /// One refill pass, paused or not: every registered worker's ring as full as pages allow.
  void refill_now();

  MnStats stats() const;
  const MnConfig& config() const { return cfg_; }
  const Design& design() const { return *design_; }
  const PageTable& page_table() const { return table_; }
  const MemoryPool& pool() const { return pool_; }

 private:
  using Ras = AddressSpaces::Ras;

  struct AdminCall {
    ControlRequest req;
    ControlReply reply;
    bool done = false;
  };
  /// Who waits for a control request's reply: a worker's reply ring or an admin caller.
  struct Source {
    int slot = -1;  ///< worker slot; -1: an admin call; -2: its worker has gone
    AdminCall* call = nullptr;
  };
  /// The ralloc, rfree or address-space destruction in progress: done in steps of
  /// ralloc_step_slots slot operations, between which the slow path serves everything else
  /// except requests of the same address space and other rallocs, rfrees and destructions
  /// (deferred_, in arrival order), so no other client waits behind it.
  struct Job {
    enum Kind { kRalloc, kUnmap } kind = kRalloc;
    bool active = false;
    Source src;
    ControlRequest req;
    // kUnmap: the page ranges (vpn, pages) still to unmap; then the address space goes too
    // when `destroy`.
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    size_t range = 0;
    uint64_t range_done = 0;
    bool destroy = false;
    // kRalloc:
    uint64_t pages = 0, len = 0, word = 0;
    uint32_t attempt = 0;
    bool placing = false;     ///< a candidate is being reserved: reserve_scratch_ holds its slots
    bool cancelling = false;  ///< its slots are going back (the candidate failed)
    uint64_t start = 0;
    uint64_t work = 0;  ///< slot operations and candidates so far
    uint64_t work_limit = 0;
  };
  enum class AdminKind { kControl, kPause, kResume, kRefill, kReclaim };
  /// Queues an admin call for the slow path and waits for it (call may be null).
  void admin(AdminKind kind, AdminCall* call);

  // --- Slow path (slow_path.cc, reclaim.cc); all run on the slow-path thread. ---------------
  void slow_path_main();
  bool slow_path_has_work();
  size_t drain_admin();
  size_t drain_worker_requests();
  /// Queues up to `budget_bytes` of pre-zeroed pages into rings that are not full; returns
  /// how many pages it queued.
  size_t refill_rings(uint64_t budget_bytes);
  ControlReply execute(const ControlRequest& req);
  /// Runs `req` now, or starts it as the ralloc job, or defers it behind the job; the reply
  /// goes to `src` when it is ready (complete()).
  void dispatch(const ControlRequest& req, Source src);
  void complete(Source src, const ControlReply& r);
  /// Starts the ralloc job; false (and *r, for the caller to send) when it is refused at once.
  bool start_ralloc(const ControlRequest& req, Source src, ControlReply* r);
  /// One step of the job: at most ralloc_step_slots slot operations. True when it finished;
  /// otherwise it counts the step (MnStats::ralloc_steps) and the job goes on next pass.
  bool step_job() {
    if (job_.kind == Job::kRalloc ? step_ralloc() : step_unmap()) return true;
    ralloc_steps_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  bool step_ralloc();
  bool step_unmap();
  /// Starts the unmap job for the ranges in job_.ranges (pid's keys already cleared when
  /// `destroy`); the reply goes to `src`.
  void start_unmap(const ControlRequest& req, Source src, bool destroy);
  void finish_ralloc(Status s);
  /// Runs deferred requests in order until one becomes the job again (or none is left).
  void replay_deferred();
  /// Destroys address spaces whose lease ran out (at most once every lease_ms / 8).
  void expire_leases();
  /// Revokes pid's keys and queues all its allocations into job_.ranges.
  void begin_destroy(uint32_t pid);
  ControlReply do_create_ras();
  /// kRasDestroy and kRfree: refused at once (false, *r) or started as the unmap job.
  bool start_destroy(const ControlRequest& req, Source src, ControlReply* r);
  bool start_rfree(const ControlRequest& req, Source src, ControlReply* r);
  Status do_protect(uint32_t pid, uint64_t key, uint64_t va, bool read_only);
  /// AddressSpaces::find, and the owner of `pid` is alive now (its lease renewed).
  Ras* find_ras(uint32_t pid, uint64_t key);
  bool take_free_page(uint64_t* ppn);
  /// Returns a page take_free_page() gave (zero) to the free list.
  void give_back_page(uint64_t ppn);

  // --- Reclaim (reclaim.cc); slow-path thread. -----------------------------------------------
  /// Takes back the rings and pages of workers that were destroyed; their slots become free.
  void reclaim_retiring_workers();
  /// Retires the PTEs of [vpn, vpn+pages), collecting their slots and backing pages.
  void unmap(uint32_t pid, uint64_t vpn, uint64_t pages);
  /// Shoots down TLB entries in every worker, waits for a grace period, then recycles what
  /// unmap() collected.
  void shootdown_and_recycle(const Invalidation* inv, size_t n);
  /// Waits for a grace period: until every worker that was inside a batch has left it.
  void synchronize();

  // --- Lazily-mapping designs (server, pnic: lazy_ != nullptr) --------------------------------
  /// The first touch of (pid, va) on a worker: maps a zeroed page if va is in one of pid's
  /// allocations (kUnmapped otherwise, kPermission for a write to a read-only one, kNoMemory
  /// when the pool is empty). Takes fault_mu_. *mapped: this call mapped it (not a racing one).
  Status lazy_fault(uint32_t pid, uint64_t va, bool write, uint64_t* word, bool* mapped);
  /// lazy_fault() as FastPathView::lazy_fault calls it.
  static Status lazy_fault_of(MemoryNode& mn, uint32_t pid, uint64_t va, bool write, uint64_t* word,
                              bool* mapped) {
    return mn.lazy_fault(pid, va, write, word, mapped);
  }
  /// The allocation of pid that holds va, or nullptr. Under fault_mu_.
  const Vma* lazy_vma(uint32_t pid, uint64_t va) const;

  const MnConfig cfg_;
  const Design* const design_;
  MemoryPool pool_;
  PageTable table_;
  AddressSpaces spaces_;  ///< written by the slow path only (see its header)

  // Workers: slots are fixed for the MN's lifetime.
  std::vector<std::unique_ptr<FastPathSlot>> slots_;

  // Slow-path thread and its wake-up.
  std::thread slow_thread_;
  Doorbell doorbell_;
  std::atomic<bool> stop_{false};
  /// True while the pool has no free page left to queue: faults on empty rings answer kNoMemory.
  std::atomic<bool> pool_exhausted_{false};

  // Admin calls from other threads (the only mutex; the fast path never touches it).
  mutable std::mutex admin_mu_;
  std::condition_variable admin_cv_;
  std::deque<std::pair<AdminKind, AdminCall*>> admin_queue_;
  bool slow_exited_ = false;  ///< guarded by admin_mu_: no more admin calls are served

  // Owned by the slow-path thread.
  std::vector<uint64_t> free_pages_;      ///< zero, not resident (scrubbed)
  std::vector<uint64_t> prepared_pages_;  ///< zero and resident (taken back from workers)
  std::vector<std::deque<ControlReply>> pending_replies_;  ///< per slot, when its ring was full
  Job job_;
  std::deque<std::pair<Source, ControlRequest>> deferred_;  ///< behind job_, in arrival order
  uint64_t last_lease_scan_ms_ = 0;
  std::vector<uint32_t> expired_scratch_;
  bool replaying_ = false;  ///< dispatch() is running deferred_
  std::vector<Pte*> reserve_scratch_;
  uint64_t next_fresh_page_ = 0;     ///< pages [next_fresh_page_, n) were never used
  std::vector<Pte*> retired_slots_;  ///< tombstones awaiting a grace period
  std::vector<uint64_t> retired_pages_;
  bool refill_paused_ = false;

  // Lazily-mapping designs only. fault_mu_ is the lock their faults share with the control
  // path: it guards lazy_ (its writers), lazy_vmas_, and the free-page lists (free_pages_,
  // next_fresh_page_), which their faults take pages from directly.
  std::unique_ptr<LazyTable> lazy_;
  mutable std::mutex fault_mu_;
  std::vector<std::map<uint64_t, Vma>> lazy_vmas_;  ///< per pid: allocations by start VA

  // Counters written by the slow path, read by stats().
#define CLIO_X(name, report, doc) std::atomic<uint64_t> name##_{0};
  CLIO_MN_SLOW_PATH_COUNTERS(CLIO_X)
#undef CLIO_X
  std::atomic<uint64_t> pages_free_{0}, pages_prepared_{0}, pages_recycled_{0};
};

}  // namespace clio::mn

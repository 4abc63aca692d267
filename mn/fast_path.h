// SPDX-License-Identifier: Apache-2.0
// A fast-path worker: the MN's data plane (the paper's FPGA pipeline) for one thread.
//
// Serves reads, writes, compare-and-swap and fetch-and-add on decoded requests: checks the
// address space's key, translates through its private TLB and the hash page table, takes a
// page fault from its free-page ring when the page is not yet backed, and moves the data. It
// never blocks, never allocates, never throws and takes no lock: everything it shares with the
// slow path is an atomic or a single-producer/single-consumer ring.
//
// Threading: one FastPath is used by one thread at a time. Every operation runs inside a batch
// (enter() ... leave(), or a Batch guard). A batch should be short (a burst of requests): the slow
// path waits for every worker to leave its current batch before it reuses freed pages and page-
// table slots. Never wait for the slow path (MemoryNode::call and friends) inside a batch.
//
// Implemented in fast_path.cc (set-up, control rings) and fast_path_datapath.cc (operations).
#pragma once

#include <atomic>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/doorbell.h"
#include "common/status.h"
#include "mn/address_spaces.h"
#include "mn/baselines.h"
#include "mn/control.h"
#include "mn/memory_pool.h"
#include "mn/page_table.h"
#include "mn/tlb.h"

namespace clio::mn {

class MemoryNode;
struct FastPathSlot;

/// Where an access goes: address space, its key, and the VA.
struct Target {
  uint32_t pid;
  uint64_t key;
  uint64_t va;
};

/// What a FastPath uses of its MemoryNode, and nothing more: handed over at construction by
/// MemoryNode::add_fast_path (everything referred to lives as long as the MemoryNode).
struct FastPathView {
  const PageTable& table;
  const LazyTable* lazy;        ///< the lazily-mapping designs' table; nullptr for clio
  const AddressSpaces& spaces;  ///< the key table (key_rw(), key_ro()); read-only here
  const MemoryPool& pool;
  uint32_t max_ras;
  Doorbell& slow_path;  ///< rung for control requests, low free-page rings and retirement
  /// True while the pool has no free page left to queue (written by the slow path).
  const std::atomic<bool>& pool_exhausted;
  /// The lazily-mapping designs' first touch (MemoryNode::lazy_fault on `node`); see
  /// FastPath::translate_lazy. Only called when `lazy` is set.
  Status (*lazy_fault)(MemoryNode& node, uint32_t pid, uint64_t va, bool write, uint64_t* word,
                       bool* mapped);
  MemoryNode& node;  ///< for lazy_fault only
};

/// The fast path's counters, the one list from which FastPathCounters, its summing and
/// MnServer::report() are made: X(name, report, doc), where `report` is the counter's piece of
/// the report's fast-path line (a printf format taking the value; "": not printed there).
#define CLIO_FAST_PATH_COUNTERS(X)                                                         \
  X(reads, "", "reads served")                                                             \
  X(writes, "", "writes served")                                                           \
  X(cas, "", "compare-and-swaps served")                                                   \
  X(faa, "", "fetch-and-adds served")                                                      \
  X(faults, " faults=%" PRIu64, "pages assigned on first touch")                           \
  X(retry_later, " retry-later=%" PRIu64, "faults refused because no free page was ready") \
  X(tlb_hits, " tlb-hits=%" PRIu64, "translations found in the worker's TLB")              \
  X(tlb_misses, " tlb-misses=%" PRIu64, "translations looked up in the page table")        \
  X(errors, "", "operations answered with any status other than kOk/kRetryLater")

/// Per-worker operation counts since the worker was created (CLIO_FAST_PATH_COUNTERS).
struct FastPathCounters {
#define CLIO_X(name, report, doc) uint64_t name = 0;
  CLIO_FAST_PATH_COUNTERS(CLIO_X)
#undef CLIO_X

  FastPathCounters& operator+=(const FastPathCounters& o) {
#define CLIO_X(name, report, doc) name += o.name;
    CLIO_FAST_PATH_COUNTERS(CLIO_X)
#undef CLIO_X
    return *this;
  }
  FastPathCounters& operator-=(const FastPathCounters& o) {
#define CLIO_X(name, report, doc) name -= o.name;
    CLIO_FAST_PATH_COUNTERS(CLIO_X)
#undef CLIO_X
    return *this;
  }
};
#define CLIO_X(name, report, doc) +1
inline constexpr size_t kFastPathCounters = 0 CLIO_FAST_PATH_COUNTERS(CLIO_X);
#undef CLIO_X
static_assert(sizeof(FastPathCounters) == kFastPathCounters * sizeof(uint64_t),
              "every fast-path counter is in CLIO_FAST_PATH_COUNTERS, and nothing else");

class FastPath {
 public:
  ~FastPath();  ///< Deregisters. Must not be inside a batch.
  FastPath(const FastPath&) = delete;
  FastPath& operator=(const FastPath&) = delete;

  /// Starts a batch: applies pending TLB shoot-downs first. Not reentrant.
  void enter();
  /// Ends the batch: from here the slow path may reclaim what this worker might have used.
  void leave();
  /// Called once the worker's network has been quiet for a while: asks the slow path to top up
  /// this worker's free-page ring now, if it is not full, so that the refill's CPU time falls in
  /// the gap rather than in the next burst of faults (where the low-water doorbell would ring).
  void top_up_when_idle();

  class Batch {
   public:
    explicit Batch(FastPath& w) : w_(w) { w_.enter(); }
    ~Batch() { w_.leave(); }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

   private:
    FastPath& w_;
  };

  // --- Data operations (inside a batch). Each returns kOk or the reason it was refused:
  //   kNoSuchRas    pid not live, or key is neither its read-write nor its read-only key
  //   kUnmapped     VA not in an allocation of that address space
  //   kPermission   a write (or atomic) with the read-only key or to a read-only allocation
  //   kBadArgument  zero length, length crossing a page boundary, misaligned atomic
  //   kRetryLater   first touch of a page while no pre-zeroed page was ready
  //   kNoMemory     first touch of a page while the pool has no free page at all

  /// Copies out.size() bytes at t.va into `out`.
  [[nodiscard]] Status read(const Target& t, std::span<std::byte> out);
  /// Copies `in` to t.va.
  [[nodiscard]] Status write(const Target& t, std::span<const std::byte> in);
  /// Like read(), without the copy: *data points at the bytes in the pool, valid until the batch
  /// ends (the network front end gathers a reply straight from there).
  [[nodiscard]] Status read_view(const Target& t, uint32_t len, const std::byte** data);
  /// kOk when `key` grants this access to `pid` (kNoSuchRas or kPermission otherwise); checks
  /// nothing about addresses. For answering a retransmission from the dedup table.
  [[nodiscard]] Status check_key(uint32_t pid, uint64_t key, bool write) const;
  /// 8-byte compare-and-swap at t.va (8-aligned). *old receives the previous value; the swap
  /// happened iff *old == expected.
  [[nodiscard]] Status cas(const Target& t, uint64_t expected, uint64_t desired, uint64_t* old);
  /// 8-byte fetch-and-add at t.va (8-aligned). *old receives the previous value.
  [[nodiscard]] Status faa(const Target& t, uint64_t add, uint64_t* old);

  // --- Control operations: handed to the slow path, answered asynchronously. ---------------
  /// Queues a control request. False when the queue is full (answer kRetryLater). Any time.
  bool submit(const ControlRequest& req);
  /// Takes up to out.size() replies to earlier submit()s; returns how many. Any time.
  size_t poll_replies(std::span<ControlReply> out);

  FastPathCounters counters() const;
  int index() const { return index_; }

 private:
  friend class MemoryNode;
  FastPath(const FastPathView& mn, FastPathSlot& slot, int index);

  /// Checks rights and translates [t.va, t.va+len) to a host pointer (taking a fault if need).
  Status translate(const Target& t, uint32_t len, bool write, std::byte** host);
  /// Assigns a page to the allocated-but-invalid PTE `p`; updates *word.
  Status fault(Pte* p, uint64_t* word);
  /// translate() for the lazily-mapping designs (server, pnic): their table, no TLB, faults
  /// through FastPathView::lazy_fault.
  Status translate_lazy(const Target& t, bool write, std::byte** host);
  void apply_invalidations();

  const FastPathView mn_;
  FastPathSlot& slot_;
  const int index_;
  Tlb tlb_;
  FastPathCounters base_;  ///< the slot's counts when this worker took it
  bool in_batch_ = false;
  uint64_t seen_inval_seq_;
  // Copies of configuration read on every request.
  const PageTable& table_;
  const LazyTable* const lazy_;  ///< nullptr for clio
  std::byte* const pool_base_;
  const int page_shift_;
  const uint64_t page_mask_;
  const uint32_t max_ras_;
  const uint32_t ring_low_water_;
};

}  // namespace clio::mn

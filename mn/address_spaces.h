// SPDX-License-Identifier: Apache-2.0
// The MN's remote address spaces (RASes) as data: which pids are live, their keys, their
// allocations (VMAs), their leases and quotas, and where a new allocation may be placed.
//
// Nothing here waits, touches the pool or talks to the fast path beyond the key table, so it is
// used (and tested) without threads. MemoryNode's slow path owns one and is its only writer;
// the fast path reads the key table (key_rw(), key_ro()) and any thread may renew() a lease.
// Reserving the page-table slots of a placed range is the slow path's job (slow_path.cc): it
// asks candidate() for a start, reserves, and records the range here with add() once it holds.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/mapped_memory.h"
#include "common/rng.h"
#include "common/status.h"
#include "mn/config.h"
#include "mn/page_table.h"

namespace clio::mn {

/// One allocation of an address space.
struct Vma {
  uint64_t pages;  ///< length in pages
  bool writable;
};

class AddressSpaces {
 public:
  struct Ras {
    uint64_t key_rw = 0;
    uint64_t key_ro = 0;
    std::map<uint64_t, Vma> vmas;  ///< by start VA
    uint64_t next_va = kVaBase;    ///< where the next first-choice candidate starts
    uint64_t pages = 0;            ///< allocated, summed over vmas (its quota's measure)
  };

  /// Room for pids 1 .. max_ras-1. `table` is only read (candidate()'s bucket windows).
  /// quota_pages, quota_slots: the most one address space may hold (UINT64_MAX: no quota).
  /// Throws clio::Error if the key table cannot be mapped.
  AddressSpaces(uint32_t max_ras, int page_shift, const PageTable& table, uint64_t seed,
                uint64_t quota_pages, uint64_t quota_slots);
  AddressSpaces(const AddressSpaces&) = delete;
  AddressSpaces& operator=(const AddressSpaces&) = delete;

  // --- Any thread, lock-free --------------------------------------------------------------
  /// The keys of `pid` (pid < max_ras, checked by the caller); 0 when it is not live. The fast
  /// path's key check reads these.
  uint64_t key_rw(uint32_t pid) const { return std::atomic_ref(keys_[pid].rw).load(); }
  uint64_t key_ro(uint32_t pid) const { return std::atomic_ref(keys_[pid].ro).load(); }
  /// Renews the lease of `pid` to `now_ms` when `key` is its read-write key; false otherwise.
  bool renew(uint32_t pid, uint64_t key, uint64_t now_ms);

  // --- The owner (the slow path) only ------------------------------------------------------
  /// A new address space with fresh random keys, its lease renewed at now_ms. kTooManyRas when
  /// every pid is live; pids of destroyed spaces are reused oldest first.
  Status create(uint64_t now_ms, uint32_t* pid, uint64_t* key_rw, uint64_t* key_ro);
  /// The address space `pid` if `key` is its read-write key, else nullptr.
  Ras* find(uint32_t pid, uint64_t key);
  /// Marks the owner of `pid` alive at now_ms.
  void touch(uint32_t pid, uint64_t now_ms) {
    renewed_ms_[pid].store(now_ms, std::memory_order_relaxed);
  }
  /// Revokes `pid`: clears its keys (no new access passes the fast path's check from here on)
  /// and empties its allocations, appending them to *ranges as (first vpn, pages). The pid stays
  /// taken until release().
  void revoke(uint32_t pid, std::vector<std::pair<uint64_t, uint64_t>>* ranges);
  /// Forgets a revoked `pid` and makes it free for a later create() (after a grace period).
  void release(uint32_t pid);
  /// Address spaces whose lease, at now_ms, ran out more than lease_ms ago: appended to *out.
  void collect_expired(uint64_t now_ms, uint64_t lease_ms, std::vector<uint32_t>* out) const;
  /// True when `pid` is live and its lease ran out (as collect_expired() judges it).
  bool expired(uint32_t pid, uint64_t now_ms, uint64_t lease_ms) const;
  size_t live() const { return ras_.size(); }

  /// True when [va, va+len) meets an allocation of `r`.
  bool overlaps(const Ras& r, uint64_t va, uint64_t len) const;
  /// Checks a fixed-VA request of `len` bytes at `va`: kBadArgument (zero, not page-aligned, or
  /// reaching past kVaLimit), kVaInUse (overlaps an allocation) or kOk.
  Status check_fixed(const Ras& r, uint64_t va, uint64_t len) const;
  /// kOk, or kQuotaMemory / kQuotaSlots when `pages` more would pass a quota.
  Status check_quota(const Ras& r, uint64_t pages) const;
  /// Candidate start for a range of `len` bytes (a multiple of the page) in `r` (of `pid`):
  /// attempt 0 right after the previous allocation or the lowest gap, 1 a VA whose pages land on
  /// a window of page-table buckets that all have room, later ones random. A candidate lies in
  /// [kVaBase, kVaLimit) and overlaps no allocation; false when this attempt found none.
  bool candidate(Ras& r, uint32_t pid, uint64_t len, uint32_t attempt, uint64_t* va);
  /// Records the allocation [va, va + pages) of `r`; the next first choice follows it.
  void add(Ras& r, uint64_t va, uint64_t pages, bool writable);
  /// Removes the allocation that starts at `va`: kOk and *pages, or kBadArgument (va is inside
  /// one but not its start) or kUnmapped.
  Status remove(Ras& r, uint64_t va, uint64_t* pages);
  /// The allocation that starts at `va`: nullptr and *why (kBadArgument inside one, kUnmapped).
  Vma* find_vma(Ras& r, uint64_t va, Status* why);

 private:
  struct Keys {
    uint64_t rw;  ///< 0 when the pid is not live
    uint64_t ro;
  };

  const uint32_t max_ras_;
  const int page_shift_;
  const PageTable& table_;
  const uint64_t quota_pages_;
  const uint64_t quota_slots_;
  MappedMemory keys_memory_;
  Keys* const keys_;
  /// Per pid: when its lease was last renewed (ms); written by renew() from any thread.
  std::unique_ptr<std::atomic<uint64_t>[]> renewed_ms_;
  std::unordered_map<uint32_t, Ras> ras_;
  std::deque<uint32_t> free_pids_;
  uint32_t next_pid_ = 1;
  Rng rng_;
};

}  // namespace clio::mn

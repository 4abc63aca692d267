// SPDX-License-Identifier: Apache-2.0
// The MN's only memory of requests: a bounded table of recently executed mutations (writes,
// atomics with their results, control operations with theirs), so that no request runs twice.
//
// Keyed by the request's identity (session, seq), which every attempt of a request carries and
// which CLib never reuses (docs/protocol.md). Whichever attempt arrives first executes and records
// its result together with a digest of the request (opcode, flags, pid, va, length, key, args and
// the payload's CRC). A later attempt with the same identity and the same digest gets the recorded
// answer and changes nothing; one with a different digest is not the same request and is refused
// (kIdMismatch), never answered from a record that is not its own.
//
// Partitioned by address space. Every pid has its own FIFO of records in a shared pool of
// entries; when the pool is full, the record evicted is the oldest one of the inserting pid if it
// holds at least its fair share (capacity / pids holding records), else the oldest one of a pid
// that holds more than its share. So one address space's traffic never evicts another's records
// below that share, and each pid has its own horizon: the time of the newest record it ever lost.
//
// The rule that makes "not found" safe (docs/protocol.md, "Lifetimes"): a request whose first
// transmission left the client at t0 can only have been recorded after t0. Its attempt carries its
// age (ms since t0), and no packet lives in the network longer than the maximum packet lifetime
// (MPL). So t0 >= now - age - MPL, and if that is after the pid's newest eviction, a record of the
// request would still be here: not found means never executed. Otherwise the MN cannot prove it
// and refuses the request (kStale), original or retransmission alike.
//
// Single-threaded: one table per MN network thread (a client endpoint always reaches the same
// thread).
// Entries are mapped lazily (untouched pages cost no memory); no allocation after construction.
#pragma once

#include <cstdint>
#include <memory>

#include "common/mapped_memory.h"

namespace clio::mn {

struct DedupEntry {
  uint64_t session = 0;  ///< 0: free
  uint64_t seq = 0;
  uint64_t digest = 0;  ///< request_digest() of the request that executed
  uint64_t sender = 0;  ///< hash of its sender's endpoint: only it gets this answer again
  uint64_t va = 0;      ///< the recorded reply's va, arg0, arg1
  uint64_t arg0 = 0;
  uint64_t arg1 = 0;
  uint64_t at_ms = 0;  ///< when it was recorded (the MN's monotonic clock, > 0)
  uint32_t pid = 0;    ///< the request's address space (0 for kRasCreate): its partition
  uint32_t reply_pid = 0;
  uint32_t next = 0;   ///< the partition's next-newer entry, index + 1 (0: none)
  uint8_t status = 0;  ///< the recorded reply's status
};
static_assert(sizeof(DedupEntry) == 80);

/// What identifies a request's content, so a record answers only the request it was made for.
uint64_t request_digest(uint8_t opcode, uint8_t flags, uint32_t pid, uint32_t length, uint64_t va,
                        uint64_t key, uint64_t arg0, uint64_t arg1, uint32_t payload_crc);

class DedupTable {
 public:
  /// Room for `capacity` entries (rounded up to a power of two, at least 16) of address spaces
  /// with pids below `max_pids`.
  DedupTable(size_t capacity, uint32_t max_pids);

  size_t capacity() const { return cap_; }
  size_t size() const { return count_; }
  uint64_t evictions() const { return evictions_; }
  /// Records evicted from a pid below its fair share (only possible when the pool is smaller
  /// than the number of pids holding records).
  uint64_t unfair_evictions() const { return unfair_evictions_; }

  /// How far back (ms before `now_ms`) the table is complete for `pid`: every record of it made
  /// since then is still here. UINT64_MAX when it never lost one.
  uint64_t horizon_ms(uint32_t pid, uint64_t now_ms) const {
    const uint64_t e = pid < max_pids_ ? parts_[pid].evicted_upto_ms : last_evicted_ms_;
    if (e == 0) return UINT64_MAX;
    return now_ms > e ? now_ms - e : 0;
  }
  /// The shortest horizon of any pid: now minus the newest eviction (UINT64_MAX: none yet).
  uint64_t min_horizon_ms(uint64_t now_ms) const {
    if (last_evicted_ms_ == 0) return UINT64_MAX;
    return now_ms > last_evicted_ms_ ? now_ms - last_evicted_ms_ : 0;
  }
  /// True when a request of `pid`, `age_ms` old when sent, that is not in the table may have
  /// run and been forgotten (see the rule above; `mpl_ms` is the maximum packet lifetime).
  bool may_have_run(uint32_t pid, uint64_t age_ms, uint64_t mpl_ms, uint64_t now_ms) const {
    // Two ms of slack: both clocks are read in whole milliseconds.
    return horizon_ms(pid, now_ms) <= age_ms + mpl_ms + 2;
  }

  /// The record with this identity, or null.
  const DedupEntry* find(uint64_t session, uint64_t seq) const;
  /// Hints that find() and insert() of this identity come soon: starts loading its index slot.
  /// The table is far larger than the caches, so a burst's misses overlap this way.
  void prefetch(uint64_t session, uint64_t seq) const {
    __builtin_prefetch(&index_[hash_of(session, seq) & (2 * cap_ - 1)], 1);
  }
  /// Hints that `n` records of `pid` are about to be inserted: when the table is full, starts
  /// loading the index slots of the records they will evict (its oldest ones, when it holds its
  /// share).
  void prefetch_evictions(uint32_t pid, uint32_t n) const;
  /// Records `e` (e.session != 0, e.at_ms != 0; identity not already present), evicting as
  /// described above when full.
  void insert(const DedupEntry& e);

 private:
  struct Partition {
    uint32_t head = 0;  ///< oldest entry, index + 1 (0: empty)
    uint32_t tail = 0;  ///< newest entry, index + 1
    uint32_t count = 0;
    uint32_t active_pos = 0;       ///< its place in active_ while count > 0
    uint64_t evicted_upto_ms = 0;  ///< at_ms of the newest record it lost (0: none)
  };
  /// The identity's hash: its low bits pick the home slot, its low 32 bits are kept in the index
  /// so that probes and deletions rarely need to read an entry (each read is a cache miss).
  static uint64_t hash_of(uint64_t session, uint64_t seq);
  void unindex(uint32_t entry);
  /// Evicts the oldest entry of `pid` and returns its index (now free).
  uint32_t evict_oldest(uint32_t pid);
  uint32_t pick_victim(uint32_t pid);

  size_t cap_;
  uint32_t max_pids_;
  MappedMemory entries_mem_, index_mem_, parts_mem_, active_mem_;
  DedupEntry* entries_;
  uint64_t* index_;   ///< open addressing over 2 x cap_: hash low 32 bits << 32 | entry index + 1
                      ///< (0 = empty)
  Partition* parts_;  ///< by pid
  uint32_t* active_;  ///< pids with count > 0
  uint32_t nactive_ = 0;
  uint32_t cursor_ = 0;      ///< where the search for an over-share victim resumes
  uint32_t next_fresh_ = 0;  ///< entries [next_fresh_, cap_) were never used
  size_t count_ = 0;
  uint64_t evictions_ = 0;
  uint64_t unfair_evictions_ = 0;
  uint64_t last_evicted_ms_ = 0;
};

}  // namespace clio::mn

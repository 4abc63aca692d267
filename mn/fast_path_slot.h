// SPDX-License-Identifier: Apache-2.0
// Internal: the state one fast-path worker shares with the slow path. Owned by MemoryNode (a
// fixed array), so it outlives any FastPath that uses it. Every field shared across threads is an
// atomic or an SPSC ring whose producer and consumer are named below.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/spsc_ring.h"
#include "mn/control.h"
#include "mn/fast_path.h"

namespace clio::mn {

/// A TLB shoot-down: drop pid's translations with vpn in [vpn_lo, vpn_hi).
struct Invalidation {
  uint32_t pid;
  uint64_t vpn_lo;
  uint64_t vpn_hi;
};

inline constexpr uint64_t kNoPage = ~uint64_t{0};
inline constexpr size_t kInvalidationRingSize = 256;
inline constexpr size_t kControlRingSize = 256;

struct FastPathSlot {
  enum State : int { kFree = 0, kActive = 1, kRetiring = 2 };

  explicit FastPathSlot(size_t ring_depth)
      : free_pages(ring_depth),
        invalidations(kInvalidationRingSize),
        requests(kControlRingSize),
        replies(kControlRingSize) {}

  /// kFree -> kActive by MemoryNode::add_fast_path (CAS); kActive -> kRetiring by ~FastPath;
  /// kRetiring -> kFree by the slow path once it took back the worker's pages.
  std::atomic<int> state{kFree};
  /// Odd while the worker is inside a batch. Written by the worker (seq_cst), read by the slow
  /// path's grace-period wait.
  alignas(64) std::atomic<uint64_t> epoch{0};
  /// Bumped (seq_cst read-modify-write) by the slow path after it queued invalidations or set
  /// flush_all; the worker reads it (seq_cst) right after it marks itself inside a batch. The
  /// pair guarantees that a worker the slow path saw outside a batch applies the shoot-down
  /// before it translates anything.
  std::atomic<uint64_t> inval_seq{0};
  /// Set by the slow path when an invalidation did not fit the ring: flush the whole TLB.
  std::atomic<bool> flush_all{false};
  SpscRing<uint64_t> free_pages;         ///< slow path -> worker: pre-zeroed pages
  SpscRing<Invalidation> invalidations;  ///< slow path -> worker
  SpscRing<ControlRequest> requests;     ///< worker -> slow path
  SpscRing<ControlReply> replies;        ///< slow path -> worker
  /// A page the worker popped but did not use (it lost a fault race). FastPath-owned while
  /// kActive; the slow path takes it back once the slot is kRetiring.
  uint64_t spare_page = kNoPage;
  /// Cumulative counts; single writer (the worker), read by anyone with relaxed atomic loads.
  alignas(64) FastPathCounters counters;
};

/// Single-writer increment of a counter that other threads read.
inline void bump(uint64_t& c) {
  std::atomic_ref<uint64_t> a(c);
  a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

/// A consistent-enough copy of counters written by another thread.
FastPathCounters load_counters(const FastPathCounters& c);

}  // namespace clio::mn

// SPDX-License-Identifier: Apache-2.0
// Memory-node configuration: compile-time layout knobs (they change struct layouts, so they are
// constants tied together by static_assert) and the run-time MnConfig.
//
// Configuration keys of MnConfig (defaults in brackets):
//   pool_bytes       [1 GiB]   size of the memory pool; may exceed the host's RAM (nothing is
//                              touched until a fault assigns a page)
//   page_bytes       [4 MiB]   page size, a power of two from 4 KiB to 1 GiB (the paper's default)
//   overprovision    [2.0]     page-table slots per physical page (the paper's prototype: 2)
//   max_ras          [65536]   address spaces that can live at once (PIDs 1 .. max_ras-1)
//   max_workers      [16]      fast-path workers that can be registered at once
//   free_ring_depth  [0=auto]  pre-zeroed pages queued per worker; auto: 64, fewer for large
//                              pages (at most 256 MiB per worker, at least 1)
//   ralloc_tries     [128]     candidate ranges tried before ralloc answers kNoMemory
//   ralloc_step_slots [16384]  page-table slots a ralloc reserves (or cancels), or an rfree or
//                              destroy unmaps, before the slow path turns to other work
//                              (free-page refill, other clients' control requests) and comes
//                              back to it; a ralloc's whole work is bounded too (8 slot
//                              operations per page + 2^20, then kNoMemory)
//   ras_max_bytes    [0]       bytes one address space may have allocated, rounded up to pages
//                              (kQuotaMemory); 0: no quota
//   ras_max_slots    [0]       page-table slots one address space may hold, one per allocated
//                              page (kQuotaSlots); 0: no quota
//   lease_ms         [30000]   an address space that no request of its owner (a control
//                              operation or a keep-alive, kStats) renews for this long is
//                              destroyed and its memory reclaimed; 0: never
//   design           [clio]    the memory node's design: clio, server or pnic (mn/design.h);
//                              server and pnic are the baselines the comparison measures
//   seed             [0]       seed of the random choice of candidate ranges (0: from the clock)
#pragma once

#include <cstdint>
#include <string>

namespace clio::mn {

// --- Layout (compile time) ------------------------------------------------------------------
inline constexpr int kVaBits = 48;  ///< VAs are below 2^48
inline constexpr uint64_t kVaLimit = uint64_t{1} << kVaBits;
inline constexpr uint64_t kVaBase = uint64_t{1} << 32;    ///< lowest VA ralloc hands out
inline constexpr int kMinPageShift = 12;                  ///< 4 KiB
inline constexpr int kMaxPageShift = 30;                  ///< 1 GiB
inline constexpr int kVpnBits = kVaBits - kMinPageShift;  ///< 36: widest VPN
inline constexpr int kPidBits = 27;
inline constexpr uint32_t kMaxPid = (uint32_t{1} << kPidBits) - 1;
inline constexpr int kPpnBits = 40;       ///< up to 2^40 physical pages
inline constexpr int kPtesPerBucket = 8;  ///< 8 x 16 B = two cache lines
inline constexpr int kTlbSets = 256;
inline constexpr int kTlbWays = 4;  ///< 1024 translations per worker
static_assert(kPidBits + kVpnBits + 1 == 64, "tag = pending bit | pid | vpn fills 64 bits");
static_assert(kVaBase % (uint64_t{1} << kMaxPageShift) == 0, "kVaBase aligned for every page size");

// --- Run time ---------------------------------------------------------------------------------
struct MnConfig {
  uint64_t pool_bytes = uint64_t{1} << 30;
  uint64_t page_bytes = uint64_t{4} << 20;
  double overprovision = 2.0;
  uint32_t max_ras = 1u << 16;
  uint32_t max_workers = 16;
  uint32_t free_ring_depth = 0;
  uint32_t ralloc_tries = 128;
  uint32_t ralloc_step_slots = 16384;
  uint64_t ras_max_bytes = 0;
  uint64_t ras_max_slots = 0;
  uint64_t lease_ms = 30'000;
  std::string design = "clio";
  uint64_t seed = 0;

  /// Throws clio::ConfigError naming the bad key and why.
  void validate() const;
  /// free_ring_depth, with 0 resolved to the automatic depth.
  uint32_t ring_depth() const;
  int page_shift() const { return __builtin_ctzll(page_bytes); }
};

}  // namespace clio::mn

// SPDX-License-Identifier: Apache-2.0
// The memory node's design: the one seam between Clio and the designs it is compared against
// (DESIGN.md, "Designs compared"). Same wire protocol, transports, CLib, workers and pinning;
// only what a request finds inside the MN differs:
//
//   design  translation (fast path)          first touch of a page         per-client state
//   clio    TLB + overflow-free hash table   pre-zeroed page from the      none
//           (one bucket per lookup)          worker's ring (async refill)
//   server  per-address-space 4-level radix  allocated and zeroed on the   a session per endpoint
//           table walked in software         request path, under the lock  (sequence state and a
//                                            the control path allocates    receive buffer)
//                                            with (the whole fault)
//   pnic    one chained hash table for all   handled inline by the worker: as server
//           address spaces (unbounded        page taken under the lock,
//           probes)                          zeroed outside it
//
// clio's structures are the memory node's own (PageTable, Tlb, the free-page rings). The others
// fill a LazyTable (mn/baselines.h) on demand: their ralloc records the range only, and the first
// touch maps the page (MemoryNode::lazy_fault). A further design of that kind is one LazyTable
// (a file group) and one line in designs() (design.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "mn/baselines.h"

namespace clio::mn {

struct MnConfig;

struct Design {
  enum class Faults {
    kAsyncRing,      ///< clio: from the free-page ring; never waits for the slow path
    kSyncUnderLock,  ///< allocate, zero and map under the fault lock
    kInline,         ///< allocate under the fault lock, zero outside it, map under it
  };
  const char* name;
  const char* summary;  ///< one line, for --help and reports
  Faults faults;
  bool sessions;  ///< the network side keeps a session per client endpoint
  /// The design's page table for `pool_pages` physical pages; nullptr: clio's own.
  std::unique_ptr<LazyTable> (*make_table)(const MnConfig& cfg, uint64_t pool_pages);
};

/// Every design, clio first.
std::span<const Design> designs();
/// The design called `name`, or nullptr.
const Design* find_design(std::string_view name);
/// "clio|server|pnic".
std::string design_names();

}  // namespace clio::mn

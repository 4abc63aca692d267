// SPDX-License-Identifier: Apache-2.0
// Internal to CLib: which memory node a ralloc goes to. The policy (choose_mn) is a pure function
// over a snapshot of the client's memory nodes; Client::Impl::place (placement.cc) takes the
// snapshot. Policies are clio.h's CLIO_PLACE_*.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace clio::cn {

/// One memory node as placement sees it, at one moment.
struct MnSnapshot {
  bool skip = false;        ///< this ralloc already failed there: never chosen
  bool suspect = false;     ///< recently failed to answer: chosen only when all others are
  uint64_t free_bytes = 0;  ///< its last known free memory (CLIO_PLACE_LEAST_USED)
};

/// The index in `mns` of the memory node a ralloc goes to under `policy`, or mns.size() when
/// every one is skipped. Memory nodes not skipped and not suspect are preferred; when there are
/// none, suspect ones are used. CLIO_PLACE_FILL_FIRST: the first usable one;
/// CLIO_PLACE_LEAST_USED: the one with the most free bytes (the first of equals); otherwise
/// (CLIO_PLACE_SPREAD) the first usable one from `spread_start` (mod mns.size()) on.
size_t choose_mn(int policy, std::span<const MnSnapshot> mns, uint64_t spread_start);

}  // namespace clio::cn

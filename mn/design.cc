// SPDX-License-Identifier: Apache-2.0
#include "mn/design.h"

#include <array>

#include "mn/config.h"

namespace clio::mn {
namespace {

std::unique_ptr<LazyTable> make_radix(const MnConfig& cfg, uint64_t) {
  return std::make_unique<RadixPageTable>(cfg.page_shift(), cfg.max_ras);
}

std::unique_ptr<LazyTable> make_chained(const MnConfig&, uint64_t pool_pages) {
  // A head per physical page: load factor at most 1 when the pool is fully mapped.
  return std::make_unique<ChainedPageTable>(pool_pages);
}

const std::array<Design, 3> kDesigns = {{
    {"clio", "Clio: TLB + overflow-free hash page table, async free-page ring, no client state",
     Design::Faults::kAsyncRing, false, nullptr},
    {"server",
     "CPU-server MN: per-address-space 4-level radix table, faults zeroed under the control "
     "path's lock, a session per client",
     Design::Faults::kSyncUnderLock, true, make_radix},
    {"pnic",
     "programmable-NIC MN: one chained hash table for all address spaces, faults inline, a "
     "session per client",
     Design::Faults::kInline, true, make_chained},
}};

}  // namespace

std::span<const Design> designs() { return kDesigns; }

const Design* find_design(std::string_view name) {
  for (const Design& d : kDesigns)
    if (name == d.name) return &d;
  return nullptr;
}

std::string design_names() {
  std::string s;
  for (const Design& d : kDesigns) s += (s.empty() ? "" : "|") + std::string(d.name);
  return s;
}

}  // namespace clio::mn

// SPDX-License-Identifier: Apache-2.0
#include "mn/config.h"

#include <algorithm>
#include <string>

#include "common/error.h"
#include "common/units.h"
#include "mn/design.h"

namespace clio::mn {

void MnConfig::validate() const {
  const uint64_t min_page = uint64_t{1} << kMinPageShift;
  const uint64_t max_page = uint64_t{1} << kMaxPageShift;
  if (page_bytes < min_page || page_bytes > max_page || (page_bytes & (page_bytes - 1)) != 0)
    throw ConfigError("page size " + format_size(page_bytes) +
                      ": must be a power of two from 4 KiB to 1 GiB");
  if (pool_bytes < page_bytes)
    throw ConfigError("pool size " + format_size(pool_bytes) + " is smaller than one page (" +
                      format_size(page_bytes) + ")");
  if (pool_bytes / page_bytes > (uint64_t{1} << kPpnBits))
    throw ConfigError("pool of " + format_size(pool_bytes) + " has more than 2^40 pages");
  if (pool_bytes > kVaLimit)
    throw ConfigError("pool size " + format_size(pool_bytes) + " exceeds 256 TiB");
  if (!(overprovision >= 1.0 && overprovision <= 64.0))
    throw ConfigError("overprovision " + std::to_string(overprovision) +
                      ": must be between 1 and 64 page-table slots per page");
  if (max_ras < 2 || max_ras - 1 > kMaxPid)
    throw ConfigError("max_ras " + std::to_string(max_ras) + ": must be from 2 to 2^27");
  if (max_workers < 1 || max_workers > 256)
    throw ConfigError("max_workers " + std::to_string(max_workers) + ": must be from 1 to 256");
  if (free_ring_depth > 4096)
    throw ConfigError("free_ring_depth " + std::to_string(free_ring_depth) + ": at most 4096");
  if (ralloc_tries < 1) throw ConfigError("ralloc_tries must be at least 1");
  if (ralloc_step_slots < 1) throw ConfigError("ralloc_step_slots must be at least 1");
  if (find_design(design) == nullptr)
    throw ConfigError("design '" + design + "': expected one of " + design_names());
  if (lease_ms > uint64_t{365} * 86'400'000)
    throw ConfigError("lease_ms " + std::to_string(lease_ms) + ": at most a year (0: never)");
}

uint32_t MnConfig::ring_depth() const {
  if (free_ring_depth != 0) return free_ring_depth;
  const uint64_t by_bytes = (uint64_t{256} << 20) / page_bytes;
  return static_cast<uint32_t>(std::clamp<uint64_t>(by_bytes, 1, 64));
}

}  // namespace clio::mn

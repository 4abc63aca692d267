// SPDX-License-Identifier: Apache-2.0
// Internal to CLib: client addresses carry the memory node. Bits [48,54) name it (its index in
// the client's list), bits [0,48) are the VA there.
#pragma once

#include <cstddef>
#include <cstdint>

namespace clio::cn {

inline constexpr int kMnShift = 48;
inline constexpr uint64_t kVaMask = (uint64_t{1} << kMnShift) - 1;
inline constexpr size_t kMaxMns = 64;  ///< memory nodes of one client
inline constexpr uint64_t client_address(size_t mn, uint64_t va) {
  return (static_cast<uint64_t>(mn) << kMnShift) | va;
}

}  // namespace clio::cn

// SPDX-License-Identifier: Apache-2.0
// CRC32C (Castagnoli), with the SSE4.2 instruction where the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace clio {

/// Extends a CRC32C: crc32c(crc32c(0, a), b) == crc32c(0, a ++ b). Thread-safe, no allocation.
uint32_t crc32c(uint32_t crc, const void* data, size_t len);

/// A CRC32C-based checksum about three times faster on short buffers: the 8-byte words are
/// dealt to three lanes (word i to lane i % 3), each a CRC32C with its own start value, trailing
/// bytes go to lane 0, and the three lane values are folded into `seed` with CRC32C. Not equal
/// to crc32c(); it keeps CRC's guarantee per lane: any error within 32 consecutive bits changes
/// one lane's value and so the result. Chaining is by seed, not by concatenation.
uint32_t crc32c_3way(uint32_t seed, const void* data, size_t len);

}  // namespace clio

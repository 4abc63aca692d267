// CRC32C (Castagnoli), with the SSE4.2 instruction where the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace clio {

/// Extends a CRC32C: crc32c(crc32c(0, a), b) == crc32c(0, a ++ b). Thread-safe, no allocation.
uint32_t crc32c(uint32_t crc, const void* data, size_t len);

}  // namespace clio

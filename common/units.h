// SPDX-License-Identifier: Apache-2.0
// Parsing and printing sizes such as "64G", "4M", "4KiB".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace clio {

/// Parses a byte count: a decimal integer with an optional binary suffix K, M, G, T (also
/// "KiB", "KB", "k", ...; all mean powers of 1024). False for anything else, including
/// overflow past 2^64 - 1.
bool parse_size(std::string_view text, uint64_t* out);

/// "4 KiB", "1.5 GiB", "64 B".
std::string format_size(uint64_t bytes);

}  // namespace clio

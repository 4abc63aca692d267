// SPDX-License-Identifier: Apache-2.0
// The input formats of the fuzz targets that read structured inputs, shared by the targets and
// by the seed generator (fuzz_seeds.cc), so that seeds follow the targets when either changes.
// Each target's file describes its format in full.
#pragma once

#include <cstdint>

namespace clio::fuzz {

/// fuzz_mn_serve: the mode byte.
namespace mn_serve {
inline constexpr uint8_t kReseal = 1u << 0;
inline constexpr uint8_t kSetup = 1u << 1;
inline constexpr uint8_t kAuth = 1u << 2;
inline constexpr uint8_t kReadOnly = 1u << 3;
inline constexpr uint8_t kVa = 1u << 4;
inline constexpr uint8_t kIdentity = 1u << 5;
inline constexpr uint64_t kRegion = 64 * 1024;  ///< bytes the harness allocates (kSetup)
}  // namespace mn_serve

/// fuzz_clib_reply: the calls byte and the script's control bytes.
namespace clib_reply {
inline constexpr uint8_t kCallRead = 1u << 0;
inline constexpr uint8_t kCallWrite = 1u << 1;
inline constexpr uint8_t kCallFaa = 1u << 2;
inline constexpr uint8_t kCallCas = 1u << 3;
inline constexpr uint8_t kCallRalloc = 1u << 4;
inline constexpr uint8_t kCallAsync = 1u << 5;
inline constexpr uint8_t kCallAll = 0x3F;

inline constexpr uint8_t kGood = 0, kRaw = 1, kDrop = 2, kPlain = 3;  ///< bits 0-1
inline constexpr uint8_t kKeepId = 1u << 2;
inline constexpr uint8_t kReseal = 1u << 3;
inline constexpr uint8_t kTwice = 1u << 4;
}  // namespace clib_reply

}  // namespace clio::fuzz

// SPDX-License-Identifier: Apache-2.0
// Internal to CLib: the share token (clio_export, clio_attach), as text and back. Pure: no I/O,
// no transports; Client::export_token and Client::attach do the rest.
//
// Format: "clio1;<w>" then, per memory node, ";<pid>;<key>;<page bytes>;<locator>", where <w>
// is 1 (read-write) or 0 (read-only), <pid> and <page bytes> are decimal, <key> is 16 hex
// digits. Locators never contain ';' (CLib splits a list of them at ';').
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace clio::cn {

/// One memory node's address space, as a token names it.
struct TokenMn {
  uint32_t pid = 0;         ///< non-zero
  uint64_t key = 0;         ///< non-zero: read-write or read-only, as the token's `writable`
  uint64_t page_bytes = 0;  ///< a power of two
  std::string locator;      ///< no ';'
};

struct ShareToken {
  bool writable = false;
  std::vector<TokenMn> mns;  ///< 1 to kMaxMns (cn/address.h)
};

/// Why a token was refused.
enum class TokenError : uint8_t {
  kNone = 0,
  kNotAToken,    ///< no "clio1;" prefix, <w> not 0 or 1, or not whole groups of four fields
  kBadPid,       ///< empty, not a number, 0 or above 2^32 - 1
  kBadKey,       ///< not 16 hex digits, or 0
  kBadPageSize,  ///< not a number, or not a power of two
  kMnCount,      ///< more memory nodes than a client has
};

/// A short sentence for `e`, for logs. Never null.
const char* token_error_message(TokenError e);

/// The token for `t`. Allocates; never throws but std::bad_alloc.
std::string format_share_token(const ShareToken& t);

/// Reads `text` into *out; on an error *out is unspecified. Checks the format only (whether the
/// locators name a transport is the caller's to check).
TokenError parse_share_token(std::string_view text, ShareToken* out);

}  // namespace clio::cn

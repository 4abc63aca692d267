// SPDX-License-Identifier: Apache-2.0
// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit pseudo-random function, written from
// the paper's description. Used where an attacker chooses the input and must not forge the
// output: the MN's address tokens and the credential proof of kRasCreate. Not a hash table hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace clio {

struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
  bool empty() const { return k0 == 0 && k1 == 0; }
};

/// SipHash-2-4 of `data` under `key`.
uint64_t siphash24(const SipKey& key, std::span<const std::byte> data);

/// A 128-bit key derived from a secret of any length (two SipHash-2-4 runs under fixed keys).
SipKey derive_key(std::string_view secret);

/// The operator's credential: the secret in the file at `path` (its first line, without
/// surrounding white space; at least 16 characters), derived into a key. Throws clio::ConfigError
/// with a sentence when the file is missing, unreadable, empty, too short, or readable by other
/// users (as ssh refuses private keys that others may read).
SipKey load_credential(const std::string& path);

/// A fresh random key (getrandom(2)).
SipKey random_sip_key();

}  // namespace clio

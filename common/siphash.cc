// SPDX-License-Identifier: Apache-2.0
#include "common/siphash.h"

#include <sys/stat.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/error.h"
#include "common/rng.h"

namespace clio {
namespace {

struct State {
  uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
  void absorb(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

}  // namespace

uint64_t siphash24(const SipKey& key, std::span<const std::byte> data) {
  // The initial constants spell "somepseudorandomlygeneratedbytes".
  State s{key.k0 ^ 0x736f6d6570736575ull, key.k1 ^ 0x646f72616e646f6dull,
          key.k0 ^ 0x6c7967656e657261ull, key.k1 ^ 0x7465646279746573ull};
  const size_t n = data.size();
  size_t at = 0;
  for (; at + 8 <= n; at += 8) {
    uint64_t m;
    std::memcpy(&m, data.data() + at, 8);  // little-endian host (see common/wire.h)
    s.absorb(m);
  }
  uint64_t last = static_cast<uint64_t>(n & 0xff) << 56;
  for (size_t i = 0; at + i < n; ++i)
    last |= static_cast<uint64_t>(static_cast<uint8_t>(data[at + i])) << (8 * i);
  s.absorb(last);
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

SipKey derive_key(std::string_view secret) {
  const auto bytes = std::as_bytes(std::span(secret.data(), secret.size()));
  return SipKey{siphash24(SipKey{0x636c696f2d617574ull, 0x682d6b6579ull}, bytes),
                siphash24(SipKey{0x636c696f2d617574ull, 0x682d6b6579ull ^ 1}, bytes)};
}

SipKey load_credential(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw ConfigError("credential file '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw ConfigError("credential file '" + path + "': not a regular file");
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    throw ConfigError("credential file '" + path +
                      "': readable or writable by other users; chmod 600 it");
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line))
    throw ConfigError("credential file '" + path + "': cannot read a line from it");
  const size_t b = line.find_first_not_of(" \t\r");
  const size_t e = line.find_last_not_of(" \t\r");
  const std::string secret = b == std::string::npos ? "" : line.substr(b, e - b + 1);
  if (secret.size() < 16)
    throw ConfigError("credential file '" + path +
                      "': the secret (its first line) must be at least 16 characters");
  return derive_key(secret);
}

SipKey random_sip_key() { return SipKey{random_key(), random_key()}; }

}  // namespace clio

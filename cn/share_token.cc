// SPDX-License-Identifier: Apache-2.0
#include "cn/share_token.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "cn/address.h"

namespace clio::cn {

namespace {
constexpr std::string_view kMagic = "clio1";
constexpr size_t kFieldsPerMn = 4;
}  // namespace

const char* token_error_message(TokenError e) {
  switch (e) {
    case TokenError::kNone:
      return "a valid token";
    case TokenError::kNotAToken:
      return "not a clio token";
    case TokenError::kBadPid:
      return "a pid in the token is not a non-zero 32-bit number";
    case TokenError::kBadKey:
      return "a key in the token is not 16 hex digits, or is 0";
    case TokenError::kBadPageSize:
      return "a page size in the token is not a power of two";
    case TokenError::kMnCount:
      return "the token names more memory nodes than a client can use";
  }
  return "unknown token error";
}

std::string format_share_token(const ShareToken& t) {
  std::string s = std::string(kMagic) + ";" + (t.writable ? "1" : "0");
  char num[64];
  for (const TokenMn& m : t.mns) {
    std::snprintf(num, sizeof num, ";%u;%016" PRIx64 ";%" PRIu64 ";", m.pid, m.key, m.page_bytes);
    s += num + m.locator;
  }
  return s;
}

TokenError parse_share_token(std::string_view text, ShareToken* out) {
  std::vector<std::string> f;
  for (size_t at = 0; at <= text.size();) {
    const size_t semi = std::min(text.find(';', at), text.size());
    f.emplace_back(text.substr(at, semi - at));
    at = semi + 1;
  }
  if (f.size() < 2 + kFieldsPerMn || f[0] != kMagic || (f[1] != "0" && f[1] != "1") ||
      (f.size() - 2) % kFieldsPerMn != 0)
    return TokenError::kNotAToken;
  out->writable = f[1] == "1";
  out->mns.clear();
  for (size_t i = 2; i + kFieldsPerMn - 1 < f.size(); i += kFieldsPerMn) {
    // strtoul and strtoull stop at the first character that does not belong to the number:
    // the whole field must be one.
    TokenMn m;
    char* end = nullptr;
    const unsigned long pid = std::strtoul(f[i].c_str(), &end, 10);
    if (f[i].empty() || *end != '\0' || pid == 0 || pid > 0xFFFFFFFFul) return TokenError::kBadPid;
    const unsigned long long key = std::strtoull(f[i + 1].c_str(), &end, 16);
    if (f[i + 1].size() != 16 || *end != '\0' || key == 0) return TokenError::kBadKey;
    const unsigned long long page = std::strtoull(f[i + 2].c_str(), &end, 10);
    if (*end != '\0' || page == 0 || (page & (page - 1)) != 0) return TokenError::kBadPageSize;
    m.pid = static_cast<uint32_t>(pid);
    m.key = key;
    m.page_bytes = page;
    m.locator = std::move(f[i + 3]);
    out->mns.push_back(std::move(m));
  }
  if (out->mns.empty() || out->mns.size() > kMaxMns) return TokenError::kMnCount;
  return TokenError::kNone;
}

}  // namespace clio::cn

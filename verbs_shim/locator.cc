// SPDX-License-Identifier: Apache-2.0
#include "verbs_shim/locator.h"

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "common/check.h"
#include "common/error.h"

namespace clio::net {

Locator Locator::parse(std::string_view text) {
  Locator l;
  const size_t colon = text.find(':');
  l.backend = std::string(text.substr(0, colon));
  if (l.backend.empty())
    throw ConfigError("locator '" + std::string(text) + "': no backend name before ':'");
  if (colon == std::string_view::npos) return l;
  std::string_view rest = text.substr(colon + 1);
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view kv = rest.substr(0, comma);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0)
      throw ConfigError("locator '" + std::string(text) + "': expected key=value, got '" +
                        std::string(kv) + "'");
    const std::string key(kv.substr(0, eq));
    if (l.params.count(key))
      throw ConfigError("locator '" + std::string(text) + "': key '" + key + "' given twice");
    l.params[key] = std::string(kv.substr(eq + 1));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return l;
}

std::string Locator::str() const {
  std::string s = backend;
  char sep = ':';
  for (const auto& [k, v] : params) {
    s += sep + k + "=" + v;
    sep = ',';
  }
  return s;
}

std::string Locator::get(const std::string& key, const std::string& dflt) const {
  auto it = params.find(key);
  return it == params.end() ? dflt : it->second;
}

uint64_t Locator::get_uint(const std::string& key, uint64_t dflt, uint64_t lo, uint64_t hi) const {
  auto it = params.find(key);
  if (it == params.end()) return dflt;
  const std::string& v = it->second;
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || v[0] == '-' || x < lo || x > hi)
    throw ConfigError(backend + " locator: " + key + "=" + v + " is not a number from " +
                      std::to_string(lo) + " to " + std::to_string(hi));
  return x;
}

double Locator::get_prob(const std::string& key, double dflt) const {
  auto it = params.find(key);
  if (it == params.end()) return dflt;
  char* end = nullptr;
  const double p = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !(p >= 0.0 && p <= 1.0))
    throw ConfigError(backend + " locator: " + key + "=" + it->second +
                      " is not a probability from 0 to 1");
  return p;
}

std::string keys_help(std::span<const LocatorKey> keys) {
  std::string s;
  for (const LocatorKey& k : keys)
    s += (s.empty() ? "" : ", ") + std::string(k.key) + "=" + k.values;
  return s;
}

std::string Locator::get_choice(const std::string& key, const std::string& dflt,
                                std::span<const LocatorKey> known) const {
  std::string_view values;
  for (const LocatorKey& k : known)
    if (key == k.key) values = k.values;
  CLIO_CHECK_MSG(!values.empty(), "get_choice: the key table lists no values for this key");
  const std::string v = get(key, dflt);
  std::vector<std::string_view> choices;
  for (size_t at = 0;;) {
    const size_t bar = values.find('|', at);
    choices.push_back(values.substr(at, bar - at));
    if (bar == std::string_view::npos) break;
    at = bar + 1;
  }
  for (std::string_view c : choices)
    if (v == c) return v;
  std::string expected;
  for (size_t i = 0; i < choices.size(); ++i)
    expected += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + std::string(choices[i]);
  throw ConfigError(backend + " locator: " + key + "=" + v + " (expected " + expected + ")");
}

void Locator::check_keys(std::span<const LocatorKey> known) const {
  for (const auto& [k, v] : params) {
    bool ok = false;
    for (const LocatorKey& key : known) ok |= k == key.key;
    if (!ok) {
      std::string names;
      for (const LocatorKey& key : known)
        names += (names.empty() ? "" : ",") + std::string(key.key);
      throw ConfigError(backend + " locator: unknown key '" + k + "' (known: " + names + ")");
    }
  }
}

}  // namespace clio::net

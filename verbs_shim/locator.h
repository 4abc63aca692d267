// SPDX-License-Identifier: Apache-2.0
// Locators: short strings that name a transport backend and its parameters,
//   "<backend>:key=value,key=value"    e.g. "udp:host=127.0.0.1,port=7400", "inproc:name=mn0".
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace clio::net {

/// One key a backend reads from its locators, as --help shows it: "<key>=<values>". A backend's
/// table of these is the one list its parser checks against and its help is made from.
struct LocatorKey {
  const char* key;
  const char* values;  ///< the values --help names, e.g. "busy|sleep"; "" for any
};

/// "key=, key=a|b, ..." for --help.
std::string keys_help(std::span<const LocatorKey> keys);

struct Locator {
  std::string backend;
  std::map<std::string, std::string> params;

  /// Parses "<backend>[:k=v[,k=v]...]". Throws clio::ConfigError with the reason.
  static Locator parse(std::string_view text);
  std::string str() const;

  bool has(const std::string& key) const { return params.count(key) != 0; }
  std::string get(const std::string& key, const std::string& dflt) const;
  /// Integer parameter; throws clio::ConfigError when present but not a number in [lo, hi].
  uint64_t get_uint(const std::string& key, uint64_t dflt, uint64_t lo, uint64_t hi) const;
  /// Probability parameter in [0, 1]; throws clio::ConfigError otherwise.
  double get_prob(const std::string& key, double dflt) const;
  /// One of the values the backend's table `known` lists for `key` ("a|b"), `dflt` when the key
  /// is absent; throws clio::ConfigError otherwise ("<backend> locator: key=v (expected a or b)").
  std::string get_choice(const std::string& key, const std::string& dflt,
                         std::span<const LocatorKey> known) const;
  /// Throws clio::ConfigError naming the first key not in the backend's table `known`.
  void check_keys(std::span<const LocatorKey> known) const;
};

}  // namespace clio::net

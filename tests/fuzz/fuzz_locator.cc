// SPDX-License-Identifier: Apache-2.0
// net::Locator::parse on arbitrary text: it returns or throws ConfigError, nothing else; what
// it returns prints (str()) to text that parses back to the same locator, and the typed getters
// either return a value in range or throw ConfigError.
#include <string>
#include <string_view>

#include "common/error.h"
#include "tests/fuzz/fuzz_util.h"
#include "verbs_shim/locator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  clio::net::Locator l;
  try {
    l = clio::net::Locator::parse(text);
  } catch (const clio::ConfigError&) {
    return 0;
  }
  FUZZ_REQUIRE(!l.backend.empty());
  FUZZ_REQUIRE(l.backend.find(':') == std::string::npos);
  for (const auto& [k, v] : l.params) {
    FUZZ_REQUIRE(!k.empty() && k.find('=') == std::string::npos);
    FUZZ_REQUIRE(k.find(',') == std::string::npos && v.find(',') == std::string::npos);
    FUZZ_REQUIRE(l.has(k) && l.get(k, "") == v);
    try {
      const uint64_t x = l.get_uint(k, 0, 1, 1000);
      FUZZ_REQUIRE(x >= 1 && x <= 1000);
    } catch (const clio::ConfigError&) {
    }
    try {
      const double p = l.get_prob(k, 0);
      FUZZ_REQUIRE(p >= 0.0 && p <= 1.0);
    } catch (const clio::ConfigError&) {
    }
  }
  // check_keys refuses exactly the locators with a key outside the table.
  static constexpr clio::net::LocatorKey kKnown[] = {
      {"name", ""}, {"host", ""}, {"port", ""}, {"poll", "busy|sleep"}};
  bool all_known = true;
  for (const auto& [k, v] : l.params) {
    bool known = false;
    for (const clio::net::LocatorKey& key : kKnown) known |= k == key.key;
    all_known &= known;
  }
  try {
    l.check_keys(kKnown);
    FUZZ_REQUIRE(all_known);
  } catch (const clio::ConfigError&) {
    FUZZ_REQUIRE(!all_known);
  }
  // Round trip: printing and parsing again gives the same backend and parameters.
  const std::string printed = l.str();
  clio::net::Locator again;
  try {
    again = clio::net::Locator::parse(printed);
  } catch (const clio::ConfigError&) {
    clio::fuzz::fail("str() printed a locator that parse() refuses");
  }
  FUZZ_REQUIRE(again.backend == l.backend && again.params == l.params);
  FUZZ_REQUIRE(again.str() == printed);
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// The share token on arbitrary strings: the pure parser (cn/share_token.h) never crashes, and
// what it accepts formats back to a token that parses to the same; then clio::Client::attach
// returns 0 or a negative errno (-EINVAL whenever the parser refused) and never crashes. Attaching
// connects transports to the locators the token names, so only tokens whose locators are all inproc
// ones are tried (anything else could open sockets or devices); an inproc port named "fztok"
// listens so that some attaches succeed, and those clients are closed at once (an attached client
// sends nothing until it is used).
#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <string_view>

#include "clio/client.h"
#include "cn/share_token.h"
#include "common/error.h"
#include "common/log.h"
#include "tests/fuzz/fuzz_util.h"
#include "verbs_shim/locator.h"
#include "verbs_shim/registry.h"

namespace {

using namespace clio;
using namespace clio::cn;

/// False when some ';'-separated field names a transport other than inproc.
bool inproc_only(std::string_view token) {
  size_t at = 0;
  while (at <= token.size()) {
    const size_t semi = std::min(token.find(';', at), token.size());
    const std::string_view field = token.substr(at, semi - at);
    at = semi + 1;
    try {
      const net::Locator l = net::Locator::parse(field);
      if (l.backend != "inproc" && net::find_backend(l.backend) != nullptr) return false;
    } catch (const ConfigError&) {
    }
  }
  return true;
}

net::Transport* listener = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  set_log_level(LogLevel::kOff);
  listener = net::listen("inproc:name=fztok").release();  // for the life of the process
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string token(reinterpret_cast<const char*>(data), size);
  ShareToken parsed;
  const bool well_formed = parse_share_token(token, &parsed) == TokenError::kNone;
  if (well_formed) {
    FUZZ_REQUIRE(!parsed.mns.empty());
    ShareToken again;
    const std::string canonical = format_share_token(parsed);
    FUZZ_REQUIRE(parse_share_token(canonical, &again) == TokenError::kNone);
    FUZZ_REQUIRE(again.writable == parsed.writable && again.mns.size() == parsed.mns.size());
    for (size_t i = 0; i < again.mns.size(); ++i)
      FUZZ_REQUIRE(again.mns[i].pid == parsed.mns[i].pid && again.mns[i].key == parsed.mns[i].key &&
                   again.mns[i].page_bytes == parsed.mns[i].page_bytes &&
                   again.mns[i].locator == parsed.mns[i].locator);
    FUZZ_REQUIRE(format_share_token(again) == canonical);
  }
  if (!inproc_only(token)) return -1;  // not kept in the corpus
  std::unique_ptr<Client> c;
  const int rc = Client::attach(token, &c);
  FUZZ_REQUIRE(rc <= 0 && rc > -4096);
  FUZZ_REQUIRE(well_formed || rc == -EINVAL);
  FUZZ_REQUIRE((rc == 0) == (c != nullptr));
  if (c) {
    FUZZ_REQUIRE(c->mn_count() >= 1 && c->mn_count() <= 64);
    FUZZ_REQUIRE(c->page_bytes() != 0 && (c->page_bytes() & (c->page_bytes() - 1)) == 0);
    std::string again;
    FUZZ_REQUIRE(c->export_token(true, &again) == -EACCES);  // only the owner exports
    FUZZ_REQUIRE(c->close() == 0);
    FUZZ_REQUIRE(c->close() == -EACCES);
  }
  // Nothing should have been sent; drop whatever was, so that nothing accumulates.
  net::PacketView v[32];
  while (size_t n = listener->rx_burst(v)) listener->release(std::span(v, n));
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
#include "tests/support/embedded_mn.h"

#include <atomic>

namespace clio::testing {

mn::MnConfig EmbeddedMn::small_node(uint64_t pool_bytes, uint64_t page_bytes) {
  mn::MnConfig c;
  c.pool_bytes = pool_bytes;
  c.page_bytes = page_bytes;
  return c;
}

std::string EmbeddedMn::inproc(const std::string& base, const std::string& params) {
  static std::atomic<uint64_t> next{0};
  return "inproc:name=" + base + "-" + std::to_string(next.fetch_add(1)) +
         (params.empty() ? "" : "," + params);
}

mn::ServerConfig EmbeddedMn::serving(const std::string& listen) {
  mn::ServerConfig sc;
  sc.listen = listen;
  return sc;
}

EmbeddedMn::EmbeddedMn(const mn::MnConfig& node, const mn::ServerConfig& server)
    : node_(std::make_unique<mn::MemoryNode>(node)),
      server_(std::make_unique<mn::MnServer>(*node_, server)) {}

EmbeddedMn::~EmbeddedMn() {
  server_.reset();  // the server's workers use the node: they stop first
  node_.reset();
}

EmbeddedMn::EmbeddedMn(EmbeddedMn&&) noexcept = default;

}  // namespace clio::testing

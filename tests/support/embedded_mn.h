// SPDX-License-Identifier: Apache-2.0
// A memory node and its server inside this process: the one set-up every test and benchmark that
// needs an embedded MN uses (tests/integration, bench/mn_target, bench/soak, the fuzz targets).
// The node is built first and the server second; they stop in reverse order when it goes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mn/config.h"
#include "mn/memory_node.h"
#include "mn/server.h"

namespace clio::testing {

class EmbeddedMn {
 public:
  /// The node tests use unless they say otherwise: `pool_bytes` of memory in `page_bytes` pages
  /// (small pages: accesses cross page boundaries).
  static mn::MnConfig small_node(uint64_t pool_bytes = uint64_t{64} << 20,
                                 uint64_t page_bytes = 4096);
  /// An inproc locator whose fabric name no other call in this process returned:
  /// "inproc:name=<base>-<n>[,<params>]". Fabric names are process-wide, so tests that start
  /// several MNs (or run a test twice, --gtest_repeat) need fresh ones.
  static std::string inproc(const std::string& base, const std::string& params = "poll=sleep");

  /// A server configuration listening on `listen` (by default a fresh inproc("mn")), the rest
  /// ServerConfig's defaults.
  static mn::ServerConfig serving(const std::string& listen = inproc("mn"));

  /// Starts the node and the server. Throws what MemoryNode and MnServer throw
  /// (clio::ConfigError, net::TransportError).
  explicit EmbeddedMn(const mn::MnConfig& node = small_node(),
                      const mn::ServerConfig& server = serving());
  /// The same, serving on `listen` with ServerConfig's other defaults.
  EmbeddedMn(const mn::MnConfig& node, const std::string& listen)
      : EmbeddedMn(node, serving(listen)) {}
  ~EmbeddedMn();
  EmbeddedMn(EmbeddedMn&&) noexcept;
  /// No assignment: a member-wise one would destroy the old node while its server still runs.
  EmbeddedMn& operator=(EmbeddedMn&&) = delete;

  mn::MemoryNode& node() { return *node_; }
  const mn::MemoryNode& node() const { return *node_; }
  mn::MnServer& server() { return *server_; }
  const mn::MnServer& server() const { return *server_; }
  /// What clients dial.
  const std::string& locator() const { return server_->locator(); }

 private:
  std::unique_ptr<mn::MemoryNode> node_;  // declared first: destroyed after the server
  std::unique_ptr<mn::MnServer> server_;
};

}  // namespace clio::testing

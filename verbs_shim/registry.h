// SPDX-License-Identifier: Apache-2.0
// The list of transport backends, and making a transport from a locator string. Adding a
// backend is one file group plus one line in registry.cc.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "verbs_shim/locator.h"
#include "verbs_shim/transport.h"

namespace clio::net {

struct Backend {
  const char* name;
  const char* summary;                    ///< one line for --help
  std::span<const LocatorKey> (*keys)();  ///< the backend's own table (--help is made from it)
  std::unique_ptr<Transport> (*listen)(const Locator&, unsigned member, unsigned members);
  std::unique_ptr<Transport> (*connect)(const Locator&, Endpoint* server);
};

/// The backends built into this binary.
std::span<const Backend> backends();
/// The backend called `name`, or null.
const Backend* find_backend(std::string_view name);

/// A server-side transport for `locator`: member `member` of `members` (one per MN worker; they
/// share the address). Throws clio::ConfigError for a bad locator, TransportError when the
/// backend cannot start (with the call and errno).
std::unique_ptr<Transport> listen(const std::string& locator, unsigned member = 0,
                                  unsigned members = 1);
/// A client-side transport that can reach the server `locator` names; *server receives the
/// server's address. Throws as listen().
std::unique_ptr<Transport> connect(const std::string& locator, Endpoint* server);

/// Help text listing every backend, its locator form and keys.
std::string transports_help();

/// The GID table of RDMA device `dev` ("" = the first) port 1, best first (the first is what a
/// verbs locator without gid= uses; verbs_device.h, ranked_gids()): one line per filled entry,
/// "<index>\t<GID>\t<type>\t<network device>\t<IPv4 address or ->". What `clio-mn
/// --list-gids` prints and scripts/rxe-setup.sh and scripts/rxe-vm.sh read, so that the choice
/// is made in one place. Throws TransportError (no device; built without libibverbs).
std::string list_gids(const std::string& dev);

}  // namespace clio::net

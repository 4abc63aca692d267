// SPDX-License-Identifier: Apache-2.0
#include "verbs_shim/registry.h"

#include <cstring>

#include "verbs_shim/inproc_transport.h"
#include "verbs_shim/raweth_transport.h"
#include "verbs_shim/udp_transport.h"
#if CLIO_HAVE_VERBS
#include <arpa/inet.h>

#include "verbs_shim/verbs_device.h"
#include "verbs_shim/verbs_transport.h"
#endif

namespace clio::net {
namespace {

std::unique_ptr<Transport> listen_inproc(const Locator& l, unsigned m, unsigned n) {
  return InProcTransport::listen(l, m, n);
}
std::unique_ptr<Transport> connect_inproc(const Locator& l, Endpoint* s) {
  return InProcTransport::connect(l, s);
}
std::unique_ptr<Transport> listen_udp(const Locator& l, unsigned m, unsigned n) {
  return UdpTransport::listen(l, m, n);
}
std::unique_ptr<Transport> connect_udp(const Locator& l, Endpoint* s) {
  return UdpTransport::connect(l, s);
}
std::unique_ptr<Transport> listen_raweth(const Locator& l, unsigned m, unsigned n) {
  return RawEthTransport::listen(l, m, n);
}
std::unique_ptr<Transport> connect_raweth(const Locator& l, Endpoint* s) {
  return RawEthTransport::connect(l, s);
}
#if CLIO_HAVE_VERBS
std::unique_ptr<Transport> listen_verbs(const Locator& l, unsigned m, unsigned n) {
  return VerbsTransport::listen(l, m, n);
}
std::unique_ptr<Transport> connect_verbs(const Locator& l, Endpoint* s) {
  return VerbsTransport::connect(l, s);
}
#endif

const Backend kBackends[] = {
    {"inproc", "in-process rings with a fault injector (tests, the embedded default)",
     &InProcTransport::locator_keys, &listen_inproc, &connect_inproc},
    {"udp", "kernel UDP sockets, sendmmsg/recvmmsg with segmentation offload, busy-poll or epoll",
     &UdpTransport::locator_keys, &listen_udp, &connect_udp},
    {"raweth", "raw Ethernet frames (EtherType 0x88B5) over AF_PACKET with a mapped receive ring",
     &RawEthTransport::locator_keys, &listen_raweth, &connect_raweth},
#if CLIO_HAVE_VERBS
    {"verbs",
     "RDMA UD queue pairs (libibverbs; InfiniBand, RoCE, soft-RoCE), endpoints exchanged over UDP",
     &VerbsTransport::locator_keys, &listen_verbs, &connect_verbs},
#endif
};

const Backend& backend_for(const Locator& l) {
  if (const Backend* b = find_backend(l.backend)) return *b;
  std::string names;
  for (const Backend& b : backends()) names += (names.empty() ? "" : ", ") + std::string(b.name);
  throw ConfigError("unknown transport '" + l.backend + "' (this build has: " + names + ")");
}

}  // namespace

std::span<const Backend> backends() { return kBackends; }

const Backend* find_backend(std::string_view name) {
  for (const Backend& b : kBackends)
    if (name == b.name) return &b;
  return nullptr;
}

std::unique_ptr<Transport> listen(const std::string& locator, unsigned member, unsigned members) {
  const Locator l = Locator::parse(locator);
  return backend_for(l).listen(l, member, members);
}

std::unique_ptr<Transport> connect(const std::string& locator, Endpoint* server) {
  const Locator l = Locator::parse(locator);
  return backend_for(l).connect(l, server);
}

std::string transports_help() {
  std::string s = "Transports (LOCATOR is <name>:key=value,...):\n";
  for (const Backend& b : kBackends) {
    s += "  " + std::string(b.name) + "\t" + b.summary + "\n";
    s += "  \tkeys: " + keys_help(b.keys()) + "\n";
  }
  return s;
}

std::string list_gids(const std::string& dev) {
#if CLIO_HAVE_VERBS
  std::string out;
  for (const GidEntry& g : ranked_gids(dev, 1)) {
    std::string v4 = "-";
    if (std::memcmp(g.gid.raw, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
      char buf[INET_ADDRSTRLEN] = "";
      inet_ntop(AF_INET, g.gid.raw + 12, buf, sizeof buf);
      v4 = buf;
    }
    out += std::to_string(g.index) + "\t" + gid_text(g.gid) + "\t" + gid_type_name(g.type) + "\t" +
           (g.netdev.empty() ? "-" : g.netdev) + "\t" + v4 + "\n";
  }
  return out;
#else
  (void)dev;
  throw TransportError(TransportError::Kind::kNoDevice,
                       "verbs: this build has no verbs backend (libibverbs was not found)");
#endif
}

}  // namespace clio::net

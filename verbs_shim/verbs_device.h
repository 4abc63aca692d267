// SPDX-License-Identifier: Apache-2.0
// An RDMA device port opened for use: the context, the port's attributes, and the GID that
// names this host on it. Shared by the UD transport (verbs_transport.*) and the RC baseline
// (bench/rdma_rc.*).
//
// GID choice. On RoCE a GID is an IP address of the port's network device (link-local fe80::
// from the MAC, IPv4 as ::ffff:a.b.c.d, global IPv6), each once per RoCE version. Index 0 is
// the link-local one; on soft-RoCE (rdma_rxe) over `lo` it cannot be used to create an address
// handle, nor to bring an RC QP to RTR ("Failed to modify QP to RTR"), because no route leads
// to fe80:: on loopback. Hence:
//   - gid_index < 0 picks the first of ranked_gids(): on Ethernet the first RoCE v2 GID holding
//     an IPv4 address, else the first non-link-local RoCE v2 GID, else the first non-link-local
//     one; on InfiniBand, 0 (`clio-mn --list-gids` prints the ranking; scripts use it);
//   - an explicit index whose GID is empty is refused with the port's table and a suggestion;
//   - errors from AH creation and RTR carry the same table (gid_hint()).
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <string>
#include <vector>

#include "verbs_shim/verbs_raii.h"

namespace clio::net {

class VerbsPort {
 public:
  /// Opens device `dev` ("" = the first one found), port `port_num`, GID `gid_index` (< 0 =
  /// pick, see above). Throws TransportError: a missing device lists those that exist; a bad
  /// GID index lists the port's GIDs; a port that is not ACTIVE says its state.
  static VerbsPort open(const std::string& dev, uint8_t port_num, int gid_index);

  VerbsPort(VerbsPort&&) = default;
  VerbsPort& operator=(VerbsPort&&) = default;

  ibv_context* context() const { return ctx_.get(); }
  const std::string& device() const { return dev_; }
  uint8_t port_num() const { return port_num_; }
  int gid_index() const { return gid_index_; }
  const ibv_gid& gid() const { return gid_; }
  uint16_t lid() const { return lid_; }
  /// RoCE (Ethernet link layer) rather than InfiniBand.
  bool ethernet() const { return ethernet_; }
  /// The chosen GID is RoCE v2 and holds an IPv4 address: the 40 bytes in front of a UD receive
  /// buffer then hold an IPv4 header in their last 20, not a GRH.
  bool ipv4_roce_v2() const { return ipv4_roce_v2_; }
  ibv_mtu active_mtu() const { return active_mtu_; }
  uint32_t active_mtu_bytes() const { return mtu_bytes(active_mtu_); }
  const ibv_device_attr& device_attr() const { return attr_; }
  /// The host part of the chosen GID as text: "127.0.0.1" for ::ffff:127.0.0.1, else the IPv6
  /// form; "" for a link-local or empty GID.
  std::string gid_host() const;

  static uint32_t mtu_bytes(ibv_mtu m) { return 128u << static_cast<int>(m); }

 private:
  VerbsPort() = default;
  VerbsContext ctx_;
  std::string dev_;
  uint8_t port_num_ = 1;
  int gid_index_ = 0;
  ibv_gid gid_{};
  uint16_t lid_ = 0;
  bool ethernet_ = false;
  bool ipv4_roce_v2_ = false;
  ibv_mtu active_mtu_ = IBV_MTU_1024;
  ibv_device_attr attr_{};
};

/// One filled entry of a port's GID table.
struct GidEntry {
  int index = 0;
  ibv_gid gid{};
  uint32_t type = 0;   ///< IBV_GID_TYPE_*
  std::string netdev;  ///< the network device it comes from ("" if none)
  int rank = 0;        ///< 1 best: see ranked_gids()
};

/// The filled entries of `dev` port `port_num`'s GID table (`dev` "" = the first device), best
/// first: the choice the verbs backend makes when a locator names no gid= (the first entry)
/// and the order scripts try them in, made here only. On Ethernet: 1 RoCE v2 holding an IPv4
/// address, 2 other RoCE v2 that are not link-local, 3 others that are not link-local, 4
/// link-local; on InfiniBand all rank 1, in table order. Throws TransportError as
/// VerbsPort::open does for a missing device or port.
std::vector<GidEntry> ranked_gids(const std::string& dev, uint8_t port_num);

/// "RoCE v2", "RoCE v1", "IB".
const char* gid_type_name(uint32_t type);

/// The first RDMA device's name, or "" when there is none (never throws).
std::string first_verbs_device();

/// "fe80::1", "::ffff:127.0.0.1" (inet_ntop's IPv6 form).
std::string gid_text(const ibv_gid& gid);

/// The GIDs of `dev` port `port_num` as read from /sys/class/infiniband/<dev>/ports/<port>/
/// (gids/<i>, gid_attrs/types/<i>, gid_attrs/ndevs/<i>), one "  gid=<i> <address> <type> <netdev>"
/// line each, empty entries left out, then a suggestion ("use gid=1 or gid=2: RoCE v2 with an
/// IPv4 address; index 0 is link-local and fails on soft-RoCE over lo"). Never throws.
std::string gid_hint(const std::string& dev, uint8_t port_num, int chosen);

}  // namespace clio::net

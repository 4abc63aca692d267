// SPDX-License-Identifier: Apache-2.0
// Opening a device port and choosing its GID; the diagnostics for a wrong choice.
#include "verbs_shim/verbs_device.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/log.h"

namespace clio::net {
namespace {

bool gid_empty(const ibv_gid& g) {
  static constexpr ibv_gid kZero{};
  return std::memcmp(g.raw, kZero.raw, sizeof g.raw) == 0;
}
bool gid_link_local(const ibv_gid& g) { return g.raw[0] == 0xfe && (g.raw[1] & 0xc0) == 0x80; }
bool gid_ipv4_mapped(const ibv_gid& g) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(g.raw, kPrefix, sizeof kPrefix) == 0;
}

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  if (!f || !std::getline(f, s)) return "";
  return s;
}

const char* port_state_name(ibv_port_state s) {
  switch (s) {
    case IBV_PORT_DOWN:
      return "DOWN";
    case IBV_PORT_INIT:
      return "INIT";
    case IBV_PORT_ARMED:
      return "ARMED";
    case IBV_PORT_ACTIVE:
      return "ACTIVE";
    case IBV_PORT_ACTIVE_DEFER:
      return "ACTIVE_DEFER";
    default:
      return "NOP";
  }
}

/// One GID table entry as the library reports it; false for an empty or unreadable entry.
bool query_gid(ibv_context* ctx, uint8_t port, int index, ibv_gid_entry* e) {
  if (ibv_query_gid_ex(ctx, port, static_cast<uint32_t>(index), e, 0) != 0) return false;
  return !gid_empty(e->gid);
}

std::vector<GidEntry> rank_gids(ibv_context* ctx, uint8_t port, int table_len, bool ethernet) {
  std::vector<GidEntry> out;
  for (int i = 0; i < table_len; ++i) {
    ibv_gid_entry e{};
    if (!query_gid(ctx, port, i, &e)) continue;
    GidEntry g;
    g.index = i;
    g.gid = e.gid;
    g.type = e.gid_type;
    char name[IF_NAMESIZE];
    if (e.ndev_ifindex != 0 && if_indextoname(e.ndev_ifindex, name) != nullptr) g.netdev = name;
    const bool v2 = e.gid_type == IBV_GID_TYPE_ROCE_V2;
    if (!ethernet)
      g.rank = 1;
    else if (gid_link_local(e.gid))
      g.rank = 4;
    else
      g.rank = v2 && gid_ipv4_mapped(e.gid) ? 1 : v2 ? 2 : 3;
    out.push_back(std::move(g));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const GidEntry& a, const GidEntry& b) { return a.rank < b.rank; });
  return out;
}

/// The index the backend uses when none is given: the best ranked, else 0.
int pick_gid(ibv_context* ctx, uint8_t port, int table_len, bool ethernet) {
  if (!ethernet) return 0;
  const std::vector<GidEntry> ranked = rank_gids(ctx, port, table_len, ethernet);
  return !ranked.empty() && ranked[0].rank < 4 ? ranked[0].index : 0;
}

}  // namespace

const char* gid_type_name(uint32_t type) {
  switch (type) {
    case IBV_GID_TYPE_ROCE_V2:
      return "RoCE v2";
    case IBV_GID_TYPE_ROCE_V1:
      return "RoCE v1";
    default:
      return "IB";
  }
}

std::vector<GidEntry> ranked_gids(const std::string& dev, uint8_t port_num) {
  const VerbsPort p = VerbsPort::open(dev, port_num, -1);
  ibv_port_attr pa{};
  if (const int rc = ibv_query_port(p.context(), port_num, &pa); rc != 0)
    throw verbs_error(p.device(), "ibv_query_port(" + std::to_string(port_num) + ")", rc);
  return rank_gids(p.context(), port_num, pa.gid_tbl_len, p.ethernet());
}

std::string gid_text(const ibv_gid& gid) {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET6, gid.raw, buf, sizeof buf);
  return buf;
}

std::string VerbsPort::gid_host() const {
  if (gid_empty(gid_) || gid_link_local(gid_)) return "";
  char buf[INET6_ADDRSTRLEN] = "";
  if (gid_ipv4_mapped(gid_))
    inet_ntop(AF_INET, gid_.raw + 12, buf, sizeof buf);
  else
    inet_ntop(AF_INET6, gid_.raw, buf, sizeof buf);
  return buf;
}

std::string first_verbs_device() {
  try {
    VerbsDeviceList list;
    return list.size() > 0 ? std::string(ibv_get_device_name(list[0])) : "";
  } catch (const TransportError&) {
    return "";
  }
}

std::string gid_hint(const std::string& dev, uint8_t port_num, int chosen) {
  const std::string base =
      "/sys/class/infiniband/" + dev + "/ports/" + std::to_string(port_num) + "/";
  std::string lines, suggest;
  int listed = 0;
  for (int i = 0; i < 256; ++i) {
    const std::string addr = read_line(base + "gids/" + std::to_string(i));
    if (addr.empty()) break;  // past the table (or no sysfs here)
    if (addr.find_first_not_of("0:") == std::string::npos) continue;
    const std::string type = read_line(base + "gid_attrs/types/" + std::to_string(i));
    const std::string ndev = read_line(base + "gid_attrs/ndevs/" + std::to_string(i));
    ibv_gid g{};
    // sysfs prints eight groups of four hex digits; inet_pton reads that form.
    const bool parsed = inet_pton(AF_INET6, addr.c_str(), g.raw) == 1;
    lines += "  gid=" + std::to_string(i) + "  " + (parsed ? gid_text(g) : addr) + "  " +
             (type.empty() ? "?" : type) + (ndev.empty() ? "" : "  (" + ndev + ")") +
             (i == chosen ? "   <- chosen" : "") + "\n";
    ++listed;
    if (parsed && type == "RoCE v2" && gid_ipv4_mapped(g) && suggest.size() < 40)
      suggest += (suggest.empty() ? "gid=" : " or gid=") + std::to_string(i);
  }
  std::string s =
      "GIDs of " + dev + " port " + std::to_string(port_num) + " (from " + base + "gids/):\n";
  s += listed != 0 ? lines : "  (none readable)\n";
  s += "Index 0 is the link-local GID (fe80::); on soft-RoCE over lo it cannot reach anything and "
       "address-handle creation / RC modify-QP-to-RTR fail with it. ";
  s += suggest.empty() ? "Use a RoCE v2 GID that holds an IP address (usually gid=1 or gid=2)."
                       : "Use " + suggest + " (RoCE v2 with an IPv4 address).";
  return s;
}

VerbsPort VerbsPort::open(const std::string& dev, uint8_t port_num, int gid_index) {
  VerbsDeviceList list;
  if (list.size() == 0)
    throw TransportError(TransportError::Kind::kNoDevice,
                         "verbs: no RDMA device found (ibv_get_device_list is empty). Soft-RoCE: "
                         "modprobe rdma_rxe && rdma link add rxe0 type rxe netdev <interface>");
  ibv_device* device = dev.empty() ? list[0] : list.find(dev);
  if (device == nullptr) {
    std::string names;
    for (const std::string& n : list.names()) names += (names.empty() ? "" : ", ") + n;
    throw TransportError(TransportError::Kind::kNoDevice,
                         "verbs: no RDMA device '" + dev + "'; this host has: " + names);
  }
  VerbsPort p;
  p.dev_ = ibv_get_device_name(device);
  p.port_num_ = port_num;
  p.ctx_ = make_context(device, p.dev_);
  if (const int rc = ibv_query_device(p.ctx_.get(), &p.attr_); rc != 0)
    throw verbs_error(p.dev_, "ibv_query_device", rc);
  if (port_num < 1 || port_num > p.attr_.phys_port_cnt)
    throw TransportError(TransportError::Kind::kNoDevice,
                         "verbs " + p.dev_ + ": no port " + std::to_string(port_num) + " (it has " +
                             std::to_string(p.attr_.phys_port_cnt) + ")");
  ibv_port_attr pa{};
  if (const int rc = ibv_query_port(p.ctx_.get(), port_num, &pa); rc != 0)
    throw verbs_error(p.dev_, "ibv_query_port(" + std::to_string(port_num) + ")", rc);
  if (pa.state != IBV_PORT_ACTIVE)
    throw TransportError(TransportError::Kind::kNoDevice,
                         "verbs " + p.dev_ + ": port " + std::to_string(port_num) + " is " +
                             port_state_name(pa.state) +
                             ", not ACTIVE (is its network device up?)");
  p.ethernet_ = pa.link_layer == IBV_LINK_LAYER_ETHERNET;
  p.lid_ = pa.lid;
  p.active_mtu_ = pa.active_mtu;
  p.gid_index_ =
      gid_index >= 0 ? gid_index : pick_gid(p.ctx_.get(), port_num, pa.gid_tbl_len, p.ethernet_);
  if (p.gid_index_ >= pa.gid_tbl_len)
    throw TransportError(TransportError::Kind::kNoDevice,
                         "verbs " + p.dev_ + ": gid=" + std::to_string(p.gid_index_) +
                             " is past the GID table (" + std::to_string(pa.gid_tbl_len) +
                             " entries)\n" + gid_hint(p.dev_, port_num, -1));
  ibv_gid_entry e{};
  if (!query_gid(p.ctx_.get(), port_num, p.gid_index_, &e))
    throw TransportError(TransportError::Kind::kNoDevice,
                         "verbs " + p.dev_ + ": gid=" + std::to_string(p.gid_index_) +
                             " is empty on port " + std::to_string(port_num) + "\n" +
                             gid_hint(p.dev_, port_num, p.gid_index_));
  p.gid_ = e.gid;
  p.ipv4_roce_v2_ = e.gid_type == IBV_GID_TYPE_ROCE_V2 && gid_ipv4_mapped(e.gid);
  if (p.ethernet_ && gid_link_local(e.gid))
    CLIO_LOG(
        WARN, "net.verbs",
        "%s gid=%d is link-local (%s): fine between hosts on one link, but on soft-RoCE over lo "
        "address handles and RC connections fail with it; gid=1 or gid=2 is usually right",
        p.dev_.c_str(), p.gid_index_, gid_text(e.gid).c_str());
  CLIO_LOG(DEBUG, "net.verbs", "%s port %u: gid=%d %s, lid %u, active mtu %u, %s", p.dev_.c_str(),
           port_num, p.gid_index_, gid_text(p.gid_).c_str(), p.lid_, p.active_mtu_bytes(),
           p.ethernet_ ? (p.ipv4_roce_v2_ ? "RoCE v2/IPv4" : "RoCE") : "InfiniBand");
  return p;
}

}  // namespace clio::net

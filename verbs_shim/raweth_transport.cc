// SPDX-License-Identifier: Apache-2.0
// raweth set-up and teardown: interface lookup, the receive ring, socket filters, the fanout
// group shared by an MN's workers.
#include "verbs_shim/raweth_transport.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/error.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "verbs_shim/sockets.h"

namespace clio::net {
namespace {

constexpr LocatorKey kKeys[] = {
    {"if", ""},       {"mac", ""},
    {"port", ""},     {"ring", "v2|v3"},
    {"block_ms", ""}, {"poll", "busy|sleep"},
    {"mtu", ""},      {"mode", "packet|xdp"},
    {"queue", ""},
};
constexpr uint32_t kMaxMtu = 9000;
constexpr size_t kRingBytes = size_t{4} << 20;  // receive ring per socket

TransportError raweth_error(const std::string& what, const char* call) {
  constexpr const char* kNeedsRaw = "raw Ethernet needs root or CAP_NET_RAW";
  return last_error("raweth " + what, call, {{EPERM, kNeedsRaw}, {EACCES, kNeedsRaw}});
}

bool parse_mac(const std::string& s, uint8_t out[6]) {
  unsigned v[6];
  char tail;
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                  &tail) != 6)
    return false;
  for (int i = 0; i < 6; ++i) {
    if (v[i] > 0xff) return false;
    out[i] = static_cast<uint8_t>(v[i]);
  }
  return true;
}

std::string up_interfaces(bool* only_one, std::string* the_one) {
  ifaddrs* list = nullptr;
  std::vector<std::string> names;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
      if (!(a->ifa_flags & IFF_UP) || (a->ifa_flags & IFF_LOOPBACK)) continue;
      if (std::find(names.begin(), names.end(), a->ifa_name) == names.end())
        names.push_back(a->ifa_name);
    }
    freeifaddrs(list);
  }
  *only_one = names.size() == 1;
  if (*only_one) *the_one = names[0];
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
  return all.empty() ? "none" : all;
}

struct Interface {
  std::string name;
  int index = 0;
  uint32_t mtu = 0;
  uint8_t mac[6] = {};
  bool loopback = false;
};

Interface interface_named(const std::string& name) {
  Interface i;
  i.name = name;
  if (name.empty() || name.size() >= IFNAMSIZ)
    throw ConfigError("raweth locator: bad interface name '" + name + "'");
  i.index = static_cast<int>(if_nametoindex(name.c_str()));
  if (i.index == 0) {
    bool one;
    std::string dummy;
    throw ConfigError("raweth: no interface '" + name +
                      "' here (up, not loopback: " + up_interfaces(&one, &dummy) + ")");
  }
  const UniqueFd s = open_socket(AF_INET, SOCK_DGRAM, "raweth " + name);
  ifreq r{};
  std::memcpy(r.ifr_name, name.c_str(), name.size());
  if (ioctl(s.get(), SIOCGIFMTU, &r) != 0) throw raweth_error(name, "ioctl(SIOCGIFMTU)");
  i.mtu = static_cast<uint32_t>(r.ifr_mtu);
  if (ioctl(s.get(), SIOCGIFHWADDR, &r) != 0) throw raweth_error(name, "ioctl(SIOCGIFHWADDR)");
  if (r.ifr_hwaddr.sa_family != ARPHRD_ETHER && r.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK)
    throw ConfigError("raweth: interface '" + name + "' is not Ethernet");
  i.loopback = r.ifr_hwaddr.sa_family == ARPHRD_LOOPBACK;
  std::memcpy(i.mac, r.ifr_hwaddr.sa_data, 6);
  if (ioctl(s.get(), SIOCGIFFLAGS, &r) != 0) throw raweth_error(name, "ioctl(SIOCGIFFLAGS)");
  if (!(r.ifr_flags & IFF_UP)) throw ConfigError("raweth: interface '" + name + "' is down");
  return i;
}

/// Classic BPF that keeps only Clio frames for `port` (offsets from the link-layer header, so
/// that it reads the same wherever the kernel runs it).
void attach_port_filter(int fd, uint16_t port, const std::string& what) {
  const uint32_t ll = static_cast<uint32_t>(SKF_LL_OFF);
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, ll + 12),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kClioEtherType, 0, 3),
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, ll + 14),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(code)), code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    throw raweth_error(what, "setsockopt(SO_ATTACH_FILTER)");
}

/// Joins the workers' fanout group; a classic BPF program picks the worker from the sender's
/// MAC and port, so that one client always meets one worker.
void join_fanout(int fd, uint16_t port, unsigned members, const std::string& what) {
  const int id = static_cast<int>((static_cast<uint32_t>(getpid()) * 2654435761u ^ port) & 0xffff);
  const int arg = id | (PACKET_FANOUT_CBPF << 16);
  if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0)
    throw raweth_error(what, "setsockopt(PACKET_FANOUT)");
  const uint32_t ll = static_cast<uint32_t>(SKF_LL_OFF);
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ll + 8),  // last four bytes of the source MAC
      BPF_STMT(BPF_MISC | BPF_TAX, 0),
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, ll + 16),  // source port
      BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, members),
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(code)), code};
  if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &prog, sizeof prog) != 0)
    throw raweth_error(what, "setsockopt(PACKET_FANOUT_DATA)");
}

/// A UDP port the kernel promises nobody else on this host holds: the client's raweth port.
UniqueFd reserve_port(uint16_t* port) {
  const std::string what = "raweth client port";
  UniqueFd s = open_socket(AF_INET, SOCK_DGRAM, what);
  bind_to(s.get(), resolve("127.0.0.1", 0, SOCK_DGRAM, what), what);
  *port = local_address(s.get()).port();
  return s;
}

}  // namespace

struct RawEthTransport::Setup {
  Interface iface;
  uint16_t port = 0;
  unsigned member = 0, members = 1;
  bool server = false;
  bool v3 = false;
  bool sleep = false;
  bool xdp = false;
  uint32_t queue = 0;
  uint32_t block_ms = 1;
  uint32_t mtu = 0;
  UniqueFd reserve_fd;  ///< client: moved into the transport
  std::string locator;
  std::string member_locator;
};

std::string RawEthTransport::mac_text(const uint8_t mac[6]) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return buf;
}

RawEthTransport::RawEthTransport(Setup&& s)
    : reserve_fd_(std::move(s.reserve_fd)),
      ifindex_(s.iface.index),
      mtu_(s.mtu),
      sleep_(s.sleep),
      v3_(s.v3),
      locator_(s.locator),
      member_locator_(s.member_locator.empty() ? s.locator : s.member_locator) {
  std::memcpy(self_.mac, s.iface.mac, 6);
  self_.port = s.port;
  const std::string what =
      s.iface.name + (s.server ? " port " + std::to_string(s.port) : " client");
  tx_headers_.resize(kBurst);
  if (s.xdp) {
    open_xdp(s.queue, s.port, what);
    return;
  }
  UniqueFd sock{socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(kClioEtherType))};
  if (sock.get() < 0) throw raweth_error(what, "socket(AF_PACKET)");
  // The filter first, so that nothing else lands in the ring before it is in place.
  attach_port_filter(sock.get(), s.port, what);

  const int version = s.v3 ? TPACKET_V3 : TPACKET_V2;
  if (setsockopt(sock.get(), SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0)
    throw raweth_error(what, "setsockopt(PACKET_VERSION)");
  // A frame slot holds the ring header, the sockaddr_ll the kernel adds, and the whole frame.
  const uint32_t need =
      static_cast<uint32_t>(TPACKET_ALIGN(sizeof(tpacket2_hdr)) + sizeof(sockaddr_ll) +
                            sizeof(RawEthFrameHeader) + mtu_ + 64);
  frame_bytes_ = std::bit_ceil(need);
  block_bytes_ = std::max<uint32_t>(frame_bytes_, s.v3 ? 64 * 1024 : 4096);
  blocks_ = static_cast<uint32_t>(std::max<size_t>(kRingBytes / block_bytes_, 8));
  frames_ = blocks_ * (block_bytes_ / frame_bytes_);
  if (s.v3) {
    tpacket_req3 req{};
    req.tp_block_size = block_bytes_;
    req.tp_block_nr = blocks_;
    req.tp_frame_size = frame_bytes_;
    req.tp_frame_nr = frames_;
    req.tp_retire_blk_tov = s.block_ms;
    if (setsockopt(sock.get(), SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
      throw raweth_error(what, "setsockopt(PACKET_RX_RING, v3)");
    v3_held_.assign(blocks_, 0);
    v3_done_.assign(blocks_, 0);
  } else {
    tpacket_req req{};
    req.tp_block_size = block_bytes_;
    req.tp_block_nr = blocks_;
    req.tp_frame_size = frame_bytes_;
    req.tp_frame_nr = frames_;
    if (setsockopt(sock.get(), SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
      throw raweth_error(what, "setsockopt(PACKET_RX_RING, v2)");
    held_.assign(frames_, 0);
  }
  ring_bytes_ = static_cast<size_t>(block_bytes_) * blocks_;
  void* m = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, sock.get(), 0);
  if (m == MAP_FAILED) throw raweth_error(what, "mmap(receive ring)");
  ring_ = static_cast<std::byte*>(m);
  try {
    const int one = 1;
    // Straight to the driver: our frames need no queueing discipline (best effort).
    setsockopt(sock.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(kClioEtherType);
    a.sll_ifindex = ifindex_;
    if (bind(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw raweth_error(what, "bind");
    if (s.server && s.members > 1) join_fanout(sock.get(), s.port, s.members, what);
  } catch (...) {
    munmap(ring_, ring_bytes_);
    throw;
  }
  fd_ = std::move(sock);
  CLIO_LOG(DEBUG, "net.raweth", "%s: %s port %u, mtu %u, ring %s %u x %u", s.iface.name.c_str(),
           mac_text(self_.mac).c_str(), self_.port, mtu_, s.v3 ? "v3" : "v2", blocks_,
           block_bytes_);
}

RawEthTransport::~RawEthTransport() {
  close_xdp();
  if (ring_ != nullptr) munmap(ring_, ring_bytes_);
  // fd_ and reserve_fd_ close themselves.
}

namespace {

void read_common(const Locator& l, const Interface& iface, RawEthTransport::Setup* s) {
  s->v3 = l.get_choice("ring", "v2", kKeys) == "v3";
  s->block_ms = static_cast<uint32_t>(l.get_uint("block_ms", 1, 1, 1000));
  s->sleep = l.get_choice("poll", "busy", kKeys) == "sleep";
  if (iface.mtu < 128 + sizeof(RawEthFrameHeader) - 14)
    throw ConfigError("raweth: interface '" + iface.name + "' has MTU " +
                      std::to_string(iface.mtu) + ", too small for Clio");
  s->xdp = l.get_choice("mode", "packet", kKeys) == "xdp";
  s->queue = static_cast<uint32_t>(l.get_uint("queue", 0, 0, 63));
  const uint32_t most = s->xdp ? RawEthTransport::xdp_max_frame() - 14 : kMaxMtu;
  const uint32_t link = std::min<uint32_t>(iface.mtu, most) - (sizeof(RawEthFrameHeader) - 14);
  s->mtu = static_cast<uint32_t>(l.get_uint("mtu", link, 128, link));
  s->iface = iface;
}

}  // namespace

std::unique_ptr<RawEthTransport> RawEthTransport::listen(const Locator& l, unsigned member,
                                                         unsigned members) {
  l.check_keys(kKeys);
  if (!l.has("if"))
    throw ConfigError("raweth locator: if= is required to listen, e.g. raweth:if=veth-mn");
  Setup s;
  read_common(l, interface_named(l.get("if", "")), &s);
  s.port = static_cast<uint16_t>(l.get_uint("port", 7400, 1, 65535));
  s.server = true;
  if (s.xdp && members > 1)
    throw ConfigError(
        "raweth: mode=xdp serves one receive queue with one worker; start clio-mn with --workers "
        "1");
  s.member = member;
  s.members = members;
  s.locator = "raweth:mac=" + mac_text(s.iface.mac) + ",port=" + std::to_string(s.port);
  if (s.iface.loopback) s.locator += ",if=" + s.iface.name;
  s.member_locator = l.str();
  return std::unique_ptr<RawEthTransport>(new RawEthTransport(std::move(s)));
}

std::unique_ptr<RawEthTransport> RawEthTransport::connect(const Locator& l, Endpoint* server) {
  l.check_keys(kKeys);
  std::string ifname = l.get("if", "");
  if (ifname.empty()) {
    bool one = false;
    const std::string all = up_interfaces(&one, &ifname);
    if (!one)
      throw ConfigError(
          "raweth locator: say which interface reaches the server with if= (up here: " + all + ")");
  }
  Setup s;
  read_common(l, interface_named(ifname), &s);
  RawEthAddress peer{};
  if (l.has("mac")) {
    if (!parse_mac(l.get("mac", ""), peer.mac))
      throw ConfigError("raweth locator: mac=" + l.get("mac", "") +
                        " is not a MAC address (aa:bb:cc:dd:ee:ff)");
  } else if (!s.iface.loopback) {
    throw ConfigError(
        "raweth locator: mac= (the server's MAC address, as clio-mn prints it) is required");
  }
  peer.port = static_cast<uint16_t>(l.get_uint("port", 7400, 1, 65535));
  *server = Endpoint::of(peer);
  s.reserve_fd = reserve_port(&s.port);
  s.locator = "raweth:mac=" + mac_text(s.iface.mac) + ",port=" + std::to_string(s.port) +
              ",if=" + s.iface.name;
  return std::unique_ptr<RawEthTransport>(new RawEthTransport(std::move(s)));
}

std::span<const LocatorKey> RawEthTransport::locator_keys() { return kKeys; }

}  // namespace clio::net

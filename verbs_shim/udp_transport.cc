// SPDX-License-Identifier: Apache-2.0
// udp set-up and teardown.
#include "verbs_shim/udp_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/log.h"

namespace clio::net {
namespace {

constexpr LocatorKey kKeys[] = {
    {"host", ""},   {"port", ""},   {"poll", "busy|epoll"}, {"mtu", ""},
    {"rcvbuf", ""}, {"sndbuf", ""}, {"offload", "on|off"},
};
constexpr uint32_t kMaxUdpPayload = 65507;

TransportError udp_error(const std::string& what, const char* call) {
  return last_error("udp " + what, call);
}

std::string to_text(const UdpAddress& a) {
  return "host=" + a.host() + ",port=" + std::to_string(a.port());
}

/// What the kernel's routing says about `peer`: the source address packets to it leave from
/// (so that our endpoint is exactly what the peer sees), and the largest datagram toward it (the
/// path MTU, IP_MTU, minus IP and UDP headers, capped at the UDP maximum). Connects a scratch
/// socket; nothing is sent.
void route_to(const UdpAddress& peer, UdpAddress* source, uint32_t* mtu) {
  *mtu = 1472;
  *source = UdpAddress{};
  source->sa.sa_family = peer.sa.sa_family;  // fallback: the wildcard address
  const UniqueFd fd(socket(peer.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return;
  if (::connect(fd.get(), &peer.sa, peer.len()) == 0) {
    int v = 0;
    socklen_t len = sizeof v;
    const bool v6 = peer.sa.sa_family == AF_INET6;
    if (getsockopt(fd.get(), v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &v, &len) ==
            0 &&
        v > 0)
      *mtu = std::min(static_cast<uint32_t>(v) - (v6 ? 48 : 28), kMaxUdpPayload);
    UdpAddress src{};
    socklen_t slen = sizeof src;
    if (getsockname(fd.get(), &src.sa, &slen) == 0) {
      src.set_port(0);
      *source = src;
    }
  }
}

bool epoll_mode(const Locator& l) { return l.get_choice("poll", "busy", kKeys) == "epoll"; }

bool offload_mode(const Locator& l) { return l.get_choice("offload", "on", kKeys) == "on"; }

UniqueFd open_udp_socket(const UdpAddress& at, const Locator& l, bool reuseport,
                         const std::string& what) {
  UniqueFd fd = open_socket(at.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK, "udp " + what);
  const int one = 1;
  if (reuseport && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw udp_error(what, "setsockopt(SO_REUSEPORT)");
  const int rcv = static_cast<int>(l.get_uint("rcvbuf", 4 << 20, 4096, 1 << 30));
  const int snd = static_cast<int>(l.get_uint("sndbuf", 4 << 20, 4096, 1 << 30));
  // Best effort: the kernel caps these at net.core.{r,w}mem_max.
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  bind_to(fd.get(), at, "udp", "is another clio-mn running?");
  return fd;
}

// Reuseport steering (see "Who may use a served port" in udp_transport.h). Classic BPF runs on
// the datagram with its data at the UDP payload; SKF_NET_OFF + k reads the IP header at k.
constexpr uint32_t kNet = static_cast<uint32_t>(SKF_NET_OFF);

/// Returns hash(source address, source port) % members: always a member's index. A load past
/// the datagram's end ends a classic program with 0, which is also a member.
std::vector<sock_filter> steering_program(unsigned members) {
  std::vector<sock_filter> p = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kNet + 0),      // 0: A = first byte of the IP header
      BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),            // 1: A = IP version
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 4, 0),      // 2: IPv6: to 7
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 12),     // 3: IPv4: A = source address
      BPF_STMT(BPF_ST, 0),                               // 4: M[0] = A
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, kNet + 0),     // 5: X = IPv4 header length
      BPF_STMT(BPF_JMP | BPF_JA, 12),                    // 6: to 19
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 8),      // 7: IPv6: A = source address, folded
      BPF_STMT(BPF_MISC | BPF_TAX, 0),                   // 8
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 12),     // 9
      BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),            // 10
      BPF_STMT(BPF_MISC | BPF_TAX, 0),                   // 11
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 16),     // 12
      BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),            // 13
      BPF_STMT(BPF_MISC | BPF_TAX, 0),                   // 14
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 20),     // 15
      BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),            // 16
      BPF_STMT(BPF_ST, 0),                               // 17: M[0] = A
      BPF_STMT(BPF_LDX | BPF_IMM, 40),                   // 18: X = IPv6 header length
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, kNet + 0),      // 19: A = UDP source port (at X)
      BPF_STMT(BPF_LDX | BPF_MEM, 0),                    // 20: X = M[0]
      BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),            // 21: A = port ^ address
      BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1u),  // 22: mix into the high bits,
      BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),           // 23: take them,
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, members),      // 24: and pick a member
      BPF_STMT(BPF_RET | BPF_A, 0),                      // 25
  };
  return p;
}

void attach_program(int fd, std::vector<sock_filter> code, const std::string& what) {
  sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0)
    throw udp_error(what, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)");
}

/// Proves that `fd`, just bound with SO_REUSEPORT to `bound`, is index `member` of the port's
/// reuseport group (then members 0..member are all ours: each proved its own index as it
/// joined), and leaves the group steered by steering_program(members). Throws if a datagram
/// steered to index `member` does not reach `fd` within 1 s.
void prove_member_index(int fd, const UdpAddress& bound, unsigned member, unsigned members,
                        const std::string& what) {
  attach_program(fd, {BPF_STMT(BPF_RET | BPF_K, member)}, what);
  UdpAddress to = bound;  // a wildcard is reached through loopback
  if (to.sa.sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&to.v6.sin6_addr))
    to.v6.sin6_addr = in6addr_loopback;
  else if (to.sa.sa_family == AF_INET && to.v4.sin_addr.s_addr == htonl(INADDR_ANY))
    to.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::byte nonce[16];
  if (getrandom(nonce, sizeof nonce, 0) != static_cast<ssize_t>(sizeof nonce))
    throw udp_error(what, "getrandom");
  const UniqueFd s = open_socket(to.sa.sa_family, SOCK_DGRAM, "udp " + what);
  if (sendto(s.get(), nonce, sizeof nonce, 0, &to.sa, to.len()) !=
      static_cast<ssize_t>(sizeof nonce))
    throw udp_error(what + " (checking the port's reuseport group at " + to.host_port() + ")",
                    "sendto");
  // Datagrams other than the nonce are clients' that came early; they are dropped, as the
  // network might have.
  const uint64_t deadline = now_ns() + 1'000'000'000ull;
  std::byte buf[sizeof nonce + 1];
  for (uint64_t now = now_ns(); now < deadline; now = now_ns()) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000 + 1)) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(sizeof nonce) && std::memcmp(buf, nonce, sizeof nonce) == 0) {
      attach_program(fd, steering_program(members), what);
      return;
    }
  }
  throw TransportError(
      TransportError::Kind::kSystem,
      "udp: " + bound.host_port() + ": another process joined this port's " +
          "SO_REUSEPORT group while worker " + std::to_string(member) +
          " was starting, and would take its clients (EADDRINUSE); stop it, or run "
          "clio-mn as a user of its own",
      EADDRINUSE);
}

}  // namespace

UdpTransport::UdpTransport(UniqueFd fd, uint32_t mtu, bool epoll, bool offload)
    : fd_(std::move(fd)), mtu_(mtu) {
  // fd_ owns the socket: if anything below throws, it is closed.
  if (offload) {
    // Kernels without UDP_SEGMENT (before 4.18) or UDP_GRO (before 5.0) refuse the option.
    const int zero = 0, one = 1;
    offload_.gso = setsockopt(fd_.get(), SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
    offload_.gro = setsockopt(fd_.get(), SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  }
  rx_bytes_ = offload_.gro ? std::max(mtu_, kRunBytes) : mtu_;
  const UdpAddress self = local_address(fd_.get());
  local_ = Endpoint::of(self);
  locator_ = member_locator_ = "udp:" + to_text(self);
  if (epoll) {
    epfd_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (epfd_.get() < 0) throw udp_error("epoll", "epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd_.get(), &ev) != 0)
      throw udp_error("epoll", "epoll_ctl");
  }
  rx_memory_ = std::make_unique_for_overwrite<std::byte[]>(size_t{kRxBuffers} * rx_bytes_);
  rx_free_.reserve(kRxBuffers);
  for (uint32_t i = 0; i < kRxBuffers; ++i) rx_free_.push_back(kRxBuffers - 1 - i);
  rx_refs_.assign(kRxBuffers, 0);
  pending_.reserve(kBurst);
  msgs_.resize(kBurst);
  iovs_.resize(2 * kBurst);
  addrs_.resize(kBurst);
  controls_.resize(kBurst);
  run_start_.resize(kBurst);
}

UdpTransport::~UdpTransport() = default;  // fd_ and epfd_ close themselves

std::unique_ptr<UdpTransport> UdpTransport::listen(const Locator& l, unsigned member,
                                                   unsigned members) {
  l.check_keys(kKeys);
  if (members == 0 || member >= members)
    throw ConfigError("udp listen: member " + std::to_string(member) + " of " +
                      std::to_string(members));
  const std::string host = l.get("host", "127.0.0.1");
  const auto port = static_cast<uint16_t>(l.get_uint("port", 7400, 0, 65535));
  const bool ep = epoll_mode(l);
  const bool offload = offload_mode(l);
  UdpAddress addr = resolve(host, port, SOCK_DGRAM, "udp");
  const uint32_t mtu =
      static_cast<uint32_t>(l.get_uint("mtu", kMaxUdpPayload, 128, kMaxUdpPayload));
  const std::string what = "listen on " + host;
  UniqueFd fd;
  if (members == 1) {
    fd = open_udp_socket(addr, l, /*reuseport=*/false, what);
  } else {
    if (member == 0) {
      const UniqueFd probe = open_udp_socket(addr, l, /*reuseport=*/false, what);
      addr.set_port(local_address(probe.get()).port());  // port=0: the free port it found
    }
    fd = open_udp_socket(addr, l, /*reuseport=*/true, what);
    prove_member_index(fd.get(), local_address(fd.get()), member, members, what);
  }
  const UdpAddress self = local_address(fd.get());
  std::unique_ptr<UdpTransport> t(new UdpTransport(std::move(fd), mtu, ep, offload));
  Locator m = l;
  m.params["host"] = self.host();
  m.params["port"] = std::to_string(self.port());
  t->member_locator_ = m.str();
  return t;
}

std::unique_ptr<UdpTransport> UdpTransport::connect(const Locator& l, Endpoint* server) {
  l.check_keys(kKeys);
  if (!l.has("host") || !l.has("port"))
    throw ConfigError(
        "udp locator: host= and port= are required to reach a server, e.g. "
        "udp:host=127.0.0.1,port=7400");
  const std::string host = l.get("host", "");
  const auto port = static_cast<uint16_t>(l.get_uint("port", 0, 1, 65535));
  const bool ep = epoll_mode(l);
  const bool offload = offload_mode(l);
  const UdpAddress peer = resolve(host, port, SOCK_DGRAM, "udp");
  UdpAddress source;
  uint32_t route_mtu;
  route_to(peer, &source, &route_mtu);
  const uint32_t mtu = static_cast<uint32_t>(l.get_uint("mtu", route_mtu, 128, kMaxUdpPayload));
  UniqueFd fd = open_udp_socket(source, l, /*reuseport=*/false, "client socket");
  // Connected: the kernel then reports the server's ICMP errors (peer_error()) and delivers
  // datagrams from the server's address only.
  UdpAddress connected{};
  socklen_t len = sizeof connected;
  if (::connect(fd.get(), &peer.sa, peer.len()) != 0 ||
      getpeername(fd.get(), &connected.sa, &len) != 0)
    throw udp_error("client socket (to " + to_text(peer) + ")", "connect");
  *server = Endpoint::of(connected);
  CLIO_LOG(DEBUG, "net.udp", "client for %s, mtu %u", to_text(connected).c_str(), mtu);
  return std::unique_ptr<UdpTransport>(new UdpTransport(std::move(fd), mtu, ep, offload));
}

std::span<const LocatorKey> UdpTransport::locator_keys() { return kKeys; }

}  // namespace clio::net

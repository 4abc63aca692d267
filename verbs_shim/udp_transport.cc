// udp set-up and teardown.
#include "verbs_shim/udp_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace clio::net {
namespace {

constexpr const char* kKeys = "host,port,poll,mtu,rcvbuf,sndbuf";
constexpr uint32_t kMaxUdpPayload = 65507;

TransportError sys_error(const std::string& what, const char* call) {
  const int e = errno;
  return TransportError("udp " + what + ": " + call + ": " + std::strerror(e) + " (errno " +
                        std::to_string(e) + ")");
}

UdpAddress resolve(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string p = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), p.c_str(), &hints, &res);
  if (rc != 0)
    throw TransportError("udp: cannot resolve host '" + host + "': " + gai_strerror(rc));
  UdpAddress a{};
  std::memcpy(&a, res->ai_addr, std::min<size_t>(res->ai_addrlen, sizeof a));
  freeaddrinfo(res);
  return a;
}

std::string to_text(const UdpAddress& a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  uint16_t port;
  if (a.sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &a.v6.sin6_addr, buf, sizeof buf);
    port = ntohs(a.v6.sin6_port);
  } else {
    inet_ntop(AF_INET, &a.v4.sin_addr, buf, sizeof buf);
    port = ntohs(a.v4.sin_port);
  }
  return std::string("host=") + buf + ",port=" + std::to_string(port);
}

/// What the kernel's routing says about `peer`: the source address packets to it leave from
/// (so that our endpoint is exactly what the peer sees), and the largest datagram toward it (the
/// path MTU, IP_MTU, minus IP and UDP headers, capped at the UDP maximum). Connects a scratch
/// socket; nothing is sent.
void route_to(const UdpAddress& peer, UdpAddress* source, uint32_t* mtu) {
  *mtu = 1472;
  *source = UdpAddress{};
  source->sa.sa_family = peer.sa.sa_family;  // fallback: the wildcard address
  const int fd = socket(peer.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (::connect(fd, &peer.sa, peer.len()) == 0) {
    int v = 0;
    socklen_t len = sizeof v;
    const bool v6 = peer.sa.sa_family == AF_INET6;
    if (getsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &v, &len) == 0 && v > 0)
      *mtu = std::min(static_cast<uint32_t>(v) - (v6 ? 48 : 28), kMaxUdpPayload);
    UdpAddress src{};
    socklen_t slen = sizeof src;
    if (getsockname(fd, &src.sa, &slen) == 0) {
      if (src.sa.sa_family == AF_INET6)
        src.v6.sin6_port = 0;
      else
        src.v4.sin_port = 0;
      *source = src;
    }
  }
  close(fd);
}

bool epoll_mode(const Locator& l) {
  const std::string poll = l.get("poll", "busy");
  if (poll != "busy" && poll != "epoll")
    throw ConfigError("udp locator: poll=" + poll + " (expected busy or epoll)");
  return poll == "epoll";
}

int open_socket(const UdpAddress& bind_to, const Locator& l, bool reuseport, const std::string& what) {
  const int fd = socket(bind_to.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sys_error(what, "socket");
  const int one = 1;
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    close(fd);
    throw sys_error(what, "setsockopt(SO_REUSEPORT)");
  }
  const int rcv = static_cast<int>(l.get_uint("rcvbuf", 4 << 20, 4096, 1 << 30));
  const int snd = static_cast<int>(l.get_uint("sndbuf", 4 << 20, 4096, 1 << 30));
  // Best effort: the kernel caps these at net.core.{r,w}mem_max.
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  if (bind(fd, &bind_to.sa, bind_to.len()) != 0) {
    TransportError e = sys_error(what + " (bind " + to_text(bind_to) + ")", "bind");
    close(fd);
    throw e;
  }
  return fd;
}

UdpAddress local_address(int fd) {
  UdpAddress a{};
  socklen_t len = sizeof a;
  getsockname(fd, &a.sa, &len);
  return a;
}

}  // namespace

UdpTransport::UdpTransport(int fd, uint32_t mtu, bool epoll, const std::string& host)
    : fd_(fd), mtu_(mtu) {
  UdpAddress self = local_address(fd);
  local_ = Endpoint::of(self);
  std::string shown = to_text(self);
  // Report the host as given when bound to a wildcard, so the locator can be dialled.
  if (!host.empty()) shown = "host=" + host + shown.substr(shown.find(",port="));
  locator_ = "udp:" + shown;
  if (epoll) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw sys_error("epoll", "epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd_, &ev) != 0) throw sys_error("epoll", "epoll_ctl");
  }
  rx_memory_ = std::make_unique_for_overwrite<std::byte[]>(kRxBuffers * mtu_);
  for (uint32_t i = 0; i < kRxBuffers; ++i) rx_free_.push_back(kRxBuffers - 1 - i);
  msgs_.resize(kBurst);
  iovs_.resize(2 * kBurst);
  addrs_.resize(kBurst);
}

UdpTransport::~UdpTransport() {
  if (epfd_ >= 0) close(epfd_);
  if (fd_ >= 0) close(fd_);
}

std::unique_ptr<UdpTransport> UdpTransport::listen(const Locator& l, unsigned member, unsigned members) {
  (void)member;
  (void)members;
  l.check_keys(kKeys);
  const std::string host = l.get("host", "0.0.0.0");
  const auto port = static_cast<uint16_t>(l.get_uint("port", 7400, 0, 65535));
  const bool ep = epoll_mode(l);
  const UdpAddress addr = resolve(host, port);
  const uint32_t mtu = static_cast<uint32_t>(l.get_uint("mtu", kMaxUdpPayload, 128, kMaxUdpPayload));
  const int fd = open_socket(addr, l, /*reuseport=*/true, "listen on " + host);
  return std::unique_ptr<UdpTransport>(new UdpTransport(fd, mtu, ep, host == "0.0.0.0" ? "" : host));
}

std::unique_ptr<UdpTransport> UdpTransport::connect(const Locator& l, Endpoint* server) {
  l.check_keys(kKeys);
  if (!l.has("host") || !l.has("port"))
    throw ConfigError("udp locator: host= and port= are required to reach a server, e.g. "
                      "udp:host=127.0.0.1,port=7400");
  const std::string host = l.get("host", "");
  const auto port = static_cast<uint16_t>(l.get_uint("port", 0, 1, 65535));
  const bool ep = epoll_mode(l);
  const UdpAddress peer = resolve(host, port);
  UdpAddress source;
  uint32_t route_mtu;
  route_to(peer, &source, &route_mtu);
  const uint32_t mtu = static_cast<uint32_t>(l.get_uint("mtu", route_mtu, 128, kMaxUdpPayload));
  const int fd = open_socket(source, l, /*reuseport=*/false, "client socket");
  *server = Endpoint::of(peer);
  CLIO_LOG(DEBUG, "net.udp", "client for %s, mtu %u", to_text(peer).c_str(), mtu);
  return std::unique_ptr<UdpTransport>(new UdpTransport(fd, mtu, ep, ""));
}

}  // namespace clio::net

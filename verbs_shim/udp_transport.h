// udp: kernel UDP sockets, non-blocking, batched with sendmmsg/recvmmsg.
//
// Locator keys (defaults in brackets):
//   host=<name|ip>   [listen: 0.0.0.0; connect: required] address to bind / to reach
//   port=<n>         [listen: 7400; connect: required] 0 on listen picks a free port
//   poll=busy|epoll  [busy] epoll: wait() sleeps in epoll_pwait2 until the socket is readable
//   mtu=<bytes>      [path MTU] largest datagram (Clio header + payload) to send or expect
//   rcvbuf=<bytes>   [4194304] sndbuf=<bytes> [4194304] socket buffer sizes
// Several MN workers listen on one port with SO_REUSEPORT; the kernel hashes each client's
// address to one of them, so a client's packets (and its retransmissions) meet one worker.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "verbs_shim/locator.h"
#include "verbs_shim/transport.h"

namespace clio::net {

/// What a udp Endpoint holds: the peer's IPv4 or IPv6 socket address, unused bytes zero.
union UdpAddress {
  sockaddr sa;
  sockaddr_in v4;
  sockaddr_in6 v6;
  socklen_t len() const { return sa.sa_family == AF_INET6 ? sizeof v6 : sizeof v4; }
};
static_assert(sizeof(UdpAddress) <= Endpoint::kBytes);

class UdpTransport final : public Transport {
 public:
  static constexpr size_t kBurst = 32;
  static constexpr size_t kRxBuffers = 4 * kBurst;

  ~UdpTransport() override;

  /// Binds host:port (SO_REUSEPORT, so that `members` workers can share the port).
  static std::unique_ptr<UdpTransport> listen(const Locator& l, unsigned member, unsigned members);
  /// Binds an ephemeral port; *server receives host:port's address.
  static std::unique_ptr<UdpTransport> connect(const Locator& l, Endpoint* server);

  std::string_view name() const override { return "udp"; }
  bool exact_peer_source() const override { return true; }
  uint32_t mtu() const override { return mtu_; }
  Endpoint local_endpoint() const override { return local_; }
  std::string locator() const override { return locator_; }
  size_t tx_burst(std::span<const TxItem> items) override;
  size_t rx_burst(std::span<PacketView> out) override;
  void release(std::span<const PacketView> pkts) override;
  void wait(uint64_t timeout_ns) override;

  int fd() const { return fd_; }

 private:
  UdpTransport(int fd, uint32_t mtu, bool epoll, const std::string& host);

  int fd_ = -1;
  int epfd_ = -1;
  uint32_t mtu_;
  Endpoint local_;
  std::string locator_;
  // Receive buffers: kRxBuffers of mtu_ bytes; free ones are on a stack, views hold the rest.
  std::unique_ptr<std::byte[]> rx_memory_;
  std::vector<uint32_t> rx_free_;
  // Scratch for the batched system calls, sized once.
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<UdpAddress> addrs_;
};


}  // namespace clio::net

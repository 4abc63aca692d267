// udp: kernel UDP sockets, non-blocking, batched with sendmmsg/recvmmsg.
//
// Locator keys (defaults in brackets):
//   host=<name|ip>   [listen: 127.0.0.1; connect: required] address to bind / to reach; to serve
//                    other hosts, name an address they can reach (0.0.0.0 or :: for every one)
//   port=<n>         [listen: 7400; connect: required] 0 on listen picks a free port
//   poll=busy|epoll  [busy] epoll: wait() sleeps in epoll_pwait2 until the socket is readable
//   mtu=<bytes>      [path MTU] largest datagram (Clio header + payload) to send or expect
//   rcvbuf=<bytes>   [4194304] sndbuf=<bytes> [4194304] socket buffer sizes
//
// Who may use a served port (listen(), udp_transport.cc):
//   - No second server: listen() throws TransportError ("... already in use by another process
//     (EADDRINUSE) ...") if any socket, of any process or user, has the address and port. With
//     one member the socket is bound without SO_REUSEPORT, so nobody can bind it afterwards
//     either. With `members` > 1, member 0 first binds a probe socket without SO_REUSEPORT (which
//     conflicts with every holder, however it bound) and closes it; then every member binds with
//     SO_REUSEPORT and joins the port's reuseport group.
//   - Steering: the kernel (net/core/sock_reuseport.c) keeps a group's sockets in an array in
//     the order they joined (reuseport_add_sock appends at index num_socks) and gives each
//     datagram to the index returned by the classic BPF program attached to the group
//     (SO_ATTACH_REUSEPORT_CBPF); an index >= the group's size is not dropped but falls back to
//     the kernel's hash over every socket of the group, so our program never returns one: it
//     returns hash(source address, source port) % members. Indices 0..members-1 are the
//     members, so a socket that joins later (the kernel lets any process of the same user join)
//     gets nothing, and a client (one source address and port) always meets the same worker,
//     retransmissions included. The program hashes the IPv4/IPv6 and UDP headers itself: the
//     skb's rxhash is 0 on loopback from unconnected senders and, from a NIC, follows its RSS
//     settings (often the addresses only). An IPv6 datagram with extension headers is hashed on
//     other bytes than the port, still the same ones for every datagram of that flow.
//   - Each member proves its index as it joins: it steers the whole group to itself (a program
//     returning its member number), sends itself a datagram carrying a random nonce, and waits
//     up to 1 s for it. A socket that slipped into the group while the MN started (between
//     member 0's probe and bind, or between two members) makes listen() throw instead.
//   - Not prevented (the kernel allows it to processes of the MN's user; run clio-mn as a user
//     of its own where those are not trusted): a socket of the group that connect()s to a
//     client's address takes that client's datagrams (connected sockets outscore the group); a
//     socket of the group can attach another program; a socket bound with SO_REUSEPORT to a more
//     specific address than a wildcard the MN bound takes what is sent to that address. A
//     member that closes hands its index to the group's last socket (the array is compacted),
//     so the steering holds while every member is open.
//
// Clients (connect()) use a connect()ed socket: it receives from the server's address only, and
// the kernel reports an ICMP port unreachable to it, which peer_error() then says (ECONNREFUSED).
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

  /// Binds host:port as member `member` of `members` that share it (see "Who may use a served
  /// port" above). Throws TransportError naming EADDRINUSE when another socket has the address
  /// and port, or when a foreign socket took a member's place in the group; ConfigError for a
  /// bad locator.
  static std::unique_ptr<UdpTransport> listen(const Locator& l, unsigned member, unsigned members);
  /// Binds an ephemeral port and connect()s it to host:port; *server receives the server's
  /// address as the kernel connected it (host=0.0.0.0 becomes 127.0.0.1), which is the source of
  /// the server's answers.
  static std::unique_ptr<UdpTransport> connect(const Locator& l, Endpoint* server);

  std::string_view name() const override { return "udp"; }
  bool exact_peer_source() const override { return true; }
  uint32_t mtu() const override { return mtu_; }
  Endpoint local_endpoint() const override { return local_; }
  /// "udp:host=<the numeric address bound>,port=<the port bound>".
  std::string locator() const override { return locator_; }
  /// locator() plus this member's other keys (poll=, mtu=, rcvbuf=, sndbuf=).
  std::string member_locator() const override { return member_locator_; }
  int peer_error() const override { return peer_error_; }
  size_t tx_burst(std::span<const TxItem> items) override;
  size_t rx_burst(std::span<PacketView> out) override;
  void release(std::span<const PacketView> pkts) override;
  void wait(uint64_t timeout_ns) override;

  int fd() const { return fd_; }

 private:
  UdpTransport(int fd, uint32_t mtu, bool epoll);

  int fd_ = -1;
  int epfd_ = -1;
  uint32_t mtu_;
  int peer_error_ = 0;  ///< connect() side: ECONNREFUSED once reported, 0 after a packet arrives
  Endpoint local_;
  std::string locator_;
  std::string member_locator_;
  // Receive buffers: kRxBuffers of mtu_ bytes; free ones are on a stack, views hold the rest.
  std::unique_ptr<std::byte[]> rx_memory_;
  std::vector<uint32_t> rx_free_;
  // Scratch for the batched system calls, sized once.
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<UdpAddress> addrs_;
};

}  // namespace clio::net

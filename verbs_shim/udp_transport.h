// SPDX-License-Identifier: Apache-2.0
// udp: kernel UDP sockets, non-blocking, batched with sendmmsg/recvmmsg.
//
// Locator keys (defaults in brackets):
//   host=<name|ip>   [listen: 127.0.0.1; connect: required] address to bind / to reach; to serve
//                    other hosts, name an address they can reach (0.0.0.0 or :: for every one)
//   port=<n>         [listen: 7400; connect: required] 0 on listen picks a free port
//   poll=busy|epoll  [busy] epoll: wait() sleeps in epoll_pwait2 until the socket is readable
//   mtu=<bytes>      [path MTU] largest datagram (Clio header + payload) to send or expect
//   rcvbuf=<bytes>   [4194304] sndbuf=<bytes> [4194304] socket buffer sizes
//   offload=on|off   [on] UDP segmentation and receive offload (see "Offload" below)
//
// Offload (UDP_SEGMENT and UDP_GRO, Linux 5.0 and later). tx_burst() sends each run of
// consecutive packets to one peer that have one length (the run's last may be shorter) as one
// datagram the kernel cuts into those packets (UDP_SEGMENT), so a burst of 32 equal replies costs
// one pass through the stack instead of 32; on the wire, and to a receiver without UDP_GRO, they
// are 32 ordinary datagrams. A socket with UDP_GRO may receive such runs whole (over loopback,
// as sent; from a NIC, merged by the kernel's receive offload): rx_burst() reads the segment size
// the kernel reports and hands out one PacketView per packet, each with the run's source, so
// nothing above this layer sees a difference. Receive buffers are then 64 KiB (a whole run);
// a buffer is free again once every view cut from it is released. A kernel or device that
// refuses segmentation (EIO: no checksum offload) turns it off for the socket; one that refuses
// a segment size (EINVAL: larger than the path allows) stops grouping packets of that size and
// larger. offload_stats() counts both directions.
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

#include "common/unique_fd.h"
#include "verbs_shim/locator.h"
#include "verbs_shim/sockets.h"
#include "verbs_shim/transport.h"

namespace clio::net {

/// What a udp Endpoint holds: the peer's IPv4 or IPv6 socket address, unused bytes zero.
using UdpAddress = SockAddr;
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
  /// The locator keys this backend reads: what its parser accepts and --help lists.
  static std::span<const LocatorKey> locator_keys();

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

  int fd() const { return fd_.get(); }

  /// What offload did on this socket (see "Offload" above).
  struct OffloadStats {
    bool gso = false;            ///< sends are grouped (UDP_SEGMENT)
    bool gro = false;            ///< the socket receives runs whole (UDP_GRO)
    uint64_t gso_sends = 0;      ///< datagrams sent as runs of two or more packets
    uint64_t gso_packets = 0;    ///< packets in those runs
    uint64_t gro_datagrams = 0;  ///< runs of two or more packets received whole
    uint64_t gro_packets = 0;    ///< packets cut from those runs
    uint64_t gso_refusals = 0;   ///< sends the kernel refused to segment (then sent one by one)
  };
  const OffloadStats& offload_stats() const { return offload_; }

  /// Most packets in one run: the kernel's UDP_MAX_SEGMENTS is 64 before Linux 6.4, 128 after.
  static constexpr size_t kMaxRun = 64;
  /// A receive buffer when the socket has UDP_GRO: the largest datagram, which a run can be.
  static constexpr uint32_t kRunBytes = 65536;
  /// Most bytes in one datagram (IPv4's limit, the lower).
  static constexpr size_t kMaxDatagram = 65507;

 private:
  UdpTransport(UniqueFd fd, uint32_t mtu, bool epoll, bool offload);
  /// Cuts the datagrams in pending_ into `out` from out[k]; returns the new k.
  size_t cut_pending(std::span<PacketView> out, size_t k);

  UniqueFd fd_;
  UniqueFd epfd_;
  uint32_t mtu_;
  int peer_error_ = 0;  ///< connect() side: ECONNREFUSED once reported, 0 after a packet arrives
  Endpoint local_;
  std::string locator_;
  std::string member_locator_;
  // Receive buffers: kRxBuffers of rx_bytes_ each; free ones are on a stack, views hold the
  // rest, rx_refs_[b] of them for buffer b.
  uint32_t rx_bytes_;
  std::unique_ptr<std::byte[]> rx_memory_;
  std::vector<uint32_t> rx_free_;
  std::vector<uint32_t> rx_refs_;
  // Datagrams received and not yet cut into views (when `out` filled first): at most kBurst.
  struct Pending {
    uint32_t buf, at, end, seg;
    Endpoint from;
  };
  std::vector<Pending> pending_;
  size_t pending_head_ = 0;
  // Offload state (see "Offload" above). Packets of gso_limit_ bytes or more are not grouped.
  OffloadStats offload_;
  uint32_t gso_limit_ = UINT32_MAX;
  // Scratch for the batched system calls, sized once.
  union Control {
    cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int))];
  };
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<UdpAddress> addrs_;
  std::vector<Control> controls_;
  std::vector<uint32_t> run_start_;  ///< tx: the index (in the chunk) of each datagram's first item
};

}  // namespace clio::net

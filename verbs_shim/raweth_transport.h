// SPDX-License-Identifier: Apache-2.0
// raweth: Clio datagrams in raw Ethernet frames with the project's own EtherType, over AF_PACKET
// sockets whose receive side is a memory-mapped ring shared with the kernel (no copy into user
// buffers: views point into the ring until release()).
//
// Frame: Ethernet header (dst MAC, src MAC, EtherType 0x88B5, IEEE's "local experimental"),
// then an 8-byte shim (destination port, source port, datagram length, reserved; network byte
// order), then the datagram. Ports let several clients and servers share one interface; the
// length survives the padding of minimum-size Ethernet frames.
//
// Locator keys (defaults in brackets):
//   if=<name>          [listen: required; connect: the only non-loopback interface that is up]
//   mac=<aa:bb:..>     [connect: required unless if=lo] the server's MAC address
//   port=<n>           [7400] the server's port (1..65535)
//   ring=v3|v2         [v2] receive ring: v3 hands over blocks of frames (batching; a block that
//                      does not fill waits up to block_ms), v2 hands over each frame at once
//   block_ms=<n>       [1] v3 only: longest wait before a partly filled block is handed over
//   poll=busy|sleep    [busy] sleep: wait() sleeps in poll(2) until the ring has a frame
//   mtu=<bytes>        [interface MTU - 8, at most 9000; 3810 with mode=xdp] largest datagram
//   mode=packet|xdp    [packet] xdp: an AF_XDP socket on one receive queue, fed by a small XDP
//                      program that takes Clio frames for our port and passes all else to the
//                      kernel (root; one worker per interface; the NIC must steer our frames to
//                      that queue, e.g. a single queue, or an ethtool rule)
//   queue=<n>          [0] mode=xdp: the receive queue
// Several MN workers share one port: the kernel spreads frames over their sockets (a fanout
// group) by a hash of the sender's MAC and port, so a client's frames, retransmissions
// included, always meet the same worker. A client's port is an ephemeral UDP port that it keeps
// bound, so that no two clients on one host can pick the same one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "verbs_shim/locator.h"
#include "verbs_shim/transport.h"

namespace clio::net {

/// What a raweth Endpoint holds.
struct RawEthAddress {
  uint8_t mac[6];
  uint16_t port;  ///< host byte order
};
static_assert(sizeof(RawEthAddress) == 8);

/// The frame header (Ethernet + shim), as it is on the wire.
struct [[gnu::packed]] RawEthFrameHeader {
  uint8_t dst[6];
  uint8_t src[6];
  uint16_t ethertype_be;
  uint16_t dst_port_be;
  uint16_t src_port_be;
  uint16_t len_be;
  uint16_t reserved;
};
static_assert(sizeof(RawEthFrameHeader) == 22);

inline constexpr uint16_t kClioEtherType = 0x88B5;

class RawEthTransport final : public Transport {
 public:
  static constexpr size_t kBurst = 32;

  ~RawEthTransport() override;

  static std::unique_ptr<RawEthTransport> listen(const Locator& l, unsigned member,
                                                 unsigned members);
  static std::unique_ptr<RawEthTransport> connect(const Locator& l, Endpoint* server);
  /// The locator keys this backend reads: what its parser accepts and --help lists.
  static std::span<const LocatorKey> locator_keys();

  std::string_view name() const override { return "raweth"; }
  bool exact_peer_source() const override { return true; }
  uint32_t mtu() const override { return mtu_; }
  Endpoint local_endpoint() const override { return Endpoint::of(self_); }
  std::string locator() const override { return locator_; }
  std::string member_locator() const override { return member_locator_; }
  size_t tx_burst(std::span<const TxItem> items) override;
  size_t rx_burst(std::span<PacketView> out) override;
  void release(std::span<const PacketView> pkts) override;
  void wait(uint64_t timeout_ns) override;

  /// Frames received that were not well-formed Clio frames for this port (dropped).
  uint64_t dropped_frames() const { return dropped_; }

  /// "aa:bb:cc:dd:ee:ff"
  static std::string mac_text(const uint8_t mac[6]);
  /// Largest frame an AF_XDP chunk carries.
  static uint32_t xdp_max_frame();

  /// Everything set-up decided (raweth_transport.cc).
  struct Setup;
  /// The AF_XDP socket, its rings and program (raweth_xdp.cc).
  struct Xdp;

 private:
  explicit RawEthTransport(Setup&& s);

  void open_xdp(uint32_t queue, uint16_t port, const std::string& what);
  void close_xdp();
  size_t rx_xdp(std::span<PacketView> out);
  size_t tx_xdp(std::span<const TxItem> items);
  void release_xdp(std::span<const PacketView> pkts);
  void wait_xdp(uint64_t timeout_ns);
  size_t rx_v2(std::span<PacketView> out);
  size_t rx_v3(std::span<PacketView> out);
  /// The Ethernet header and shim for a datagram of `len` bytes to `to`.
  RawEthFrameHeader frame_header(const Endpoint& to, size_t len) const;
  /// Checks one received frame; fills `v` (data, from) when it is a Clio datagram for us.
  bool accept(const std::byte* frame, uint32_t len, PacketView* v);

  UniqueFd fd_;
  UniqueFd reserve_fd_;  ///< client: the UDP socket that holds our port number
  int ifindex_ = 0;
  uint32_t mtu_ = 0;
  bool sleep_ = false;
  bool v3_ = false;
  RawEthAddress self_{};
  std::string locator_;
  std::string member_locator_;
  uint64_t dropped_ = 0;
  Xdp* xdp_ = nullptr;  ///< mode=xdp: owned (close_xdp)

  // The receive ring, as mapped. v2: `frames_` frames of `frame_bytes_`; v3: `blocks_` blocks.
  std::byte* ring_ = nullptr;
  size_t ring_bytes_ = 0;
  uint32_t frame_bytes_ = 0;
  uint32_t frames_ = 0;
  uint32_t block_bytes_ = 0;
  uint32_t blocks_ = 0;
  uint64_t rx_next_ = 0;       ///< v2: next frame to look at; v3: current block
  std::vector<uint8_t> held_;  ///< v2: the frame is in a view not yet released
  // v3: position inside the current block, and views still held per block.
  uint32_t v3_seen_ = 0;
  uint32_t v3_offset_ = 0;
  std::vector<uint32_t> v3_held_;
  std::vector<uint8_t> v3_done_;  ///< every frame of the block was looked at

  // Transmit scratch, sized once.
  std::vector<RawEthFrameHeader> tx_headers_;
};

}  // namespace clio::net

// SPDX-License-Identifier: Apache-2.0
// verbs: Clio datagrams over an RDMA unreliable-datagram (UD) queue pair.
//
// Each transport owns one UD QP, a receive CQ and a send CQ. Receive buffers live in one
// registered region and are all posted at start; rx_burst() hands out views into them (after the
// 40 bytes the device writes in front of every UD message) and release() posts them again. Sends
// are gathered into a registered ring of slots (or posted inline when they fit the QP's
// max_inline_data) and only every kSignalEvery-th send asks for a completion, which frees every
// slot before it: send queues complete in order.
//
// Endpoint exchange (control plane, never a side service): a listening transport binds a UDP
// socket on host:port (SO_REUSEPORT, one socket per MN worker) and a small thread answers each
// client's hello with its own GID, LID, QPN, QKey and MTU. The kernel hashes a client's UDP
// address to one worker's socket, so each client talks to one worker's QP. connect() sends the
// hello (repeating it until timeout_ms) and creates the address handle toward the server before
// it returns. The thread sleeps in poll(2) and shares nothing mutable with the datapath.
//
// Locator keys (defaults in brackets):
//   dev=<name>        [the first RDMA device]  e.g. rxe0, mlx5_0
//   gid=<index>       [picked: the first RoCE v2 GID holding an IPv4 address; 0 on InfiniBand]
//                     (index 0 is link-local and fails on soft-RoCE over lo: see verbs_device.h)
//   ibport=<n>        [1] device port
//   host=<ip>         [listen: bind 0.0.0.0 and report the GID's IPv4 address, else 127.0.0.1;
//                     connect: required] where the endpoint exchange listens
//   bind=<ip>         [listen: host, else 0.0.0.0] the address the exchange socket binds when it
//                     differs from the one clients dial (connect ignores it)
//   port=<n>          [listen: 7400, 0 picks a free one; connect: required] its UDP port
//   poll=busy|event   [busy] event: wait() sleeps on a completion channel until a receive lands
//   mtu=<bytes>       [the port's active MTU, read at run time] cap on the datagram size
//   rx=<n>            [512] receive buffers (UD drops what arrives while none is posted)
//   tx=<n>            [256] send slots (the send queue depth)
//   inline=<bytes>    [256] max_inline_data to ask for (0: never inline)
//   ah_cache=<n>      [1024] address handles kept, one per peer host; a full cache evicts
//   timeout_ms=<n>    [20000] connect: how long to repeat the hello before giving up
//
// Threading: as every Transport, one thread at a time; the hello thread is internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/mapped_memory.h"
#include "common/unique_fd.h"
#include "verbs_shim/locator.h"
#include "verbs_shim/transport.h"
#include "verbs_shim/verbs_device.h"
#include "verbs_shim/verbs_raii.h"

namespace clio::net {

/// What a verbs Endpoint holds: enough to build an address handle and address a UD QP.
struct VerbsAddress {
  uint8_t gid[16];    ///< the peer port's GID, network byte order (all zero: no GRH, use lid)
  uint32_t qpn;       ///< the peer's UD queue pair number (24 bits used)
  uint16_t lid;       ///< the peer port's LID (0 on RoCE)
  uint16_t reserved;  ///< zero
};
static_assert(sizeof(VerbsAddress) == 24);
static_assert(sizeof(VerbsAddress) <= Endpoint::kBytes);
static_assert(std::is_trivially_copyable_v<VerbsAddress> &&
              std::is_standard_layout_v<VerbsAddress>);
/// The address's GID as text, for messages.
std::string gid_of(const VerbsAddress& a);

/// Counters of one transport (single writer: the datapath thread; read them from that thread).
struct VerbsStats {
  uint64_t sent = 0;         ///< packets posted to the send queue
  uint64_t received = 0;     ///< packets handed out by rx_burst
  uint64_t oversized = 0;    ///< tx packets larger than mtu(), dropped (and accepted)
  uint64_t unreachable = 0;  ///< tx packets dropped: no address handle could be made
  uint64_t send_errors = 0;  ///< send completions with an error status
  uint64_t recv_errors = 0;  ///< receive completions with an error status (buffer reposted)
  uint64_t ah_created = 0;   ///< address handles made
  uint64_t ah_evicted = 0;   ///< address handles evicted from a full cache
};

class VerbsTransport final : public Transport {
 public:
  static constexpr size_t kBurst = 32;
  /// Bytes the device writes in front of every UD receive: a GRH, or (RoCE v2 over IPv4) 20
  /// unused bytes and the IPv4 header.
  static constexpr uint32_t kGrhBytes = 40;
  /// A send asks for a completion once per this many; the send ring must hold several such runs.
  static constexpr uint32_t kSignalEvery = 16;
  /// The QKey every Clio UD QP uses (bit 31 clear: not a controlled QKey). "CLIO".
  static constexpr uint32_t kQkey = 0x434C494F;
  /// Evicted address handles wait here until the sends that may still use them complete.
  static constexpr size_t kAhGraveyard = 64;

  ~VerbsTransport() override;

  /// Opens the device, creates the QP, posts every receive buffer and starts answering hellos on
  /// host:port (SO_REUSEPORT: `members` workers share it). Throws ConfigError for a bad locator,
  /// TransportError naming the verbs call, device and errno (a missing device lists those that
  /// exist; a bad GID lists the port's GIDs).
  static std::unique_ptr<VerbsTransport> listen(const Locator& l, unsigned member,
                                                unsigned members);
  /// Opens the device, exchanges endpoints with host:port and makes the address handle toward
  /// the server, whose address *server receives. Throws as listen(), and TransportError when no
  /// answer came within timeout_ms.
  static std::unique_ptr<VerbsTransport> connect(const Locator& l, Endpoint* server);
  /// The locator keys this backend reads: what its parser accepts and --help lists.
  static std::span<const LocatorKey> locator_keys();

  std::string_view name() const override { return "verbs"; }
  uint32_t mtu() const override { return mtu_; }
  Endpoint local_endpoint() const override { return Endpoint::of(self_); }
  std::string locator() const override { return locator_; }
  // verbs_transport_datapath.cc: no allocation, no exceptions, no system call except the first
  // send toward a new peer host (ibv_create_ah).
  size_t tx_burst(std::span<const TxItem> items) override;
  size_t rx_burst(std::span<PacketView> out) override;
  void release(std::span<const PacketView> pkts) override;
  void wait(uint64_t timeout_ns) override;

  const VerbsStats& stats() const { return stats_; }
  /// Endpoint exchanges answered so far (listen side). Any thread.
  uint64_t hellos() const { return hellos_.load(std::memory_order_relaxed); }
  /// The device and GID index in use.
  const VerbsPort& port() const { return port_; }
  /// Bytes a send may carry inline (as granted by the provider, at most mtu()).
  uint32_t max_inline() const { return max_inline_; }

  /// Everything set-up decided from the locator (verbs_transport.cc).
  struct Options;

 private:
  VerbsTransport(VerbsPort port, const Options& o);

  /// One address handle per peer host (GID, LID); QPNs are per send.
  struct AhSlot {
    VerbsAddress key{};  ///< qpn zero
    VerbsAh ah;
    uint64_t last_seq = 0;  ///< the send sequence number of the last send that used it
    uint64_t used = 0;      ///< LRU stamp within its set
  };
  static constexpr size_t kAhWays = 4;

  /// The handle toward `to`, made on first use; null when it cannot be made (counted, logged
  /// once). Evicts the least recently used handle of a full set.
  ibv_ah* ah_for(const VerbsAddress& to, uint64_t seq);
  /// Polls the send CQ: frees ring slots, buries address handles no send can still use.
  void reclaim();
  /// Posts the receive buffers of `slots` (indices into the receive region) in one call.
  void post_receives(const uint32_t* slots, size_t n);
  /// The sender of a receive completion, from the work completion and the 40 bytes in front.
  VerbsAddress sender_of(const ibv_wc& wc, const std::byte* grh) const;
  // The endpoint exchange (verbs_exchange.cc).
  /// Listen side: binds the exchange socket (SO_REUSEPORT) and starts the hello thread; returns
  /// the port bound.
  uint16_t serve_exchange(const std::string& host, uint16_t port);
  /// Stops and joins the hello thread, if one runs.
  void stop_exchange();
  /// Hello thread body: answers endpoint requests on udp_fd_ until stop_fd_ is signalled.
  void answer_hellos();
  /// Connect side: the server's address, from the answer to our hello (repeated until
  /// timeout_ms); sets *peer_mtu to the server's largest datagram.
  VerbsAddress exchange(const std::string& host, uint16_t port, uint64_t timeout_ms,
                        uint32_t* peer_mtu);

  // Declared in creation order, so that they die in reverse: the QP (and with it every posted
  // buffer) before its CQs, the CQs before the channel, the MRs before their memory, all before
  // the PD and the context. Address handles (below) die first of all.
  VerbsPort port_;
  VerbsPd pd_;
  std::unique_ptr<MappedMemory> rx_memory_;
  std::unique_ptr<MappedMemory> tx_memory_;
  VerbsMr rx_mr_;
  VerbsMr tx_mr_;
  VerbsCompChannel channel_;  ///< poll=event only
  VerbsCq send_cq_;
  VerbsCq recv_cq_;
  VerbsQp qp_;

  VerbsAddress self_{};
  std::string locator_;
  uint32_t mtu_ = 0;
  uint32_t max_inline_ = 0;
  uint32_t rx_slot_bytes_ = 0;  ///< kGrhBytes + the port's MTU, rounded up to 64
  uint32_t tx_slot_bytes_ = 0;  ///< mtu_, rounded up to 64
  uint32_t rx_slots_ = 0;
  uint32_t tx_slots_ = 0;

  // Receive side: one WR and SGE per buffer, built once; release() only links them.
  std::vector<ibv_recv_wr> recv_wrs_;
  std::vector<ibv_sge> recv_sges_;
  std::vector<uint32_t> repost_;  ///< scratch: buffers to post again
  // Completions polled by wait() (poll=event) and not yet handed out by rx_burst().
  ibv_wc stash_[kBurst];
  uint32_t stash_n_ = 0;
  uint32_t stash_at_ = 0;

  // Send side. Send number s uses slot s % tx_slots_; [completed_, next_seq_) may be in flight.
  std::vector<ibv_send_wr> send_wrs_;
  std::vector<ibv_sge> send_sges_;  ///< two per slot (inline gathers header and payload)
  std::vector<size_t> wr_item_;     ///< scratch: the item each WR of a burst carries
  uint64_t next_seq_ = 0;
  uint64_t completed_ = 0;
  bool force_signal_ = false;  ///< an address handle was buried: the next send must complete

  // Address handles: kAhWays-way sets; the graveyard holds evicted ones until completed_ passes
  // their last use.
  std::vector<AhSlot> ah_sets_;
  size_t ah_set_mask_ = 0;
  uint64_t ah_clock_ = 0;
  struct Buried {
    VerbsAh ah;
    uint64_t until_seq = 0;
  };
  std::vector<Buried> graveyard_;
  int last_ah_errno_ = 0;
  bool warned_ah_ = false;
  bool warned_send_ = false;

  VerbsStats stats_;
  std::atomic<uint64_t> hellos_{0};

  // Endpoint exchange (listen side).
  UniqueFd udp_fd_;
  UniqueFd stop_fd_;  ///< eventfd that stops the hello thread
  std::thread hello_thread_;
};

}  // namespace clio::net

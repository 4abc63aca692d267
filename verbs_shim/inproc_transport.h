// SPDX-License-Identifier: Apache-2.0
// inproc: an in-process fabric of lock-free rings. The embedded default and the test bed: a real
// backend with the same contract as udp or verbs, plus a seeded fault injector.
//
// Locator keys (defaults in brackets):
//   name=<s>        [required] the server's name; listen() creates it, connect() reaches it
//   poll=busy|sleep [busy] sleep: wait() sleeps on a futex until a packet arrives
//   drop=<p>        [0] probability that a sent packet is lost
//   dup=<p>         [0] ... delivered twice
//   corrupt=<p>     [0] ... delivered with one bit flipped
//   reorder=<p>     [0] ... held back up to reorder_us, so later packets overtake it
//   delay=<p>       [0] ... held back between delay_min_us and delay_max_us
//   reorder_us=<n>  [200]   delay_min_us=<n> [0]   delay_max_us=<n> [20000]
//   seed=<n>        [1] seed of the fault injector (each port mixes in its own id)
//   poison=on|off   [off] on: a receive slot is overwritten with 0xDB as its view is released,
//                   so whatever reads a view after release() reads poison (tests)
// Faults apply to what the transport made from that locator sends: give the same keys to the
// server's and the clients' locators to make both directions faulty.
//
// Packets are copied into the receiver's ring on send (MTU 4168 bytes: a 4 KiB payload and the
// Clio header). Held packets (delay, reorder) are released by later calls on the sending
// transport (tx_burst, rx_burst, wait), so a sender that stops calling holds them longer; one
// that falls due while the receiver's ring is full stays held until there is room.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/doorbell.h"
#include "common/rng.h"
#include "verbs_shim/locator.h"
#include "verbs_shim/transport.h"

namespace clio::net {

/// What the fault injector does with one packet.
struct FaultDecision {
  enum Kind : uint8_t { kDeliver, kDrop, kDuplicate, kCorrupt, kDelay } kind = kDeliver;
  uint64_t delay_ns = 0;  ///< kDelay: how long to hold the packet
  uint64_t bit = 0;       ///< kCorrupt: which bit to flip (taken modulo the packet's bits)
};

/// Decides the fate of each packet a transport sends. The default delivers everything.
class FaultInjector {
 public:
  virtual ~FaultInjector() = default;
  virtual FaultDecision on_tx(std::span<const std::byte> pkt) {
    (void)pkt;
    return {};
  }
};

/// Independent random faults at the given rates.
class RandomFaults final : public FaultInjector {
 public:
  struct Rates {
    double drop = 0, dup = 0, corrupt = 0, reorder = 0, delay = 0;
    uint64_t reorder_ns = 200'000;
    uint64_t delay_min_ns = 0;
    uint64_t delay_max_ns = 20'000'000;
  };
  RandomFaults(const Rates& r, uint64_t seed) : r_(r), rng_(seed) {}
  FaultDecision on_tx(std::span<const std::byte> pkt) override;
  /// Reads drop/dup/corrupt/reorder/delay(_us) keys. Null when every rate is zero.
  static std::unique_ptr<RandomFaults> from_locator(const Locator& l, uint64_t port_id);

 private:
  Rates r_;
  Rng rng_;
};

class InProcPort;  // internal: a receive ring and its owner's state

class InProcTransport final : public Transport {
 public:
  static constexpr uint32_t kMtu = 4096 + 72;
  static constexpr size_t kRingSlots = 256;
  static constexpr size_t kMaxHeld = 512;  ///< delayed packets in flight per sender

  ~InProcTransport() override;

  /// A server port named by the locator's name=; `member` of `members` (one per MN worker).
  static std::unique_ptr<InProcTransport> listen(const Locator& l, unsigned member,
                                                 unsigned members);
  /// An anonymous client port; *server receives the address of one member of the named server
  /// (chosen by this port's id, as RSS would). Throws TransportError when no such server.
  static std::unique_ptr<InProcTransport> connect(const Locator& l, Endpoint* server);
  /// The locator keys this backend reads: what its parser accepts and --help lists.
  static std::span<const LocatorKey> locator_keys();

  std::string_view name() const override { return "inproc"; }
  bool exact_peer_source() const override { return true; }
  uint32_t mtu() const override { return kMtu; }
  Endpoint local_endpoint() const override;
  std::string locator() const override { return locator_; }
  size_t tx_burst(std::span<const TxItem> items) override;
  size_t rx_burst(std::span<PacketView> out) override;
  void release(std::span<const PacketView> pkts) override;
  void wait(uint64_t timeout_ns) override;

  /// Views handed out by rx_burst and not yet released, and views released so far (tests: a
  /// leak shows as views held, a use after release as poison with poison=on).
  uint64_t views_held() const;
  uint64_t views_released() const;
  /// Replaces the fault injector (tests). Not thread-safe against this transport's own calls.
  void set_fault_injector(std::unique_ptr<FaultInjector> f);

 private:
  struct Held {
    uint64_t due_ns = 0;  ///< 0: free
    Endpoint to;
    uint32_t len = 0;
  };

  InProcTransport(InProcPort* port, const Locator& l, bool sleep, std::string locator);
  /// Copies header+payload into the destination's ring, flipping bit `flip_bit` unless it is ~0.
  /// False when the ring is full; true when the destination is gone (the network lost it).
  bool deliver(const Endpoint& to, std::span<const std::byte> h, std::span<const std::byte> p,
               uint64_t flip_bit = ~uint64_t{0});
  void flush_held(bool all);

  InProcPort* port_;
  bool sleep_;
  std::string locator_;
  std::unique_ptr<FaultInjector> faults_;
  // Packets held back by the injector: kMaxHeld slots, each with an MTU-sized buffer, allocated
  // when an injector is set, never on the datapath.
  std::vector<Held> held_;
  std::unique_ptr<std::byte[]> held_data_;
  size_t held_count_ = 0;
  uint64_t held_earliest_ = UINT64_MAX;
};

}  // namespace clio::net

// SPDX-License-Identifier: Apache-2.0
// The datagram transport interface: unreliable, unordered packets in bursts, shaped like verbs UD
// queue pairs. Reliability, ordering and request matching live above it (CLib, the MN's reply
// logic); this layer knows nothing of Clio requests.
//
// Buffer ownership:
//   - tx_burst() copies (or hands to the kernel or NIC) every packet it accepts before it returns;
//     the caller may reuse its header and payload buffers at once.
//   - rx_burst() fills PacketViews that point into memory the transport owns. A view stays valid
//     until it is passed to release(); views must be released in the order rx_burst() returned
//     them (oldest first), and every view must be released before the transport is destroyed.
// Threading: a Transport is used by one thread at a time. Nothing blocks except wait().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace clio::net {

/// An opaque, fixed-size peer address (a UDP socket address, an in-process port, a MAC, a verbs
/// address handle's identity). Compared and hashed as bytes; unused bytes are zero.
struct Endpoint {
  static constexpr size_t kBytes = 48;
  alignas(8) std::array<std::byte, kBytes> bytes{};

  /// A word at a time: CLib compares every answer's source with its MN's.
  bool operator==(const Endpoint& o) const {
    uint64_t diff = 0;
    for (size_t at = 0; at < kBytes; at += 8) {
      uint64_t x, y;
      std::memcpy(&x, bytes.data() + at, 8);
      std::memcpy(&y, o.bytes.data() + at, 8);
      diff |= x ^ y;
    }
    return diff == 0;
  }
  bool empty() const { return *this == Endpoint{}; }

  /// Copies a backend's address struct in (static_assert its size at the call site).
  template <typename T>
  static Endpoint of(const T& v) {
    static_assert(sizeof(T) <= kBytes && std::is_trivially_copyable_v<T>);
    Endpoint e;
    std::memcpy(e.bytes.data(), &v, sizeof(T));
    return e;
  }
  template <typename T>
  T as() const {
    static_assert(sizeof(T) <= kBytes && std::is_trivially_copyable_v<T>);
    T v;
    std::memcpy(&v, bytes.data(), sizeof(T));
    return v;
  }
};

/// A hash of the whole endpoint, a word at a time (it is on the MN's write path).
struct EndpointHash {
  size_t operator()(const Endpoint& e) const {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (size_t at = 0; at < Endpoint::kBytes; at += 8) {
      uint64_t w;
      std::memcpy(&w, e.bytes.data() + at, 8);
      h = (h ^ w) * 0xff51afd7ed558ccdull;
      h ^= h >> 29;
    }
    return h;
  }
};
static_assert(Endpoint::kBytes % 8 == 0);

/// One packet to send: `header` then `payload` (either may be empty), gathered by the backend.
struct TxItem {
  Endpoint to;
  std::span<const std::byte> header;
  std::span<const std::byte> payload;
};

/// One received packet. `data` points into transport-owned memory until release().
struct PacketView {
  std::span<const std::byte> data;
  Endpoint from;
  uint64_t token = 0;  ///< backend's own bookkeeping for release()
};

/// Thrown by set-up paths. Callers switch on kind() (and err(), the errno of a failed system
/// call, else 0); the message is for people: it names the call, the device or address.
class TransportError : public Error {
 public:
  enum class Kind {
    kNoServer,    ///< nothing listens at the address (-ECONNREFUSED for CLib's callers)
    kNoDevice,    ///< no such device, port or address on this host
    kPermission,  ///< the call needs privileges this process lacks
    kTimeout,     ///< the peer did not answer in time
    kSystem,      ///< anything else: a failed system call, a refused set-up
  };
  TransportError(Kind kind, const std::string& what, int err = 0)
      : Error(what), kind_(kind), err_(err) {}
  Kind kind() const { return kind_; }
  int err() const { return err_; }
  /// The kind a failed system call's errno means.
  static Kind kind_of(int err);

 private:
  Kind kind_;
  int err_;
};

/// The error of a failed system call, the one format every backend uses:
/// "<what>: <call>: <strerror(err)> (errno <err>)[; <hint>]", its kind from err.
TransportError sys_error(const std::string& what, const char* call, int err,
                         const std::string& hint = "");

/// After a batch send took only the first `sent` of the packets that fit `mtu`: how many of
/// `items` count as accepted (those sent, and the oversized ones among them, which are dropped).
inline size_t items_through(std::span<const TxItem> items, size_t sent, uint32_t mtu) {
  size_t counted = 0, i = 0;
  for (; i < items.size() && counted < sent; ++i)
    if (items[i].header.size() + items[i].payload.size() <= mtu) ++counted;
  return i;
}

class Transport {
 public:
  virtual ~Transport() = default;

  /// Backend name as in the locator ("inproc", "udp", ...).
  virtual std::string_view name() const = 0;
  /// Largest packet (header + payload) this transport carries, read at run time.
  virtual uint32_t mtu() const = 0;
  /// This transport's own address, as peers see it in PacketView::from.
  virtual Endpoint local_endpoint() const = 0;
  /// Locator string that reaches this transport (e.g. "udp:host=127.0.0.1,port=7400").
  virtual std::string locator() const = 0;
  /// Server side: the locator the server's further members (workers) listen on to share this
  /// address; differs from locator() where clients name the server differently (raweth: the
  /// server's interface, which means nothing on the client's host).
  virtual std::string member_locator() const { return locator(); }
  /// True when every packet the server sends to a client created by connect() arrives with
  /// PacketView::from equal, byte for byte, to the Endpoint connect() returned, so that the
  /// client may drop packets from anyone else. (verbs: the sender's address is rebuilt from the
  /// GRH and may not match the hello answer byte for byte, so it says false.)
  virtual bool exact_peer_source() const { return false; }

  /// Client side (a transport made by connect()): a positive errno once the network has said
  /// that the server cannot be reached, 0 otherwise. ECONNREFUSED means the server's host
  /// answered that nothing listens on the server's port (ICMP port unreachable): no server runs
  /// there, or it has exited. tx_burst() and rx_burst() set it when the kernel reports the error
  /// to them (so it shows some time after the first packet sent, a round trip on a live network,
  /// and only after one of them ran), and rx_burst() clears it when a packet from the server
  /// arrives again. It is a hint, not a verdict: the report may be stale (a server restarting)
  /// or forged (ICMP is not authenticated), so a caller should take it as a reason to give up
  /// early, not to mistrust a later answer. Costs no system call. Transports that cannot tell
  /// (and every server-side transport) always say 0.
  virtual int peer_error() const { return 0; }

  /// Queues up to items.size() packets; returns how many it accepted (the rest: try again).
  /// Never blocks. Packets larger than mtu() are dropped (and counted as accepted).
  virtual size_t tx_burst(std::span<const TxItem> items) = 0;
  /// Fills up to out.size() views with received packets; returns how many. Never blocks.
  virtual size_t rx_burst(std::span<PacketView> out) = 0;
  /// Gives back views from rx_burst, oldest first.
  virtual void release(std::span<const PacketView> pkts) = 0;

  /// Sleeps until a packet may have arrived or `timeout_ns` passed, if this transport was made
  /// with a sleeping poll mode; returns at once for busy-polling transports (the default).
  virtual void wait(uint64_t timeout_ns) { (void)timeout_ns; }
};

}  // namespace clio::net

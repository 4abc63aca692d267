// SPDX-License-Identifier: Apache-2.0
// Congestion and incast control at the compute node only (Clio §4.4): a window of outstanding
// requests per (thread, MN) path, driven by measured round-trip delay as in TIMELY/Swift, that may
// fall below one request (then requests are paced, one every RTT/window); and retransmission
// timeouts from the measured RTT (Jacobson/Karels, with Karn's rule: no samples from
// retransmitted requests). The incast cap on reply bytes lives in the client (it spans threads).
#pragma once

#include <algorithm>
#include <cstdint>

namespace clio::cn {

struct CongestionConfig {
  bool enabled = true;       ///< false: a fixed window of max_window
  double max_window = 128;   ///< requests in flight per path at most
  double min_window = 0.25;  ///< below 1: one request every RTT/window (4 RTTs at most)
  double initial_window = 16;
  double additive = 1;        ///< window growth per RTT while under target
  double beta = 0.8;          ///< decrease = beta * (delay - target) / delay ...
  double max_decrease = 0.5;  ///< ... at most this fraction, at most once per RTT
  /// Target delay: max(this, 3 x the lowest RTT seen). 250 us suits kernel UDP in a VM under load
  /// (measured: 30 us shrank windows until the MN idled); in-process RTTs never reach it.
  uint64_t target_floor_ns = 250'000;
};

class RttEstimator {
 public:
  void sample(uint64_t rtt_ns) {
    if (srtt_ == 0) {
      srtt_ = rtt_ns;
      var_ = rtt_ns / 2;
    } else {
      const uint64_t err = rtt_ns > srtt_ ? rtt_ns - srtt_ : srtt_ - rtt_ns;
      var_ = (3 * var_ + err) / 4;
      srtt_ = (7 * srtt_ + rtt_ns) / 8;
    }
    min_ = std::min(min_, rtt_ns);
  }
  uint64_t srtt_ns() const { return srtt_; }
  uint64_t min_ns() const { return min_; }
  /// srtt + 4 * rttvar, clamped to [floor, ceiling]; `floor` before the first sample.
  uint64_t rto_ns(uint64_t floor, uint64_t ceiling) const {
    if (srtt_ == 0) return floor;
    return std::clamp(srtt_ + 4 * var_, floor, ceiling);
  }

 private:
  uint64_t srtt_ = 0;
  uint64_t var_ = 0;
  uint64_t min_ = UINT64_MAX;
};

class DelayWindow {
 public:
  explicit DelayWindow(const CongestionConfig& c = {})
      : c_(c), cwnd_(c.enabled ? c.initial_window : c.max_window) {}

  double window() const { return cwnd_; }

  /// May one more request go out now, with `in_flight` outstanding on this path?
  bool can_send(uint32_t in_flight, uint64_t now_ns, uint64_t srtt_ns) const {
    if (cwnd_ >= 1) return in_flight < static_cast<uint32_t>(cwnd_);
    // Below one: one at a time, spaced RTT / window apart.
    return in_flight == 0 && now_ns >= last_send_ns_ + static_cast<uint64_t>(srtt_ns / cwnd_);
  }
  void on_send(uint64_t now_ns) { last_send_ns_ = now_ns; }

  /// An answer came back `rtt_ns` after its (only) attempt was sent.
  void on_ack(uint64_t rtt_ns, uint64_t min_rtt_ns, uint64_t srtt_ns, uint64_t now_ns) {
    if (!c_.enabled) return;
    const uint64_t target = std::max(c_.target_floor_ns, 3 * min_rtt_ns);
    if (rtt_ns <= target) {
      cwnd_ += cwnd_ >= 1 ? c_.additive / cwnd_ : c_.additive;
    } else if (now_ns - last_decrease_ns_ >= srtt_ns) {
      const double over = static_cast<double>(rtt_ns - target) / static_cast<double>(rtt_ns);
      cwnd_ *= 1 - std::min(c_.beta * over, c_.max_decrease);
      last_decrease_ns_ = now_ns;
    }
    cwnd_ = std::clamp(cwnd_, c_.min_window, c_.max_window);
  }
  /// A request timed out: the network is losing packets; halve, at most once per RTT.
  void on_timeout(uint64_t srtt_ns, uint64_t now_ns) {
    if (!c_.enabled || now_ns - last_decrease_ns_ < srtt_ns) return;
    cwnd_ = std::max(cwnd_ * (1 - c_.max_decrease), c_.min_window);
    last_decrease_ns_ = now_ns;
  }

 private:
  CongestionConfig c_;
  double cwnd_;
  uint64_t last_send_ns_ = 0;
  uint64_t last_decrease_ns_ = 0;
};

}  // namespace clio::cn

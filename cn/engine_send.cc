// SPDX-License-Identifier: Apache-2.0
// CLib's engine (cn/engine.h), sending: which queued requests may leave (release ordering,
// fences, the congestion window, the incast cap), sending and flushing them, and the timers that
// retransmit, resend after a retry delay, and fail requests at their deadline.
#include <algorithm>
#include <cerrno>

#include "cn/client_impl.h"

namespace clio::cn {

// --- Ordering and sending -----------------------------------------------------------------

// What the ordering rules (OrderingTracker::must_wait) see of the tracked packets.
struct Engine::Tracked {
  const Engine& e;
  uint64_t oldest_seq() const { return e.packets_[e.head_].seq; }
  bool full_fence_before(uint64_t seq) const {
    for (uint32_t i = e.head_; i != UINT32_MAX && e.packets_[i].seq < seq; i = e.packets_[i].next)
      if (e.packets_[i].full_fence) return true;
    return false;
  }
  template <typename F>
  bool any_in_flight(F&& f) const {
    for (uint32_t i : e.in_flight_)
      if (f(e.packets_[i])) return true;
    return false;
  }
  template <typename F>
  bool any_queued_before(uint64_t seq, F&& f) const {
    for (size_t k = 0; k < e.queued_.size(); ++k) {  // earlier requests still waiting, in order
      const Packet& q = e.packets_[e.queued_[k]];
      if (q.seq >= seq) break;
      if (f(q)) return true;
    }
    return false;
  }
};

bool Engine::blocked(const Packet& p) const {
  return ordering_.must_wait(ordered(p), c_.ordering, Tracked{*this});
}

void Engine::pump(uint64_t now) {
  // Only a new request, a completion or an acknowledgement can let a held request go; a
  // window below one request (pacing) can also open by time alone.
  if (queued_.empty() || !pump_needed_) return;
  pump_needed_ = false;
  ++pass_;
  const int64_t cap = Incast::cap();
  // What may go now, for the request at the front; false stops the front loop below.
  auto may_send = [&](Packet& p, bool* stop_all) {
    Path& path = paths_[p.mn];
    if (path.full_pass == pass_) return false;
    if (!path.window.can_send(path.in_flight, now, path.rtt.srtt_ns())) {
      ++counters_.window_waits;
      if (path.window.window() < 1) pump_needed_ = true;  // paced: time will open it
      path.full_pass = pass_;
      return false;
    }
    const int64_t out = Incast::outstanding().load(std::memory_order_relaxed);
    if (out > 0 && out + p.reply_bytes > cap) {  // the process asked for enough replies
      ++counters_.window_waits;
      pump_needed_ = true;  // other threads' completions free it: look again next round
      *stop_all = true;
      return false;
    }
    return true;
  };
  // The common case: requests leave in order from the front of the queue.
  bool stop_all = false;
  while (!queued_.empty()) {
    Packet& p = packets_[queued_.front()];
    if (!may_send(p, &stop_all)) break;
    if (blocked(p)) break;
    queued_.pop_front();
    send(p, now, false);
  }
  if (queued_.empty() || stop_all || (paths_.size() == 1 && paths_[0].full_pass == pass_)) return;

  // The front waits (for ordering, or its path's window): later requests may still go, in
  // order, unless they overlap an earlier waiting one.
  size_t kept = 0;
  size_t k = 0;
  size_t full_paths = 0;
  for (const Path& path : paths_) full_paths += path.full_pass == pass_;
  for (; k < queued_.size(); ++k) {
    const uint32_t i = queued_[k];
    Packet& p = packets_[i];
    const bool was_full = paths_[p.mn].full_pass == pass_;
    if (!may_send(p, &stop_all)) {
      queued_[kept++] = i;
      if (stop_all) break;
      // A path found full just now: when every path is, nothing else can go this pass.
      if (!was_full && paths_[p.mn].full_pass == pass_ && ++full_paths == paths_.size()) break;
      continue;
    }
    // blocked() scans queued_ up to p: positions [0, kept) hold the earlier requests still
    // waiting, [kept, k) stale copies of entries already handled this pass (kept ones, or sent
    // ones, which are in in_flight_ too). Seeing an entry twice changes no answer.
    if (blocked(p)) {
      if (!p.held) {
        ++counters_.held_back;
        p.held = true;
      }
      queued_[kept++] = i;
      continue;
    }
    send(p, now, false);
  }
  if (k < queued_.size()) {  // stopped early: the rest keep their places, in order
    for (size_t r = k + 1; r < queued_.size(); ++r) queued_[kept++] = queued_[r];
  }
  queued_.truncate(kept);
}

void Engine::send(Packet& p, uint64_t now, bool retransmission) {
  Path& path = paths_[p.mn];
  p.hdr.session = p.session;
  p.hdr.seq = p.id;
  p.hdr.token = path.token;
  if (retransmission) {
    if (p.attempts != UINT16_MAX) ++p.attempts;
    p.hdr.attempt = static_cast<uint16_t>(p.attempts - 1);
    // Measured from the request's issue, which is no later than its first transmission: an age
    // may be over-stated (the MN then refuses sooner), never under-stated.
    p.hdr.age_ms =
        static_cast<uint32_t>(std::min<uint64_t>((now - p.first_ns) / 1'000'000, UINT32_MAX));
    p.rto_ns = std::min(p.rto_ns * 2, c_.options.max_rto_us * 1000);
    p.retransmitted = true;
    ++counters_.retransmissions;
  } else {
    p.hdr.attempt = 0;
    const uint64_t queued_ns = now - p.first_ns;  // usually none: skip the division
    p.hdr.age_ms =
        queued_ns < 1'000'000
            ? 0
            : static_cast<uint32_t>(std::min<uint64_t>(queued_ns / 1'000'000, UINT32_MAX));
    p.rto_ns = path.rtt.rto_ns(c_.options.rto_us * 1000, c_.options.max_rto_us * 1000);
    p.retransmitted = false;
    p.attempts = 1;
    p.state = Packet::kInFlight;
    p.flight_pos = static_cast<uint32_t>(in_flight_.size());
    in_flight_.push_back(p.index);
    ++path.in_flight;
    path.window.on_send(now);
    Incast::outstanding().fetch_add(p.reply_bytes, std::memory_order_relaxed);
    p.counted = true;
    ++counters_.requests;
  }
  p.state = Packet::kInFlight;
  p.sent_ns = now;
  next_timer_ns_ = std::min(next_timer_ns_, now + p.rto_ns);
  wire::seal(p.hdr, p.payload);
  path.tx.push_back(net::TxItem{path.server, std::as_bytes(std::span(&p.hdr, 1)), p.payload});
}

void Engine::flush() {
  for (Path& path : paths_) {
    if (path.tx.empty()) continue;
    // What the transport does not take now is as good as lost: the timer sends it again.
    (void)path.transport->tx_burst(path.tx);
    path.tx.clear();
  }
}

// --- Timers -----------------------------------------------------------------------------------

// Called only when due: next_timer_ns_ is kept exact by every change, so nothing is due before it.
void Engine::run_timers(uint64_t now) {
  uint64_t next = UINT64_MAX;
  for (size_t k = in_flight_.size(); k-- > 0;) {
    Packet& p = packets_[in_flight_[k]];
    // The deadline holds whatever arrives (NACKs, "busy", tokens, garbage, silence).
    if (now >= p.deadline_ns) {
      finish(p, p.state == Packet::kWaitRetry && p.busy_only ? -EAGAIN : -ETIMEDOUT);
      continue;
    }
    if (p.state == Packet::kInFlight) {
      p.busy_only = false;
      if (now - p.sent_ns >= p.rto_ns) {
        ++counters_.timeouts;
        Path& path = paths_[p.mn];
        path.window.on_timeout(path.rtt.srtt_ns(), now);
        send(p, now, true);
      }
      next = std::min(next, p.sent_ns + p.rto_ns);
    } else if (p.state == Packet::kWaitRetry) {
      if (now >= p.retry_at_ns) {
        send(p, now, true);
        next = std::min(next, p.sent_ns + p.rto_ns);
      } else {
        next = std::min(next, p.retry_at_ns);
      }
    }
    next = std::min(next, p.deadline_ns);
  }
  // Requests that never got out (held by ordering, the window or a dead MN) expire too.
  for (size_t k = queued_.size(); k-- > 0;) {
    Packet& p = packets_[queued_[k]];
    if (now >= p.deadline_ns) {
      finish(p, -ETIMEDOUT);
    } else {
      next = std::min(next, p.deadline_ns);
    }
  }
  next_timer_ns_ = next;
}

}  // namespace clio::cn

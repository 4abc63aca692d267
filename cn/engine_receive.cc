// SPDX-License-Identifier: Apache-2.0
// CLib's engine (cn/engine.h), receiving: matching an answer to its request, the retries that
// NACKs, "busy" and address tokens ask for, and finishing a packet (which completes its op and
// may let held requests go).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cn/client_impl.h"

namespace clio::cn {

using wire::Header;
using wire::Opcode;

// --- Receiving and completing -------------------------------------------------------------

void Engine::retry_later(Packet& p, uint64_t now, uint64_t delay_ns) {
  p.state = Packet::kWaitRetry;
  p.retry_at_ns = now + delay_ns;
  next_timer_ns_ = std::min(next_timer_ns_, std::min(p.retry_at_ns, p.deadline_ns));
}

bool Engine::receive(size_t mn, const net::PacketView& pv, uint64_t now) {
  Path& path = paths_[mn];
  if (path.check_source && !(pv.from == path.server)) [[unlikely]] {
    ++counters_.foreign;  // not from the MN: whatever it says, it is not an answer
    return false;
  }
  const std::span<const std::byte> pkt = pv.data;
  Header h;
  if (wire::validate(pkt, &h) != Status::kOk || !(h.flags & wire::kFlagReply)) {
    ++counters_.stray;
    return false;
  }
  const uint32_t i = h.seq & kSlotMask;
  if (i >= packets_.size()) {
    ++counters_.stray;
    return false;
  }
  Packet& p = packets_[i];
  if ((p.state != Packet::kInFlight && p.state != Packet::kWaitRetry) || p.session != h.session ||
      p.id != h.seq || p.mn != mn || h.opcode != p.hdr.opcode) {
    ++counters_.stray;  // a duplicate, or a late answer for an earlier use of this slot
    return false;
  }
  const auto s = static_cast<Status>(h.status);
  if (p.write && s != Status::kBadChecksum && s != Status::kUnproven)
    counters_.min_horizon_ms = std::min<uint64_t>(
        counters_.min_horizon_ms, h.age_ms == wire::kHorizonUnbounded ? UINT64_MAX : h.age_ms);
  // Resends after NACKs and "busy" are paced: 20 us doubling per attempt, capped by the
  // timeout, so that a path that keeps corrupting our packets gets no storm, and the deadline
  // still bounds the call.
  const uint64_t pace_ns =
      std::min<uint64_t>(20'000ull << std::min<uint32_t>(p.attempts, 12), p.rto_ns);
  if (s == Status::kBadChecksum) {  // the MN got our packet damaged: send it again soon
    ++counters_.nacks;
    retry_later(p, now, pace_ns);
    return false;
  }
  if (s == Status::kUnproven) {  // large read: the MN wants proof of our address first
    ++counters_.unproven;
    const bool news = h.token != 0 && h.token != path.token;
    if (h.token != 0) path.token = h.token;
    retry_later(p, now, news ? 0 : pace_ns);  // a token we already sent is paced
    return false;
  }
  if (s == Status::kRetryLater) {  // not executed; back off and try again
    ++counters_.busy;
    retry_later(p, now,
                std::min<uint64_t>(50'000ull << std::min<uint32_t>(p.attempts, 10),
                                   c_.options.max_rto_us * 1000));
    return false;
  }
  if (s == Status::kStale) ++counters_.stale;

  if (h.opcode == static_cast<uint8_t>(Opcode::kRasCreate) && s == Status::kOk && h.token != 0)
    path.token = h.token;
  if (p.read_into != nullptr && s == Status::kOk) {
    const auto data = wire::payload_of(pkt);
    if (data.size() != p.hdr.length) {
      ++counters_.stray;
      return false;
    }
    std::memcpy(p.read_into, data.data(), data.size());
  }
  if (!p.retransmitted) {  // Karn: only unambiguous samples
    const uint64_t rtt = now - p.sent_ns;
    path.rtt.sample(rtt);
    path.window.on_ack(rtt, path.rtt.min_ns(), path.rtt.srtt_ns(), now);
  }
  Op& o = ops_[p.op];
  if (p.seq == o.first_seq) o.reply = h;
  finish(p, status_to_errno(s));
  return true;
}

void Engine::finish(Packet& p, int err) {
  const uint32_t i = p.index;
  if (p.state == Packet::kQueued) {
    queued_.erase_at(queued_.find(i));
  } else {
    const uint32_t last = in_flight_.back();
    in_flight_[p.flight_pos] = last;
    packets_[last].flight_pos = p.flight_pos;
    in_flight_.pop_back();
    --paths_[p.mn].in_flight;
  }
  if (p.counted) {
    Incast::outstanding().fetch_sub(p.reply_bytes, std::memory_order_relaxed);
    p.counted = false;
  }
  // Unlink from program order.
  if (p.prev != UINT32_MAX)
    packets_[p.prev].next = p.next;
  else
    head_ = p.next;
  if (p.next != UINT32_MAX)
    packets_[p.next].prev = p.prev;
  else
    tail_ = p.prev;
  Op& o = ops_[p.op];
  if (err != 0 && p.seq < o.err_seq) {
    o.err_seq = p.seq;
    o.result = err;
  }
  --o.remaining;
  pump_needed_ = true;
  p.state = Packet::kFree;
  free_packets_.push_back(i);
  // Fences whose requests have all completed stop holding anything back.
  ordering_.untrack(ordered(p),
                    head_ == UINT32_MAX ? OrderingTracker::kNoneTracked : packets_[head_].seq);
}

}  // namespace clio::cn

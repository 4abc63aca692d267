// SPDX-License-Identifier: Apache-2.0
// inproc datapath: tx_burst / rx_burst / release. No allocation, no locks.
#include <algorithm>

#include "common/clock.h"
#include "verbs_shim/inproc_port.h"

namespace clio::net {

bool InProcTransport::deliver(const Endpoint& to, std::span<const std::byte> h,
                              std::span<const std::byte> p, uint64_t flip_bit) {
  InProcPort* dst = inproc_find_port(to);
  if (dst == nullptr) return true;  // nobody there: lost, like a packet to a dead host
  return dst->push(port_->endpoint(), h, p, flip_bit);
}

void InProcTransport::flush_held(bool all) {
  if (held_count_ == 0) return;
  const uint64_t now = all ? UINT64_MAX : now_ns();
  if (now < held_earliest_) return;
  uint64_t earliest = UINT64_MAX;
  for (size_t i = 0; i < held_.size() && held_count_ > 0; ++i) {
    Held& h = held_[i];
    if (h.due_ns == 0) continue;
    if (h.due_ns <= now) {
      // A delay is not a loss: while the receiver's ring is full, the packet stays held.
      if (deliver(h.to, std::span<const std::byte>(held_data_.get() + i * kMtu, h.len), {})) {
        h.due_ns = 0;
        --held_count_;
      } else {
        earliest = std::min(earliest, now);
      }
    } else if (h.due_ns < earliest) {
      earliest = h.due_ns;
    }
  }
  held_earliest_ = earliest;
}

size_t InProcTransport::tx_burst(std::span<const TxItem> items) {
  flush_held(false);
  size_t n = 0;
  for (const TxItem& it : items) {
    if (it.header.size() + it.payload.size() > kMtu) [[unlikely]] {
      ++n;  // too large for this transport: dropped
      continue;
    }
    FaultDecision d;
    if (faults_) [[unlikely]]
      d = faults_->on_tx(it.header);
    switch (d.kind) {
      case FaultDecision::kDeliver:
        if (!deliver(it.to, it.header, it.payload)) return n;
        break;
      case FaultDecision::kDrop:
        break;
      case FaultDecision::kDuplicate:
        if (!deliver(it.to, it.header, it.payload)) return n;
        (void)deliver(it.to, it.header, it.payload);
        break;
      case FaultDecision::kCorrupt:
        if (!deliver(it.to, it.header, it.payload, d.bit)) return n;
        break;
      case FaultDecision::kDelay: {
        size_t i = 0;
        while (i < held_.size() && held_[i].due_ns != 0) ++i;
        if (i == held_.size()) {  // no room to hold it: send it now
          if (!deliver(it.to, it.header, it.payload)) return n;
          break;
        }
        Held& h = held_[i];
        h.due_ns = now_ns() + d.delay_ns;
        h.to = it.to;
        h.len = static_cast<uint32_t>(it.header.size() + it.payload.size());
        std::byte* buf = held_data_.get() + i * kMtu;
        if (!it.header.empty()) std::memcpy(buf, it.header.data(), it.header.size());
        if (!it.payload.empty())
          std::memcpy(buf + it.header.size(), it.payload.data(), it.payload.size());
        ++held_count_;
        if (h.due_ns < held_earliest_) held_earliest_ = h.due_ns;
        break;
      }
    }
    ++n;
  }
  return n;
}

size_t InProcTransport::rx_burst(std::span<PacketView> out) {
  flush_held(false);
  size_t n = 0;
  while (n < out.size() && port_->pop(&out[n])) ++n;
  return n;
}

void InProcTransport::release(std::span<const PacketView> pkts) {
  for (const PacketView& v : pkts) port_->release_one(v.token);
}

void InProcTransport::wait(uint64_t timeout_ns) {
  flush_held(false);
  if (!sleep_ || port_->ready()) return;
  // Wake up in time for our own held packets too.
  if (held_count_ != 0) {
    const uint64_t now = now_ns();
    timeout_ns = held_earliest_ <= now ? 0 : std::min(timeout_ns, held_earliest_ - now);
  }
  if (timeout_ns == 0) return;
  port_->sleep(timeout_ns, [this] { return port_->ready(); });
}

}  // namespace clio::net

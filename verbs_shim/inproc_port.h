// SPDX-License-Identifier: Apache-2.0
// Internal to the inproc backend: one port = one receive ring with many producers (any thread
// may send to it) and one consumer (the owning transport). A bounded queue in the manner of
// Vyukov's: each slot carries a sequence number that says whose turn it is.
//   seq == pos            free, the producer that claims position `pos` may fill it
//   seq == pos + 1        filled, the consumer may read it
//   seq == pos + capacity released by the consumer, free for position pos + capacity
// A slot stays readable until the consumer releases it, so rx views point into the ring.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include "common/check.h"
#include "common/doorbell.h"
#include "verbs_shim/inproc_transport.h"

namespace clio::net {

/// What an inproc Endpoint holds.
struct InProcAddress {
  static constexpr uint32_t kMagic = 0x49505243;  // "IPRC"
  uint32_t magic;
  uint32_t id;
  uint32_t generation;  ///< bumped when the port is recycled: stale endpoints reach nothing
};
static_assert(sizeof(InProcAddress) <= Endpoint::kBytes);

class InProcPort {
 public:
  static constexpr size_t kSlotBytes = (InProcTransport::kMtu + 63) & ~size_t{63};
  static constexpr size_t kSlots = InProcTransport::kRingSlots;
  static_assert((kSlots & (kSlots - 1)) == 0);

  explicit InProcPort(uint32_t id) : id_(id), slots_(new Slot[kSlots]) {
    for (size_t i = 0; i < kSlots; ++i) slots_[i].seq.store(i, std::memory_order_relaxed);
  }

  uint32_t id() const { return id_; }
  uint32_t generation() const { return generation_.load(std::memory_order_acquire); }
  Endpoint endpoint() const {
    return Endpoint::of(InProcAddress{InProcAddress::kMagic, id_, generation()});
  }

  /// Any thread. Copies header+payload (flipping bit `flip_bit` if it is not ~0) into the ring.
  /// False when the ring is full.
  bool push(const Endpoint& from, std::span<const std::byte> h, std::span<const std::byte> p,
            uint64_t flip_bit) {
    const size_t len = h.size() + p.size();
    CLIO_DCHECK(len <= kSlotBytes);
    uint64_t pos = tail_.load(std::memory_order_relaxed);
    Slot* s;
    for (;;) {
      s = &slots_[pos & (kSlots - 1)];
      const uint64_t seq = s->seq.load(std::memory_order_acquire);
      const int64_t diff = static_cast<int64_t>(seq - pos);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (diff < 0) {
        return false;  // full: the consumer has not released this slot's previous round
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
    if (!h.empty()) std::memcpy(s->data, h.data(), h.size());
    if (!p.empty()) std::memcpy(s->data + h.size(), p.data(), p.size());
    if (flip_bit != ~uint64_t{0} && len != 0) {
      const uint64_t bit = flip_bit % (len * 8);
      s->data[bit / 8] ^= std::byte{static_cast<uint8_t>(1u << (bit % 8))};
    }
    s->len = static_cast<uint32_t>(len);
    s->from = from;
    s->seq.store(pos + 1, std::memory_order_release);  // publishes the slot to the consumer
    bell_.ring();
    return true;
  }

  /// Consumer. Next filled slot as a view, or false.
  bool pop(PacketView* v) {
    Slot& s = slots_[head_ & (kSlots - 1)];
    if (s.seq.load(std::memory_order_acquire) != head_ + 1) return false;
    // The next slot is likely written by now or soon: start fetching it (header and first data
    // line) while this one is handled.
    const Slot& n = slots_[(head_ + 1) & (kSlots - 1)];
    __builtin_prefetch(&n.seq);
    __builtin_prefetch(n.data);
    v->data = std::span<const std::byte>(s.data, s.len);
    v->from = s.from;
    v->token = head_;
    ++head_;
    return true;
  }

  /// Consumer. Releases the oldest unreleased slot; `token` must be its position.
  void release_one(uint64_t token) {
    CLIO_CHECK_MSG(token == released_, "inproc: views must be released oldest first");
    Slot& s = slots_[released_ & (kSlots - 1)];
    if (poison_) [[unlikely]]
      std::memset(s.data, kPoison, s.len);
    s.seq.store(released_ + kSlots, std::memory_order_release);
    ++released_;
  }

  static constexpr int kPoison = 0xdb;
  /// The owner, before its first receive: poison slots as they are released.
  void set_poison(bool on) { poison_ = on; }
  uint64_t views_held() const { return head_ - released_; }
  uint64_t views_released() const { return released_; }

  void release_all() {
    while (released_ < head_) release_one(released_);
  }

  bool ready() const {
    return slots_[head_ & (kSlots - 1)].seq.load(std::memory_order_acquire) == head_ + 1;
  }

  template <typename F>
  void sleep(uint64_t timeout_ns, F&& has_work) {
    bell_.wait(timeout_ns, has_work);
  }

  /// Fabric only (under its lock): a fresh owner. Drains what stale senders left behind.
  void reopen() {
    PacketView v;
    while (pop(&v)) {
    }
    release_all();
  }
  void close() { generation_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  struct Slot {
    std::atomic<uint64_t> seq;
    uint32_t len = 0;
    Endpoint from;
    alignas(64) std::byte data[kSlotBytes];
  };

  const uint32_t id_;
  std::atomic<uint32_t> generation_{1};
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<uint64_t> tail_{0};  ///< next position producers claim
  alignas(64) uint64_t head_ = 0;              ///< consumer: next position to read
  uint64_t released_ = 0;                      ///< consumer: next position to release
  bool poison_ = false;                        ///< consumer: poison slots on release
  Doorbell bell_;
};

/// The live port an endpoint names, or null (lock-free).
InProcPort* inproc_find_port(const Endpoint& e);

}  // namespace clio::net

// SPDX-License-Identifier: Apache-2.0
// verbs datapath: post and poll, no allocation, no exceptions.
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/log.h"
#include "verbs_shim/verbs_transport.h"

namespace clio::net {
namespace {

bool same_host(const VerbsAddress& a, const VerbsAddress& b) {
  return a.lid == b.lid && std::memcmp(a.gid, b.gid, sizeof a.gid) == 0;
}

size_t host_hash(const VerbsAddress& a) {
  uint64_t hi, lo;
  std::memcpy(&hi, a.gid, 8);
  std::memcpy(&lo, a.gid + 8, 8);
  uint64_t h = (hi ^ (lo * 0x9E3779B97F4A7C15ull) ^ a.lid) * 0xBF58476D1CE4E5B9ull;
  return static_cast<size_t>(h ^ (h >> 31));
}

bool gid_zero(const uint8_t* g) {
  uint64_t a, b;
  std::memcpy(&a, g, 8);
  std::memcpy(&b, g + 8, 8);
  return (a | b) == 0;
}

}  // namespace

VerbsAddress VerbsTransport::sender_of(const ibv_wc& wc, const std::byte* grh) const {
  VerbsAddress a{};
  if (wc.wc_flags & IBV_WC_GRH) {
    if (port_.ipv4_roce_v2()) {
      // RoCE v2 over IPv4: the last 20 of the 40 bytes are the IPv4 header, whose source address
      // sits at offset 12; the peer's GID is that address mapped into IPv6 (::ffff:a.b.c.d).
      a.gid[10] = 0xff;
      a.gid[11] = 0xff;
      std::memcpy(a.gid + 12, grh + 20 + 12, 4);
    } else {
      std::memcpy(a.gid, grh + 8, 16);  // GRH: the source GID follows 8 bytes of flow/length/hops
    }
  }
  a.qpn = wc.src_qp;
  a.lid =
      port_.ethernet() ? 0 : wc.slid;  // RoCE has no LIDs; providers differ in what they put here
  return a;
}

size_t VerbsTransport::rx_burst(std::span<PacketView> out) {
  const size_t want = std::min(out.size(), kBurst);
  if (want == 0) return 0;
  ibv_wc polled[kBurst];
  const ibv_wc* wcs = polled;
  size_t n = 0;
  if (stash_at_ < stash_n_) [[unlikely]] {  // completions wait() already took from the CQ
    wcs = stash_ + stash_at_;
    n = std::min<size_t>(want, stash_n_ - stash_at_);
    stash_at_ += static_cast<uint32_t>(n);
    if (stash_at_ == stash_n_) stash_at_ = stash_n_ = 0;
  } else {
    const int got = ibv_poll_cq(recv_cq_.get(), static_cast<int>(want), polled);
    if (got <= 0) return 0;
    n = static_cast<size_t>(got);
  }
  auto* base = static_cast<std::byte*>(rx_memory_->data());
  uint32_t bad[kBurst];
  size_t nbad = 0, k = 0;
  for (size_t i = 0; i < n; ++i) {
    const ibv_wc& wc = wcs[i];
    const auto slot = static_cast<uint32_t>(wc.wr_id);
    const std::byte* buf = base + size_t{slot} * rx_slot_bytes_;
    if (wc.status != IBV_WC_SUCCESS || wc.byte_len < kGrhBytes) [[unlikely]] {
      if (wc.status != IBV_WC_WR_FLUSH_ERR) ++stats_.recv_errors;
      bad[nbad++] = slot;
      continue;
    }
    out[k].data = std::span<const std::byte>(buf + kGrhBytes, wc.byte_len - kGrhBytes);
    out[k].from = Endpoint::of(sender_of(wc, buf));
    out[k].token = slot;
    ++k;
  }
  if (nbad != 0) [[unlikely]]
    post_receives(bad, nbad);
  stats_.received += k;
  return k;
}

void VerbsTransport::release(std::span<const PacketView> pkts) {
  uint32_t slots[kBurst];
  while (!pkts.empty()) {
    const size_t n = std::min(pkts.size(), kBurst);
    for (size_t i = 0; i < n; ++i) slots[i] = static_cast<uint32_t>(pkts[i].token);
    post_receives(slots, n);
    pkts = pkts.subspan(n);
  }
}

void VerbsTransport::post_receives(const uint32_t* slots, size_t n) {
  if (n == 0) return;
  for (size_t i = 0; i + 1 < n; ++i) recv_wrs_[slots[i]].next = &recv_wrs_[slots[i + 1]];
  recv_wrs_[slots[n - 1]].next = nullptr;
  ibv_recv_wr* bad = nullptr;
  // Fails only when the QP is in the error state; the buffers are then lost with it.
  if (ibv_post_recv(qp_.get(), &recv_wrs_[slots[0]], &bad) != 0) [[unlikely]]
    ++stats_.recv_errors;
}

void VerbsTransport::reclaim() {
  ibv_wc wc[kBurst];
  int n;
  do {
    n = ibv_poll_cq(send_cq_.get(), static_cast<int>(kBurst), wc);
    for (int i = 0; i < n; ++i) {
      if (wc[i].status != IBV_WC_SUCCESS) [[unlikely]] {
        // An error completes even an unsignalled send and moves a UD QP to SQE; the sends after
        // it are flushed. Bring the QP back to RTS so that the next burst can go.
        if (wc[i].status != IBV_WC_WR_FLUSH_ERR) {
          ++stats_.send_errors;
          if (!warned_send_) {
            warned_send_ = true;
            CLIO_LOG(WARN, "net.verbs", "%s: send completed with %s; resuming the queue pair",
                     port_.device().c_str(), ibv_wc_status_str(wc[i].status));
          }
        }
        ibv_qp_attr a{};
        ibv_qp_init_attr ia{};
        if (ibv_query_qp(qp_.get(), &a, IBV_QP_STATE, &ia) == 0 && a.qp_state == IBV_QPS_SQE) {
          a = ibv_qp_attr{};
          a.qp_state = IBV_QPS_RTS;
          (void)ibv_modify_qp(qp_.get(), &a, IBV_QP_STATE);
        }
      }
      // Send queues complete in order: every send up to this one is done.
      completed_ = std::max(completed_, wc[i].wr_id + 1);
    }
  } while (n == static_cast<int>(kBurst));
  for (size_t i = 0; i < graveyard_.size();) {
    if (graveyard_[i].until_seq <= completed_) {
      std::swap(graveyard_[i], graveyard_.back());
      graveyard_.pop_back();  // destroys the handle
    } else {
      ++i;
    }
  }
}

ibv_ah* VerbsTransport::ah_for(const VerbsAddress& to, uint64_t seq) {
  VerbsAddress key = to;
  key.qpn = 0;
  key.reserved = 0;
  AhSlot* set = &ah_sets_[(host_hash(key) & ah_set_mask_) * kAhWays];
  AhSlot* victim = nullptr;
  for (size_t w = 0; w < kAhWays; ++w) {
    AhSlot& s = set[w];
    if (s.ah && same_host(s.key, key)) [[likely]] {
      s.last_seq = seq;
      s.used = ++ah_clock_;
      return s.ah.get();
    }
    if (victim == nullptr || (victim->ah && (!s.ah || s.used < victim->used))) victim = &s;
  }
  // First contact with this host (or it was evicted): make a handle. A system call on most
  // providers; the cache keeps it off the steady-state path.
  const bool busy_victim = victim->ah && victim->last_seq >= completed_;
  if (busy_victim && graveyard_.size() == kAhGraveyard) {
    reclaim();
    if (graveyard_.size() == kAhGraveyard) return nullptr;  // counted by the caller; rare churn
  }
  ibv_ah_attr attr{};
  attr.port_num = port_.port_num();
  attr.dlid = key.lid;
  if (!gid_zero(key.gid)) {
    attr.is_global = 1;
    std::memcpy(attr.grh.dgid.raw, key.gid, sizeof key.gid);
    attr.grh.sgid_index = static_cast<uint8_t>(port_.gid_index());
    attr.grh.hop_limit = 64;
  }
  errno = 0;
  VerbsAh ah(ibv_create_ah(pd_.get(), &attr));
  if (!ah) [[unlikely]] {
    last_ah_errno_ = errno;
    if (!warned_ah_) {
      warned_ah_ = true;
      ibv_gid g;
      std::memcpy(g.raw, key.gid, sizeof g.raw);
      CLIO_LOG(WARN, "net.verbs",
               "%s: ibv_create_ah toward %s failed: %s (errno %d); packets to it are dropped\n%s",
               port_.device().c_str(), gid_text(g).c_str(), std::strerror(last_ah_errno_),
               last_ah_errno_,
               gid_hint(port_.device(), port_.port_num(), port_.gid_index()).c_str());
    }
    return nullptr;
  }
  ++stats_.ah_created;
  if (victim->ah) {
    ++stats_.ah_evicted;
    if (victim->last_seq >= completed_) {
      // A send still in flight may use it: keep it until a later send completes.
      graveyard_.push_back(Buried{std::move(victim->ah), victim->last_seq + 1});
      force_signal_ = true;
    } else {
      victim->ah.reset();
    }
  }
  victim->key = key;
  victim->ah = std::move(ah);
  victim->last_seq = seq;
  victim->used = ++ah_clock_;
  return victim->ah.get();
}

size_t VerbsTransport::tx_burst(std::span<const TxItem> items) {
  if (next_seq_ - completed_ >= kSignalEvery) reclaim();
  auto* tx_base = static_cast<std::byte*>(tx_memory_->data());
  size_t done = 0;
  while (done < items.size()) {
    const size_t n = std::min(items.size() - done, kBurst);
    ibv_send_wr* head = nullptr;
    ibv_send_wr** link = &head;
    size_t posted = 0, i = 0;
    bool full = false;
    for (; i < n; ++i) {
      const TxItem& it = items[done + i];
      const size_t len = it.header.size() + it.payload.size();
      if (len > mtu_) [[unlikely]] {
        ++stats_.oversized;  // dropped, and accepted: as a network would
        continue;
      }
      if (next_seq_ - completed_ >= tx_slots_) [[unlikely]] {
        reclaim();
        if (next_seq_ - completed_ >= tx_slots_) {
          full = true;
          break;
        }
      }
      const VerbsAddress to = it.to.as<VerbsAddress>();
      const uint64_t seq = next_seq_;
      ibv_ah* ah = ah_for(to, seq);
      if (ah == nullptr) [[unlikely]] {
        ++stats_.unreachable;
        continue;
      }
      const auto slot = static_cast<uint32_t>(seq % tx_slots_);
      ibv_send_wr& wr = send_wrs_[slot];
      ibv_sge* sge = &send_sges_[2 * size_t{slot}];
      wr.wr_id = seq;
      wr.next = nullptr;
      wr.sg_list = sge;
      if (len <= max_inline_) {
        // Inline: the provider copies the bytes at post time; no slot, no lkey.
        int k = 0;
        if (!it.header.empty())
          sge[k++] = ibv_sge{reinterpret_cast<uint64_t>(it.header.data()),
                             static_cast<uint32_t>(it.header.size()), 0};
        if (!it.payload.empty())
          sge[k++] = ibv_sge{reinterpret_cast<uint64_t>(it.payload.data()),
                             static_cast<uint32_t>(it.payload.size()), 0};
        wr.num_sge = k;
        wr.send_flags = IBV_SEND_INLINE;
      } else {
        std::byte* buf = tx_base + size_t{slot} * tx_slot_bytes_;
        if (!it.header.empty()) std::memcpy(buf, it.header.data(), it.header.size());
        if (!it.payload.empty())
          std::memcpy(buf + it.header.size(), it.payload.data(), it.payload.size());
        sge[0] = ibv_sge{reinterpret_cast<uint64_t>(buf), static_cast<uint32_t>(len), tx_mr_->lkey};
        wr.num_sge = 1;
        wr.send_flags = 0;
      }
      if (seq % kSignalEvery == kSignalEvery - 1 || force_signal_) {
        wr.send_flags |= IBV_SEND_SIGNALED;
        force_signal_ = false;
      }
      wr.wr.ud.ah = ah;
      wr.wr.ud.remote_qpn = to.qpn;
      wr.wr.ud.remote_qkey = kQkey;
      *link = &wr;
      link = &wr.next;
      wr_item_[posted++] = done + i;
      ++next_seq_;
    }
    if (head != nullptr) {
      ibv_send_wr* bad = nullptr;
      stats_.sent += posted;
      if (ibv_post_send(qp_.get(), head, &bad) != 0) [[unlikely]] {
        // The WRs from `bad` on were not posted. They are the newest, so their numbers are given
        // back; the caller retries their items.
        size_t unposted = 0;
        for (ibv_send_wr* w = bad; w != nullptr; w = w->next) ++unposted;
        if (bad == nullptr || unposted > posted) unposted = posted;
        next_seq_ -= unposted;
        stats_.sent -= unposted;
        ++stats_.send_errors;
        if (unposted == 0) return done + i;
        return wr_item_[posted - unposted];
      }
    }
    done += i;
    if (full) return done;
  }
  return done;
}

void VerbsTransport::wait(uint64_t timeout_ns) {
  if (!channel_ || timeout_ns == 0) return;
  if (stash_at_ < stash_n_) return;
  if (ibv_req_notify_cq(recv_cq_.get(), 0) != 0) return;
  // A receive that landed before the arm raises no event: look once more before sleeping.
  const int n = ibv_poll_cq(recv_cq_.get(), static_cast<int>(kBurst), stash_);
  if (n > 0) {
    stash_n_ = static_cast<uint32_t>(n);
    stash_at_ = 0;
    return;
  }
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000u);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000u);
  pollfd p{channel_->fd, POLLIN, 0};
  if (ppoll(&p, 1, &ts, nullptr) > 0) {
    ibv_cq* cq = nullptr;
    void* cq_context = nullptr;
    if (ibv_get_cq_event(channel_.get(), &cq, &cq_context) == 0) ibv_ack_cq_events(cq, 1);
  }
}

}  // namespace clio::net

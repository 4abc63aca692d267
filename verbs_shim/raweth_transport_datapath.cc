// SPDX-License-Identifier: Apache-2.0
// raweth datapath: frames are read in place from the receive ring and handed back to the kernel
// on release(); sends are gathered and batched with sendmmsg. No allocation, no exceptions.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "verbs_shim/raweth_transport.h"

namespace clio::net {
namespace {

uint32_t load_status(const volatile uint32_t* s) {
  return __atomic_load_n(const_cast<const uint32_t*>(s), __ATOMIC_ACQUIRE);
}
void give_back(volatile uint32_t* s) {
  __atomic_store_n(const_cast<uint32_t*>(s), TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}

}  // namespace

size_t RawEthTransport::tx_burst(std::span<const TxItem> items) {
  if (xdp_ != nullptr) return tx_xdp(items);
  size_t done = 0;
  mmsghdr msgs[kBurst];
  iovec iovs[3 * kBurst];
  while (done < items.size()) {
    const size_t n = std::min(items.size() - done, kBurst);
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) {
      const TxItem& it = items[done + i];
      const size_t len = it.header.size() + it.payload.size();
      if (len > mtu_) continue;  // dropped: too large
      RawEthFrameHeader& f = tx_headers_[k];
      f = frame_header(it.to, len);
      iovs[3 * k] = iovec{&f, sizeof f};
      iovs[3 * k + 1] = iovec{const_cast<std::byte*>(it.header.data()), it.header.size()};
      iovs[3 * k + 2] = iovec{const_cast<std::byte*>(it.payload.data()), it.payload.size()};
      msghdr& h = msgs[k].msg_hdr;
      h = msghdr{};
      h.msg_iov = &iovs[3 * k];
      h.msg_iovlen = it.payload.empty() ? 2 : 3;
      ++k;
    }
    if (k == 0) {
      done += n;
      continue;
    }
    const int sent = sendmmsg(fd_.get(), msgs, static_cast<unsigned>(k), MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return done;
      done += n;  // the link refused the burst (down, say): lost, as on a wire
      continue;
    }
    if (static_cast<size_t>(sent) < k)
      return done + items_through(items.subspan(done, n), static_cast<size_t>(sent), mtu_);
    done += n;
  }
  return done;
}

RawEthFrameHeader RawEthTransport::frame_header(const Endpoint& to_ep, size_t len) const {
  const auto to = to_ep.as<RawEthAddress>();
  RawEthFrameHeader f;
  std::memcpy(f.dst, to.mac, 6);
  std::memcpy(f.src, self_.mac, 6);
  f.ethertype_be = htons(kClioEtherType);
  f.dst_port_be = htons(to.port);
  f.src_port_be = htons(self_.port);
  f.len_be = htons(static_cast<uint16_t>(len));
  f.reserved = 0;
  return f;
}

bool RawEthTransport::accept(const std::byte* frame, uint32_t len, PacketView* v) {
  if (len < sizeof(RawEthFrameHeader)) return false;
  RawEthFrameHeader f;
  std::memcpy(&f, frame, sizeof f);
  if (ntohs(f.ethertype_be) != kClioEtherType || ntohs(f.dst_port_be) != self_.port) return false;
  const uint32_t dlen = ntohs(f.len_be);
  // Short frames arrive padded; a length beyond the frame or our MTU is a lie.
  if (dlen > len - sizeof f || dlen > mtu_) return false;
  RawEthAddress from{};
  std::memcpy(from.mac, f.src, 6);
  from.port = ntohs(f.src_port_be);
  v->data = std::span<const std::byte>(frame + sizeof f, dlen);
  v->from = Endpoint::of(from);
  return true;
}

size_t RawEthTransport::rx_burst(std::span<PacketView> out) {
  if (xdp_ != nullptr) return rx_xdp(out);
  return v3_ ? rx_v3(out) : rx_v2(out);
}

// v2: one status word per frame slot. A slot handed out stays ours until release(); the walk
// stops there rather than lap it.
size_t RawEthTransport::rx_v2(std::span<PacketView> out) {
  size_t k = 0;
  while (k < out.size()) {
    const uint32_t slot = static_cast<uint32_t>(rx_next_ % frames_);
    std::byte* base = ring_ + static_cast<size_t>(slot) * frame_bytes_;
    auto* h = reinterpret_cast<tpacket2_hdr*>(base);
    const uint32_t st = load_status(&h->tp_status);
    if (!(st & TP_STATUS_USER)) break;
    if (held_[slot]) break;  // still held from the previous lap
    ++rx_next_;
    const bool ok = !(st & TP_STATUS_COPY) && h->tp_mac + h->tp_snaplen <= frame_bytes_ &&
                    accept(base + h->tp_mac, h->tp_snaplen, &out[k]);
    if (!ok) {
      ++dropped_;
      give_back(&h->tp_status);
      continue;
    }
    held_[slot] = 1;
    out[k++].token = slot;
  }
  return k;
}

// v3: the kernel hands over whole blocks; a block goes back when every frame in it has been
// looked at and every view into it released.
size_t RawEthTransport::rx_v3(std::span<PacketView> out) {
  size_t k = 0;
  while (k < out.size()) {
    const uint32_t b = static_cast<uint32_t>(rx_next_);
    std::byte* base = ring_ + static_cast<size_t>(b) * block_bytes_;
    auto* desc = reinterpret_cast<tpacket_block_desc*>(base);
    if (v3_seen_ == 0) {
      if (v3_done_[b] || !(load_status(&desc->hdr.bh1.block_status) & TP_STATUS_USER)) break;
      v3_offset_ = desc->hdr.bh1.offset_to_first_pkt;
    }
    const uint32_t count = desc->hdr.bh1.num_pkts;
    while (v3_seen_ < count && k < out.size()) {
      if (v3_offset_ + sizeof(tpacket3_hdr) > block_bytes_) {  // never, unless the ring is corrupt
        v3_seen_ = count;
        break;
      }
      auto* h = reinterpret_cast<tpacket3_hdr*>(base + v3_offset_);
      const bool ok = !(h->tp_status & TP_STATUS_COPY) &&
                      v3_offset_ + h->tp_mac + h->tp_snaplen <= block_bytes_ &&
                      accept(base + v3_offset_ + h->tp_mac, h->tp_snaplen, &out[k]);
      v3_offset_ += h->tp_next_offset;
      ++v3_seen_;
      if (!ok) {
        ++dropped_;
        continue;
      }
      ++v3_held_[b];
      out[k++].token = b;
    }
    if (v3_seen_ < count) break;  // `out` is full
    v3_seen_ = 0;
    v3_done_[b] = 1;
    if (v3_held_[b] == 0) {
      v3_done_[b] = 0;
      give_back(&desc->hdr.bh1.block_status);
    }
    rx_next_ = (b + 1) % blocks_;
  }
  return k;
}

void RawEthTransport::release(std::span<const PacketView> pkts) {
  if (xdp_ != nullptr) return release_xdp(pkts);
  for (const PacketView& v : pkts) {
    const auto i = static_cast<uint32_t>(v.token);
    if (!v3_) {
      held_[i] = 0;
      give_back(&reinterpret_cast<tpacket2_hdr*>(ring_ + static_cast<size_t>(i) * frame_bytes_)
                     ->tp_status);
    } else if (--v3_held_[i] == 0 && v3_done_[i]) {
      v3_done_[i] = 0;
      give_back(
          &reinterpret_cast<tpacket_block_desc*>(ring_ + static_cast<size_t>(i) * block_bytes_)
               ->hdr.bh1.block_status);
    }
  }
}

void RawEthTransport::wait(uint64_t timeout_ns) {
  if (!sleep_ || timeout_ns == 0) return;
  if (xdp_ != nullptr) return wait_xdp(timeout_ns);
  pollfd p{fd_.get(), POLLIN, 0};
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000u);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000u);
  ppoll(&p, 1, &ts, nullptr);
}

}  // namespace clio::net

// SPDX-License-Identifier: Apache-2.0
// udp datapath: batched system calls and UDP offload (runs of packets), no allocation.
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "verbs_shim/udp_transport.h"

namespace clio::net {

size_t UdpTransport::tx_burst(std::span<const TxItem> items) {
  size_t done = 0;
  while (done < items.size()) {
    const size_t n = std::min(items.size() - done, kBurst);
    // Datagrams: one per item, or one per run of items to one peer of one length (the run's
    // last may be shorter) when offload is on; run_start_[d] is datagram d's first item.
    uint16_t runs[kBurst], segs[kBurst];
    size_t k = 0, iov = 0, bytes = 0;
    bool open = false;  // datagram k - 1 may take more items
    for (size_t i = 0; i < n; ++i) {
      const TxItem& it = items[done + i];
      const size_t len = it.header.size() + it.payload.size();
      if (len > mtu_) continue;  // dropped: too large
      msghdr* h;
      if (open && len != 0 && len <= segs[k - 1] && runs[k - 1] < kMaxRun &&
          bytes + len <= kMaxDatagram && it.to == items[done + run_start_[k - 1]].to) {
        h = &msgs_[k - 1].msg_hdr;
        ++runs[k - 1];
        bytes += len;
        open = len == segs[k - 1];
      } else {
        addrs_[k] = it.to.as<UdpAddress>();
        h = &msgs_[k].msg_hdr;
        *h = msghdr{};
        h->msg_name = &addrs_[k];
        h->msg_namelen = addrs_[k].len();
        h->msg_iov = &iovs_[iov];
        run_start_[k] = static_cast<uint32_t>(i);
        runs[k] = 1;
        segs[k] = static_cast<uint16_t>(len);
        bytes = len;
        open = offload_.gso && len != 0 && len < gso_limit_;
        ++k;
      }
      iovs_[iov++] = iovec{const_cast<std::byte*>(it.header.data()), it.header.size()};
      if (!it.payload.empty())
        iovs_[iov++] = iovec{const_cast<std::byte*>(it.payload.data()), it.payload.size()};
      h->msg_iovlen = static_cast<size_t>(&iovs_[iov] - h->msg_iov);
    }
    if (k == 0) {
      done += n;
      continue;
    }
    for (size_t d = 0; d < k; ++d) {
      if (runs[d] < 2) continue;
      msghdr& h = msgs_[d].msg_hdr;
      h.msg_control = controls_[d].bytes;
      h.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      std::memcpy(CMSG_DATA(c), &segs[d], sizeof(uint16_t));
    }
    int sent = sendmmsg(fd_.get(), msgs_.data(), static_cast<unsigned>(k), MSG_DONTWAIT);
    if (sent < 0 && errno == ECONNREFUSED) {
      // A connected socket's pending error (an earlier packet's ICMP port unreachable), handed
      // to this call and cleared by it; nothing was sent, so send once more.
      peer_error_ = ECONNREFUSED;
      sent = sendmmsg(fd_.get(), msgs_.data(), static_cast<unsigned>(k), MSG_DONTWAIT);
    }
    if (sent < 0 && runs[0] > 1 && (errno == EIO || errno == EINVAL)) {
      // The kernel would not segment the first run: EIO, not at all on this route (no checksum
      // offload); EINVAL, not at this size (larger than the path allows). Nothing was sent;
      // group this chunk again without it.
      ++offload_.gso_refusals;
      if (errno == EIO) offload_.gso = false;
      gso_limit_ = std::min<uint32_t>(gso_limit_, segs[0]);
      continue;
    }
    if (sent < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return done;
      // Anything else (an unreachable peer, a bad address) loses this burst, as a network would.
      done += n;
      continue;
    }
    for (int d = 0; d < sent; ++d)
      if (runs[d] > 1) ++offload_.gso_sends, offload_.gso_packets += runs[d];
    if (static_cast<size_t>(sent) < k) return done + run_start_[static_cast<size_t>(sent)];
    done += n;
  }
  return done;
}

size_t UdpTransport::cut_pending(std::span<PacketView> out, size_t k) {
  while (pending_head_ < pending_.size() && k < out.size()) {
    Pending& p = pending_[pending_head_];
    const uint32_t len = std::min(p.seg, p.end - p.at);
    out[k].data = std::span<const std::byte>(
        rx_memory_.get() + static_cast<size_t>(p.buf) * rx_bytes_ + p.at, len);
    out[k].from = p.from;
    out[k].token = p.buf;
    ++k;
    p.at += len;
    if (p.at >= p.end) ++pending_head_;  // a zero-length datagram gives one empty view
  }
  if (pending_head_ == pending_.size()) {
    pending_.clear();
    pending_head_ = 0;
  }
  return k;
}

size_t UdpTransport::rx_burst(std::span<PacketView> out) {
  size_t k = cut_pending(out, 0);
  // Datagrams are read only once those already read are all handed out, so at most kBurst wait.
  const size_t n = std::min({out.size() - k, kBurst, rx_free_.size()});
  if (n == 0 || !pending_.empty()) return k;
  uint32_t bufs[kBurst];
  for (size_t i = 0; i < n; ++i) {
    bufs[i] = rx_free_[rx_free_.size() - 1 - i];
    addrs_[i] = UdpAddress{};
    iovs_[i] = iovec{rx_memory_.get() + static_cast<size_t>(bufs[i]) * rx_bytes_, rx_bytes_};
    msghdr& h = msgs_[i].msg_hdr;
    h = msghdr{};
    h.msg_name = &addrs_[i];
    h.msg_namelen = sizeof(UdpAddress);
    h.msg_iov = &iovs_[i];
    h.msg_iovlen = 1;
    if (offload_.gro) {
      h.msg_control = controls_[i].bytes;
      h.msg_controllen = sizeof controls_[i].bytes;
    }
  }
  const int got =
      recvmmsg(fd_.get(), msgs_.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  if (got <= 0) {
    // A connected socket reports the server's ICMP port unreachable here (once; the kernel
    // clears it), before any datagram still queued.
    if (got < 0 && errno == ECONNREFUSED) peer_error_ = ECONNREFUSED;
    return k;
  }
  peer_error_ = 0;  // a connected socket receives from the server only
  rx_free_.resize(rx_free_.size() - static_cast<size_t>(got));  // buffers bufs[0..got) taken
  for (int i = 0; i < got; ++i) {
    const msghdr& h = msgs_[i].msg_hdr;
    if (h.msg_flags & MSG_TRUNC) {  // larger than our MTU: drop it
      rx_free_.push_back(bufs[i]);
      continue;
    }
    const uint32_t len = msgs_[i].msg_len;
    uint32_t seg = len;
    if (offload_.gro) {
      for (const cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
           c = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(c))) {
        if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO) continue;
        int size = 0;
        std::memcpy(&size, CMSG_DATA(c), sizeof size);
        if (size > 0 && static_cast<uint32_t>(size) < len) seg = static_cast<uint32_t>(size);
      }
    }
    const uint32_t views = len == 0 ? 1 : (len + seg - 1) / seg;
    if (views > 1) ++offload_.gro_datagrams, offload_.gro_packets += views;
    rx_refs_[bufs[i]] = views;
    pending_.push_back(Pending{bufs[i], 0, len, seg, Endpoint::of(addrs_[i])});
  }
  return cut_pending(out, k);
}

void UdpTransport::release(std::span<const PacketView> pkts) {
  for (const PacketView& v : pkts)
    if (--rx_refs_[v.token] == 0) rx_free_.push_back(static_cast<uint32_t>(v.token));
}

void UdpTransport::wait(uint64_t timeout_ns) {
  if (epfd_.get() < 0 || timeout_ns == 0) return;
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000u);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000u);
  epoll_event ev;
  epoll_pwait2(epfd_.get(), &ev, 1, &ts, nullptr);
}

}  // namespace clio::net

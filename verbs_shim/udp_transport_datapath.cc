// udp datapath: batched system calls, no allocation.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "verbs_shim/udp_transport.h"

namespace clio::net {

size_t UdpTransport::tx_burst(std::span<const TxItem> items) {
  size_t done = 0;
  while (done < items.size()) {
    const size_t n = std::min(items.size() - done, kBurst);
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) {
      const TxItem& it = items[done + i];
      if (it.header.size() + it.payload.size() > mtu_) continue;  // dropped: too large
      addrs_[k] = it.to.as<UdpAddress>();
      iovs_[2 * k] = iovec{const_cast<std::byte*>(it.header.data()), it.header.size()};
      iovs_[2 * k + 1] = iovec{const_cast<std::byte*>(it.payload.data()), it.payload.size()};
      msghdr& h = msgs_[k].msg_hdr;
      h = msghdr{};
      h.msg_name = &addrs_[k];
      h.msg_namelen = addrs_[k].len();
      h.msg_iov = &iovs_[2 * k];
      h.msg_iovlen = it.payload.empty() ? 1 : 2;
      ++k;
    }
    if (k == 0) {
      done += n;
      continue;
    }
    int sent = sendmmsg(fd_, msgs_.data(), static_cast<unsigned>(k), MSG_DONTWAIT);
    if (sent < 0 && errno == ECONNREFUSED) {
      // A connected socket's pending error (an earlier packet's ICMP port unreachable), handed
      // to this call and cleared by it; nothing was sent, so send once more.
      peer_error_ = ECONNREFUSED;
      sent = sendmmsg(fd_, msgs_.data(), static_cast<unsigned>(k), MSG_DONTWAIT);
    }
    if (sent < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return done;
      // Anything else (an unreachable peer, a bad address) loses this burst, as a network would.
      done += n;
      continue;
    }
    if (static_cast<size_t>(sent) < k)
      return done + items_through(items.subspan(done, n), static_cast<size_t>(sent), mtu_);
    done += n;
  }
  return done;
}

size_t UdpTransport::rx_burst(std::span<PacketView> out) {
  const size_t n = std::min({out.size(), kBurst, rx_free_.size()});
  if (n == 0) return 0;
  uint32_t bufs[kBurst];
  for (size_t i = 0; i < n; ++i) {
    bufs[i] = rx_free_[rx_free_.size() - 1 - i];
    addrs_[i] = UdpAddress{};
    iovs_[i] = iovec{rx_memory_.get() + static_cast<size_t>(bufs[i]) * mtu_, mtu_};
    msghdr& h = msgs_[i].msg_hdr;
    h = msghdr{};
    h.msg_name = &addrs_[i];
    h.msg_namelen = sizeof(UdpAddress);
    h.msg_iov = &iovs_[i];
    h.msg_iovlen = 1;
  }
  const int got = recvmmsg(fd_, msgs_.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  if (got <= 0) {
    // A connected socket reports the server's ICMP port unreachable here (once; the kernel
    // clears it), before any datagram still queued.
    if (got < 0 && errno == ECONNREFUSED) peer_error_ = ECONNREFUSED;
    return 0;
  }
  peer_error_ = 0;  // a connected socket receives from the server only
  rx_free_.resize(rx_free_.size() - static_cast<size_t>(got));  // buffers bufs[0..got) taken
  size_t k = 0;
  for (int i = 0; i < got; ++i) {
    if (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) {  // larger than our MTU: drop it
      rx_free_.push_back(bufs[i]);
      continue;
    }
    out[k].data = std::span<const std::byte>(rx_memory_.get() + static_cast<size_t>(bufs[i]) * mtu_,
                                             msgs_[i].msg_len);
    out[k].from = Endpoint::of(addrs_[i]);
    out[k].token = bufs[i];
    ++k;
  }
  return k;
}

void UdpTransport::release(std::span<const PacketView> pkts) {
  for (const PacketView& v : pkts) rx_free_.push_back(static_cast<uint32_t>(v.token));
}

void UdpTransport::wait(uint64_t timeout_ns) {
  if (epfd_ < 0 || timeout_ns == 0) return;
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000u);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000u);
  epoll_event ev;
  epoll_pwait2(epfd_, &ev, 1, &ts, nullptr);
}

}  // namespace clio::net

// SPDX-License-Identifier: Apache-2.0
// verbs: the endpoint exchange (the control plane that tells a client the server's QP and the
// server the client's, over UDP; see "Endpoint exchange" in verbs_transport.h). The listen side
// answers hellos on its own thread; the connect side repeats its hello until answered.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/log.h"
#include "verbs_shim/sockets.h"
#include "verbs_shim/verbs_transport.h"

namespace clio::net {
namespace {

/// The endpoint exchange datagram: a client's request and the server's answer have this shape.
/// Little-endian, copied as it is (the wire format makes the same assumption: common/wire.h).
struct VerbsHello {
  uint32_t magic;     ///< kHelloMagic
  uint16_t version;   ///< kHelloVersion
  uint16_t kind;      ///< kHelloRequest or kHelloAnswer
  uint64_t nonce;     ///< chosen by the client, echoed by the server
  uint32_t qkey;      ///< the sender's QKey
  uint32_t mtu;       ///< the sender's largest datagram, bytes
  VerbsAddress addr;  ///< the sender's own address
};
static_assert(sizeof(VerbsHello) == 48);
static_assert(offsetof(VerbsHello, nonce) == 8 && offsetof(VerbsHello, addr) == 24);
static_assert(std::endian::native == std::endian::little);
constexpr uint32_t kHelloMagic = 0x48564C43;  // "CLVH"
constexpr uint16_t kHelloVersion = 1;
constexpr uint16_t kHelloRequest = 1;
constexpr uint16_t kHelloAnswer = 2;
constexpr uint64_t kHelloRepeatNs = 250'000'000;

bool is_hello(const VerbsHello& h, ssize_t n, uint16_t kind) {
  return n == static_cast<ssize_t>(sizeof h) && h.magic == kHelloMagic &&
         h.version == kHelloVersion && h.kind == kind;
}

}  // namespace

std::string gid_of(const VerbsAddress& a) {
  ibv_gid g;
  std::memcpy(g.raw, a.gid, sizeof g.raw);
  return gid_text(g);
}

uint16_t VerbsTransport::serve_exchange(const std::string& host, uint16_t port) {
  const std::string& dev = port_.device();
  const std::string what =
      "verbs " + dev + " (endpoint exchange on " + host + ":" + std::to_string(port) + ")";
  const SockAddr at = resolve(host, port, SOCK_DGRAM, "verbs");
  udp_fd_ = open_socket(at.sa.sa_family, SOCK_DGRAM, what);
  const int one = 1;
  if (setsockopt(udp_fd_.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw last_error(what, "setsockopt(SO_REUSEPORT)");
  bind_to(udp_fd_.get(), at, what);
  stop_fd_.reset(eventfd(0, EFD_CLOEXEC));
  if (!stop_fd_.valid()) throw last_error(what, "eventfd");
  hello_thread_ = std::thread([this] { answer_hellos(); });
  return local_address(udp_fd_.get()).port();
}

void VerbsTransport::stop_exchange() {
  if (!hello_thread_.joinable()) return;
  const uint64_t one = 1;
  if (write(stop_fd_.get(), &one, sizeof one) != sizeof one)
    CLIO_LOG(WARN, "net.verbs", "cannot stop the hello thread: %s", std::strerror(errno));
  hello_thread_.join();
}

void VerbsTransport::answer_hellos() {
  pollfd fds[2] = {{udp_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      CLIO_LOG(ERROR, "net.verbs", "endpoint exchange stopped: poll: %s", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    VerbsHello h{};
    SockAddr from{};
    socklen_t flen = sizeof from;
    const ssize_t n = recvfrom(udp_fd_.get(), &h, sizeof h, MSG_DONTWAIT, &from.sa, &flen);
    if (!is_hello(h, n, kHelloRequest)) {
      if (n >= 0) CLIO_LOG(DEBUG, "net.verbs", "endpoint exchange: ignored a %zd-byte datagram", n);
      continue;
    }
    VerbsHello a{};
    a.magic = kHelloMagic;
    a.version = kHelloVersion;
    a.kind = kHelloAnswer;
    a.nonce = h.nonce;
    a.qkey = kQkey;
    a.mtu = mtu_;
    a.addr = self_;
    if (sendto(udp_fd_.get(), &a, sizeof a, 0, &from.sa, flen) != static_cast<ssize_t>(sizeof a)) {
      CLIO_LOG(WARN, "net.verbs", "endpoint exchange: sendto: %s", std::strerror(errno));
      continue;
    }
    hellos_.fetch_add(1, std::memory_order_relaxed);
    CLIO_LOG(DEBUG, "net.verbs", "hello from qpn %u (%s): answered with qpn %u", h.addr.qpn,
             gid_of(h.addr).c_str(), self_.qpn);
  }
}

VerbsAddress VerbsTransport::exchange(const std::string& host, uint16_t port, uint64_t timeout_ms,
                                      uint32_t* peer_mtu) {
  const std::string& dev = port_.device();
  const std::string where = host + ":" + std::to_string(port);
  const std::string what = "verbs " + dev + " (endpoint exchange with " + where + ")";
  const SockAddr peer = resolve(host, port, SOCK_DGRAM, "verbs");
  const UniqueFd fd = open_socket(peer.sa.sa_family, SOCK_DGRAM, what);

  VerbsHello req{};
  req.magic = kHelloMagic;
  req.version = kHelloVersion;
  req.kind = kHelloRequest;
  if (getrandom(&req.nonce, sizeof req.nonce, 0) != sizeof req.nonce)
    req.nonce = now_ns() ^ getpid();
  req.qkey = kQkey;
  req.mtu = mtu_;
  req.addr = self_;

  // Repeat the hello until an answer with our nonce comes: UDP may lose either datagram, and the
  // server may still be starting.
  const uint64_t deadline = now_ns() + timeout_ms * 1'000'000;
  VerbsHello ans{};
  bool answered = false;
  while (!answered && now_ns() < deadline) {
    if (sendto(fd.get(), &req, sizeof req, 0, &peer.sa, peer.len()) < 0 && errno != ECONNREFUSED &&
        errno != EAGAIN)
      throw last_error(what, "sendto");
    const uint64_t until = std::min(deadline, now_ns() + kHelloRepeatNs);
    for (uint64_t now = now_ns(); !answered && now < until; now = now_ns()) {
      pollfd p{fd.get(), POLLIN, 0};
      const int r = poll(&p, 1, static_cast<int>((until - now + 999'999) / 1'000'000));
      if (r < 0 && errno != EINTR) throw last_error(what, "poll");
      if (r <= 0) continue;
      const ssize_t n = recv(fd.get(), &ans, sizeof ans, MSG_DONTWAIT);
      answered = is_hello(ans, n, kHelloAnswer) && ans.nonce == req.nonce;
    }
  }
  if (!answered)
    throw TransportError(TransportError::Kind::kTimeout,
                         "verbs " + dev + ": no endpoint answer from " + where + " within " +
                             std::to_string(timeout_ms) +
                             " ms (is a verbs server listening there?)");
  if (ans.qkey != kQkey)
    throw TransportError(TransportError::Kind::kSystem,
                         "verbs " + dev + ": the server at " + where + " uses QKey " +
                             std::to_string(ans.qkey) + ", not this build's " +
                             std::to_string(kQkey));
  *peer_mtu = ans.mtu;
  return ans.addr;
}

}  // namespace clio::net

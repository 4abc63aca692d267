// SPDX-License-Identifier: Apache-2.0
// verbs set-up and teardown, and the endpoint exchange (the datapath is in
// verbs_transport_datapath.cc).
#include "verbs_shim/verbs_transport.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "common/clock.h"
#include "common/log.h"

namespace clio::net {
namespace {

constexpr LocatorKey kKeys[] = {
    {"dev", ""},        {"gid", ""},  {"ibport", ""},         {"host", ""},
    {"bind", ""},       {"port", ""}, {"poll", "busy|event"}, {"mtu", ""},
    {"rx", ""},         {"tx", ""},   {"inline", ""},         {"ah_cache", ""},
    {"timeout_ms", ""},
};

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

uint32_t round_up_64(uint32_t v) { return (v + 63) & ~uint32_t{63}; }

std::string gid_of(const VerbsAddress& a) {
  ibv_gid g;
  std::memcpy(g.raw, a.gid, sizeof g.raw);
  return gid_text(g);
}

TransportError verbs_sys_error(const std::string& what, const char* call) {
  const int e = errno;
  return sys_error("verbs " + what, call, e);
}

sockaddr_storage resolve(const std::string& host, uint16_t port, socklen_t* len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0)
    throw TransportError(TransportError::Kind::kNoDevice,
                         "verbs: cannot resolve host '" + host + "': " + gai_strerror(rc));
  sockaddr_storage a{};
  *len = static_cast<socklen_t>(std::min<size_t>(res->ai_addrlen, sizeof a));
  std::memcpy(&a, res->ai_addr, *len);
  freeaddrinfo(res);
  return a;
}

uint16_t port_of(const sockaddr_storage& a) {
  return ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(a).sin6_port
                                       : reinterpret_cast<const sockaddr_in&>(a).sin_port);
}

}  // namespace

struct VerbsTransport::Options {
  std::string dev;
  int gid = -1;
  uint8_t ibport = 1;
  bool event = false;
  uint32_t mtu_cap = 0;
  uint32_t rx = 512;
  uint32_t tx = 256;
  uint32_t inline_bytes = 256;
  uint32_t ah_cache = 1024;
  uint64_t timeout_ms = 20'000;

  static Options from(const Locator& l) {
    l.check_keys(kKeys);
    Options o;
    o.dev = l.get("dev", "");
    if (l.has("gid")) o.gid = static_cast<int>(l.get_uint("gid", 0, 0, 255));
    o.ibport = static_cast<uint8_t>(l.get_uint("ibport", 1, 1, 255));
    o.event = l.get_choice("poll", "busy", kKeys) == "event";
    o.mtu_cap = static_cast<uint32_t>(l.get_uint("mtu", 0, 256, 1u << 20));
    o.rx = static_cast<uint32_t>(l.get_uint("rx", o.rx, 16, 1u << 16));
    o.tx = static_cast<uint32_t>(l.get_uint("tx", o.tx, 4 * kSignalEvery, 1u << 16));
    o.inline_bytes = static_cast<uint32_t>(l.get_uint("inline", o.inline_bytes, 0, 4096));
    o.ah_cache = static_cast<uint32_t>(l.get_uint("ah_cache", o.ah_cache, kAhWays, 1u << 20));
    o.timeout_ms = l.get_uint("timeout_ms", o.timeout_ms, 1, 3'600'000);
    return o;
  }
};

VerbsTransport::VerbsTransport(VerbsPort port, const Options& o) : port_(std::move(port)) {
  const std::string& dev = port_.device();
  ibv_context* ctx = port_.context();
  const ibv_device_attr& attr = port_.device_attr();
  const auto limit = [&](uint32_t want) {
    return std::min<uint32_t>(want, static_cast<uint32_t>(std::min(attr.max_qp_wr, attr.max_cqe)));
  };
  rx_slots_ = limit(o.rx);
  tx_slots_ = limit(o.tx);
  if (tx_slots_ < 4 * kSignalEvery)
    throw TransportError(TransportError::Kind::kSystem,
                         "verbs " + dev + ": the device allows only " + std::to_string(tx_slots_) +
                             " work requests per queue");
  mtu_ = port_.active_mtu_bytes();
  if (o.mtu_cap != 0) mtu_ = std::min(mtu_, o.mtu_cap);
  // A UD message is one packet: nothing larger than the port's MTU can arrive, whatever our cap.
  rx_slot_bytes_ = round_up_64(kGrhBytes + port_.active_mtu_bytes());
  tx_slot_bytes_ = round_up_64(mtu_);

  pd_ = make_pd(ctx, dev);
  rx_memory_ = std::make_unique<MappedMemory>(size_t{rx_slots_} * rx_slot_bytes_, false,
                                              "verbs receive buffers");
  tx_memory_ =
      std::make_unique<MappedMemory>(size_t{tx_slots_} * tx_slot_bytes_, false, "verbs send slots");
  // Both with LOCAL_WRITE, and the send slots touched first: a read-only registration of
  // untouched anonymous memory may pin the shared zero page, and the copies the datapath makes
  // into the slots afterwards would then land in other pages than the device reads (a copy-on-
  // write after a read-only pin). A writable registration of touched pages rules that out.
  std::memset(tx_memory_->data(), 0, tx_memory_->size());
  rx_mr_ = make_mr(pd_.get(), rx_memory_->data(), rx_memory_->size(), IBV_ACCESS_LOCAL_WRITE, dev);
  tx_mr_ = make_mr(pd_.get(), tx_memory_->data(), tx_memory_->size(), IBV_ACCESS_LOCAL_WRITE, dev);
  if (o.event) {
    channel_ = make_comp_channel(ctx, dev);
    // wait() reads an event only after ppoll said there is one; non-blocking all the same.
    const int fl = fcntl(channel_->fd, F_GETFL);
    if (fl < 0 || fcntl(channel_->fd, F_SETFL, fl | O_NONBLOCK) != 0)
      throw verbs_sys_error(dev, "fcntl(O_NONBLOCK) on the completion channel");
  }
  send_cq_ = make_cq(ctx, static_cast<int>(tx_slots_), nullptr, dev);
  recv_cq_ = make_cq(ctx, static_cast<int>(rx_slots_), channel_.get(), dev);

  ibv_qp_init_attr qa{};
  qa.send_cq = send_cq_.get();
  qa.recv_cq = recv_cq_.get();
  qa.qp_type = IBV_QPT_UD;
  qa.sq_sig_all = 0;
  qa.cap.max_send_wr = tx_slots_;
  qa.cap.max_recv_wr = rx_slots_;
  qa.cap.max_send_sge = 2;  // header and payload, gathered by inline sends
  qa.cap.max_recv_sge = 1;
  qa.cap.max_inline_data = o.inline_bytes;
  try {
    qp_ = make_qp(pd_.get(), &qa, dev);
  } catch (const TransportError& e) {
    if (o.inline_bytes == 0) throw;
    // Some providers refuse inline data on UD, or this much of it: go without.
    CLIO_LOG(DEBUG, "net.verbs", "%s: no UD QP with %u bytes inline (%s); trying without",
             dev.c_str(), o.inline_bytes, e.what());
    qa.cap.max_inline_data = 0;
    qp_ = make_qp(pd_.get(), &qa, dev);
  }
  // The provider may grant more than asked (rxe grants 32 bytes for 0): use it, except when the
  // locator said inline=0.
  max_inline_ = o.inline_bytes == 0 ? 0 : std::min(qa.cap.max_inline_data, mtu_);

  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_INIT;
  a.pkey_index = 0;
  a.port_num = port_.port_num();
  a.qkey = kQkey;
  if (const int rc = ibv_modify_qp(qp_.get(), &a,
                                   IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY))
    throw verbs_error(dev, "ibv_modify_qp(UD, INIT)", rc);
  a = ibv_qp_attr{};
  a.qp_state = IBV_QPS_RTR;
  if (const int rc = ibv_modify_qp(qp_.get(), &a, IBV_QP_STATE))
    throw verbs_error(dev, "ibv_modify_qp(UD, RTR)", rc);
  a = ibv_qp_attr{};
  a.qp_state = IBV_QPS_RTS;
  a.sq_psn = 0;
  if (const int rc = ibv_modify_qp(qp_.get(), &a, IBV_QP_STATE | IBV_QP_SQ_PSN))
    throw verbs_error(dev, "ibv_modify_qp(UD, RTS)", rc);

  // Receive side: every buffer's WR is built once and posted now.
  auto* rx_base = static_cast<std::byte*>(rx_memory_->data());
  recv_sges_.resize(rx_slots_);
  recv_wrs_.resize(rx_slots_);
  repost_.resize(rx_slots_);
  for (uint32_t i = 0; i < rx_slots_; ++i) {
    recv_sges_[i] = ibv_sge{reinterpret_cast<uint64_t>(rx_base + size_t{i} * rx_slot_bytes_),
                            rx_slot_bytes_, rx_mr_->lkey};
    recv_wrs_[i] = ibv_recv_wr{};
    recv_wrs_[i].wr_id = i;
    recv_wrs_[i].sg_list = &recv_sges_[i];
    recv_wrs_[i].num_sge = 1;
    repost_[i] = i;
  }
  for (uint32_t at = 0; at < rx_slots_;) {
    const uint32_t n = std::min<uint32_t>(rx_slots_ - at, 256);
    ibv_recv_wr* head = &recv_wrs_[at];
    for (uint32_t i = at; i + 1 < at + n; ++i) recv_wrs_[i].next = &recv_wrs_[i + 1];
    recv_wrs_[at + n - 1].next = nullptr;
    ibv_recv_wr* bad = nullptr;
    if (const int rc = ibv_post_recv(qp_.get(), head, &bad))
      throw verbs_error(dev, "ibv_post_recv", rc);
    at += n;
  }

  send_sges_.resize(2 * size_t{tx_slots_});
  send_wrs_.resize(tx_slots_);
  for (ibv_send_wr& wr : send_wrs_) {
    wr = ibv_send_wr{};
    wr.opcode = IBV_WR_SEND;
  }
  wr_item_.resize(kBurst);

  const size_t sets = std::bit_ceil(std::max<size_t>(1, o.ah_cache / kAhWays));
  ah_sets_.resize(sets * kAhWays);
  ah_set_mask_ = sets - 1;
  graveyard_.reserve(kAhGraveyard);

  std::memcpy(self_.gid, port_.gid().raw, sizeof self_.gid);
  self_.qpn = qp_->qp_num;
  self_.lid = port_.ethernet() ? 0 : port_.lid();
}

VerbsTransport::~VerbsTransport() {
  if (hello_thread_.joinable()) {
    const uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof one) != sizeof one)
      CLIO_LOG(WARN, "net.verbs", "cannot stop the hello thread: %s", std::strerror(errno));
    hello_thread_.join();
  }
  if (stop_fd_ >= 0) close(stop_fd_);
  if (udp_fd_ >= 0) close(udp_fd_);
  const VerbsStats& s = stats_;
  CLIO_LOG(DEBUG, "net.verbs",
           "qpn %u closing: sent %" PRIu64 ", received %" PRIu64 ", oversized %" PRIu64
           ", unreachable %" PRIu64 ", send errors %" PRIu64 ", receive errors %" PRIu64
           ", handles made %" PRIu64 " (evicted %" PRIu64 "), hellos %" PRIu64,
           self_.qpn, s.sent, s.received, s.oversized, s.unreachable, s.send_errors, s.recv_errors,
           s.ah_created, s.ah_evicted, hellos());
  // The verbs objects go in reverse declaration order (see the header).
}

std::unique_ptr<VerbsTransport> VerbsTransport::listen(const Locator& l, unsigned member,
                                                       unsigned members) {
  (void)members;
  const Options o = Options::from(l);
  // bind= is what the socket binds; host= what clients dial (and what binds when bind= is absent).
  const std::string bind_to = l.get("bind", l.get("host", "0.0.0.0"));
  const auto udp_port = static_cast<uint16_t>(l.get_uint("port", 7400, 0, 65535));
  std::unique_ptr<VerbsTransport> t(new VerbsTransport(VerbsPort::open(o.dev, o.ibport, o.gid), o));
  const std::string& dev = t->port_.device();

  socklen_t len = 0;
  const sockaddr_storage at = resolve(bind_to, udp_port, &len);
  t->udp_fd_ = socket(at.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (t->udp_fd_ < 0) throw verbs_sys_error(dev, "socket(endpoint exchange)");
  const int one = 1;
  if (setsockopt(t->udp_fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw verbs_sys_error(dev, "setsockopt(SO_REUSEPORT)");
  if (bind(t->udp_fd_, reinterpret_cast<const sockaddr*>(&at), len) != 0)
    throw verbs_sys_error(
        dev + " (endpoint exchange on " + bind_to + ":" + std::to_string(udp_port) + ")", "bind");
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  getsockname(t->udp_fd_, reinterpret_cast<sockaddr*>(&bound), &blen);

  // The host clients should dial: as given, else the IPv4 address the GID carries. When that is
  // not what the socket bound, the locator says bind= too, so that the other workers of an MN
  // (which listen on this locator) join the same SO_REUSEPORT group.
  std::string shown = l.get("host", bind_to);
  if (shown == "0.0.0.0" || shown == "::") {
    shown = t->port_.gid_host();
    if (shown.empty() || shown.find(':') != std::string::npos) shown = "127.0.0.1";
  }
  t->locator_ = "verbs:dev=" + dev + ",gid=" + std::to_string(t->port_.gid_index()) +
                (o.ibport != 1 ? ",ibport=" + std::to_string(o.ibport) : std::string()) +
                ",host=" + shown + ",port=" + std::to_string(port_of(bound)) +
                (shown != bind_to ? ",bind=" + bind_to : std::string());

  t->stop_fd_ = eventfd(0, EFD_CLOEXEC);
  if (t->stop_fd_ < 0) throw verbs_sys_error(dev, "eventfd");
  t->hello_thread_ = std::thread([p = t.get()] { p->answer_hellos(); });
  CLIO_LOG(DEBUG, "net.verbs", "member %u: %s, qpn %u, mtu %u, inline %u", member,
           t->locator_.c_str(), t->self_.qpn, t->mtu_, t->max_inline_);
  return t;
}

void VerbsTransport::answer_hellos() {
  pollfd fds[2] = {{udp_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      CLIO_LOG(ERROR, "net.verbs", "endpoint exchange stopped: poll: %s", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    VerbsHello h{};
    sockaddr_storage from{};
    socklen_t flen = sizeof from;
    const ssize_t n =
        recvfrom(udp_fd_, &h, sizeof h, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n != static_cast<ssize_t>(sizeof h) || h.magic != kHelloMagic ||
        h.version != kHelloVersion || h.kind != kHelloRequest) {
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
    if (sendto(udp_fd_, &a, sizeof a, 0, reinterpret_cast<const sockaddr*>(&from), flen) !=
        static_cast<ssize_t>(sizeof a)) {
      CLIO_LOG(WARN, "net.verbs", "endpoint exchange: sendto: %s", std::strerror(errno));
      continue;
    }
    hellos_.fetch_add(1, std::memory_order_relaxed);
    CLIO_LOG(DEBUG, "net.verbs", "hello from qpn %u (%s): answered with qpn %u", h.addr.qpn,
             gid_of(h.addr).c_str(), self_.qpn);
  }
}

std::unique_ptr<VerbsTransport> VerbsTransport::connect(const Locator& l, Endpoint* server) {
  const Options o = Options::from(l);
  if (!l.has("host") || !l.has("port"))
    throw ConfigError(
        "verbs locator: host= and port= are required to reach a server, e.g. "
        "verbs:dev=rxe0,gid=1,host=127.0.0.1,port=7400");
  const std::string host = l.get("host", "");
  const auto udp_port = static_cast<uint16_t>(l.get_uint("port", 0, 1, 65535));
  std::unique_ptr<VerbsTransport> t(new VerbsTransport(VerbsPort::open(o.dev, o.ibport, o.gid), o));
  const std::string& dev = t->port_.device();
  const std::string where = host + ":" + std::to_string(udp_port);

  socklen_t len = 0;
  const sockaddr_storage peer = resolve(host, udp_port, &len);
  const int fd = socket(peer.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw verbs_sys_error(dev, "socket(endpoint exchange)");
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};

  VerbsHello req{};
  req.magic = kHelloMagic;
  req.version = kHelloVersion;
  req.kind = kHelloRequest;
  if (getrandom(&req.nonce, sizeof req.nonce, 0) != sizeof req.nonce)
    req.nonce = now_ns() ^ getpid();
  req.qkey = kQkey;
  req.mtu = t->mtu_;
  req.addr = t->self_;

  // Repeat the hello until an answer with our nonce comes: UDP may lose either datagram, and the
  // server may still be starting.
  const uint64_t deadline = now_ns() + o.timeout_ms * 1'000'000;
  VerbsHello ans{};
  bool answered = false;
  while (!answered && now_ns() < deadline) {
    if (sendto(fd, &req, sizeof req, 0, reinterpret_cast<const sockaddr*>(&peer), len) < 0 &&
        errno != ECONNREFUSED && errno != EAGAIN)
      throw verbs_sys_error(dev + " (endpoint exchange with " + where + ")", "sendto");
    const uint64_t until = std::min(deadline, now_ns() + kHelloRepeatNs);
    for (uint64_t now = now_ns(); !answered && now < until; now = now_ns()) {
      pollfd p{fd, POLLIN, 0};
      const int r = poll(&p, 1, static_cast<int>((until - now + 999'999) / 1'000'000));
      if (r < 0 && errno != EINTR) throw verbs_sys_error(dev, "poll(endpoint exchange)");
      if (r <= 0) continue;
      const ssize_t n = recv(fd, &ans, sizeof ans, MSG_DONTWAIT);
      answered = n == static_cast<ssize_t>(sizeof ans) && ans.magic == kHelloMagic &&
                 ans.version == kHelloVersion && ans.kind == kHelloAnswer && ans.nonce == req.nonce;
    }
  }
  if (!answered)
    throw TransportError(TransportError::Kind::kTimeout,
                         "verbs " + dev + ": no endpoint answer from " + where + " within " +
                             std::to_string(o.timeout_ms) +
                             " ms (is a verbs server listening there?)");
  if (ans.qkey != kQkey)
    throw TransportError(TransportError::Kind::kSystem,
                         "verbs " + dev + ": the server at " + where + " uses QKey " +
                             std::to_string(ans.qkey) + ", not this build's " +
                             std::to_string(kQkey));
  t->mtu_ = std::min(t->mtu_, ans.mtu);
  t->max_inline_ = std::min(t->max_inline_, t->mtu_);
  *server = Endpoint::of(ans.addr);
  // Make the address handle now: a GID that cannot reach the server fails here, with the hint
  // (in the exception rather than in a warning).
  t->warned_ah_ = true;
  const bool reachable = t->ah_for(ans.addr, 0) != nullptr;
  t->warned_ah_ = false;
  if (!reachable)
    throw verbs_error(dev,
                      "ibv_create_ah(toward " + gid_of(ans.addr) +
                          " from gid=" + std::to_string(t->port_.gid_index()) + ")",
                      t->last_ah_errno_, gid_hint(dev, t->port_.port_num(), t->port_.gid_index()));
  t->locator_ = "verbs:dev=" + dev + ",gid=" + std::to_string(t->port_.gid_index()) +
                ",qpn=" + std::to_string(t->self_.qpn);
  CLIO_LOG(DEBUG, "net.verbs", "client qpn %u -> server %s qpn %u, mtu %u, inline %u", t->self_.qpn,
           where.c_str(), ans.addr.qpn, t->mtu_, t->max_inline_);
  return t;
}

std::span<const LocatorKey> VerbsTransport::locator_keys() { return kKeys; }

}  // namespace clio::net

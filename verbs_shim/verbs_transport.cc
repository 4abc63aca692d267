// SPDX-License-Identifier: Apache-2.0
// verbs set-up and teardown (the datapath is in verbs_transport_datapath.cc, the endpoint
// exchange in verbs_exchange.cc).
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
#include "verbs_shim/sockets.h"

namespace clio::net {
namespace {

constexpr LocatorKey kKeys[] = {
    {"dev", ""},        {"gid", ""},  {"ibport", ""},         {"host", ""},
    {"bind", ""},       {"port", ""}, {"poll", "busy|event"}, {"mtu", ""},
    {"rx", ""},         {"tx", ""},   {"inline", ""},         {"ah_cache", ""},
    {"timeout_ms", ""},
};

uint32_t round_up_64(uint32_t v) { return (v + 63) & ~uint32_t{63}; }

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
      throw last_error("verbs " + dev, "fcntl(O_NONBLOCK) on the completion channel");
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
  stop_exchange();  // the exchange's descriptors close themselves
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

  const uint16_t bound_port = t->serve_exchange(bind_to, udp_port);

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
                ",host=" + shown + ",port=" + std::to_string(bound_port) +
                (shown != bind_to ? ",bind=" + bind_to : std::string());
  CLIO_LOG(DEBUG, "net.verbs", "member %u: %s, qpn %u, mtu %u, inline %u", member,
           t->locator_.c_str(), t->self_.qpn, t->mtu_, t->max_inline_);
  return t;
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

  uint32_t server_mtu = 0;
  const VerbsAddress server_addr = t->exchange(host, udp_port, o.timeout_ms, &server_mtu);
  t->mtu_ = std::min(t->mtu_, server_mtu);
  t->max_inline_ = std::min(t->max_inline_, t->mtu_);
  *server = Endpoint::of(server_addr);
  // Make the address handle now: a GID that cannot reach the server fails here, with the hint
  // (in the exception rather than in a warning).
  t->warned_ah_ = true;
  const bool reachable = t->ah_for(server_addr, 0) != nullptr;
  t->warned_ah_ = false;
  if (!reachable)
    throw verbs_error(dev,
                      "ibv_create_ah(toward " + gid_of(server_addr) +
                          " from gid=" + std::to_string(t->port_.gid_index()) + ")",
                      t->last_ah_errno_, gid_hint(dev, t->port_.port_num(), t->port_.gid_index()));
  t->locator_ = "verbs:dev=" + dev + ",gid=" + std::to_string(t->port_.gid_index()) +
                ",qpn=" + std::to_string(t->self_.qpn);
  CLIO_LOG(DEBUG, "net.verbs", "client qpn %u -> server %s qpn %u, mtu %u, inline %u", t->self_.qpn,
           where.c_str(), server_addr.qpn, t->mtu_, t->max_inline_);
  return t;
}

std::span<const LocatorKey> VerbsTransport::locator_keys() { return kKeys; }

}  // namespace clio::net

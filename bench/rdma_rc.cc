// SPDX-License-Identifier: Apache-2.0
// The RDMA RC baseline: connection set-up over TCP, the client's one-sided operations, the
// server's accept loop.
#include "bench/rdma_rc.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/mapped_memory.h"
#include "verbs_shim/sockets.h"
#include "verbs_shim/verbs_device.h"
#include "verbs_shim/verbs_raii.h"

namespace clio::net {
namespace {

/// The set-up message, one each way. Little-endian, copied as it is.
struct RcHello {
  uint32_t magic;     ///< kRcMagic
  uint16_t version;   ///< kRcVersion
  uint16_t lid;       ///< the sender port's LID (0 on RoCE)
  uint32_t qpn;       ///< the sender's RC QP number
  uint32_t psn;       ///< the first packet sequence number it sends (24 bits)
  uint8_t gid[16];    ///< the sender's GID
  uint8_t mtu;        ///< the sender port's active MTU (enum ibv_mtu)
  uint8_t rd_atomic;  ///< client: its read/atomic initiator depth; server: its responder depth
  uint16_t reserved;  ///< zero
  uint32_t rkey;      ///< server: the memory's rkey
  uint64_t addr;      ///< server: the memory's address
  uint64_t length;    ///< server: the memory's length in bytes
};
static_assert(sizeof(RcHello) == 56);
static_assert(offsetof(RcHello, gid) == 16 && offsetof(RcHello, rkey) == 36 &&
              offsetof(RcHello, addr) == 40);
static_assert(std::endian::native == std::endian::little);
constexpr uint32_t kRcMagic = 0x43524C43;  // "CLRC"
constexpr uint16_t kRcVersion = 2;
// Version 2: after its hello the server sends a uint32_t count of separately registered regions
// (RcServer::Options::regions; 0 for none) and their rkeys, a uint32_t each; the regions split
// the memory in equal, consecutive parts. At most kMaxRegions.
constexpr uint32_t kMaxRegions = 1u << 20;

// RC retry attributes: generous, because soft-RoCE under emulation is slow to answer.
constexpr uint8_t kAckTimeout = 18;  // 4.096 us * 2^18 = about 1.07 s per try
constexpr uint8_t kRetryCount = 7;
constexpr uint8_t kRnrRetry = 7;  // 7 = retry forever on receiver-not-ready
constexpr uint8_t kMinRnrTimer = 12;
constexpr uint8_t kMaxRdAtomic = 16;
constexpr uint8_t kHopLimit = 64;

TransportError rc_error(const std::string& what, const char* call) {
  return last_error("rdma-rc " + what, call);
}

uint32_t random_psn() {
  uint32_t v = 0;
  if (getrandom(&v, sizeof v, 0) != sizeof v) v = static_cast<uint32_t>(now_ns());
  return v & 0xFFFFFF;
}

VerbsQp make_rc_qp(const VerbsPort& port, ibv_pd* pd, ibv_cq* cq, uint32_t send_wr,
                   uint32_t inline_bytes, uint32_t* max_inline) {
  ibv_qp_init_attr qa{};
  qa.send_cq = cq;
  qa.recv_cq = cq;
  qa.qp_type = IBV_QPT_RC;
  qa.sq_sig_all = 0;
  qa.cap.max_send_wr = send_wr;
  qa.cap.max_recv_wr = 1;  // one-sided operations consume no receives
  qa.cap.max_send_sge = 1;
  qa.cap.max_recv_sge = 1;
  qa.cap.max_inline_data = inline_bytes;
  VerbsQp qp;
  try {
    qp = make_qp(pd, &qa, port.device());
  } catch (const TransportError&) {
    if (inline_bytes == 0) throw;
    qa.cap.max_inline_data = 0;
    qp = make_qp(pd, &qa, port.device());
  }
  if (max_inline != nullptr) *max_inline = qa.cap.max_inline_data;
  return qp;
}

RcHello local_hello(const VerbsPort& port, const ibv_qp* qp, uint32_t psn, uint8_t rd_atomic) {
  RcHello h{};
  h.magic = kRcMagic;
  h.version = kRcVersion;
  h.lid = port.ethernet() ? 0 : port.lid();
  h.qpn = qp->qp_num;
  h.psn = psn;
  std::memcpy(h.gid, port.gid().raw, sizeof h.gid);
  h.mtu = static_cast<uint8_t>(port.active_mtu());
  h.rd_atomic = rd_atomic;
  return h;
}

/// RESET -> INIT -> RTR -> RTS toward `remote`.
void connect_rc_qp(ibv_qp* qp, const VerbsPort& port, int access, uint32_t psn,
                   uint8_t initiator_depth, uint8_t responder_depth, const RcHello& remote) {
  const std::string& dev = port.device();
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_INIT;
  a.pkey_index = 0;
  a.port_num = port.port_num();
  a.qp_access_flags = static_cast<unsigned>(access);
  if (const int rc = ibv_modify_qp(
          qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
    throw verbs_error(dev, "ibv_modify_qp(RC, INIT)", rc);

  a = ibv_qp_attr{};
  a.qp_state = IBV_QPS_RTR;
  a.path_mtu = std::min(port.active_mtu(), static_cast<ibv_mtu>(remote.mtu));
  a.dest_qp_num = remote.qpn;
  a.rq_psn = remote.psn;
  a.max_dest_rd_atomic = responder_depth;
  a.min_rnr_timer = kMinRnrTimer;
  a.ah_attr.port_num = port.port_num();
  a.ah_attr.dlid = remote.lid;
  static constexpr uint8_t kZero[16] = {};
  if (std::memcmp(remote.gid, kZero, sizeof kZero) != 0) {
    a.ah_attr.is_global = 1;
    std::memcpy(a.ah_attr.grh.dgid.raw, remote.gid, sizeof remote.gid);
    a.ah_attr.grh.sgid_index = static_cast<uint8_t>(port.gid_index());
    a.ah_attr.grh.hop_limit = kHopLimit;
  }
  if (const int rc =
          ibv_modify_qp(qp, &a,
                        IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                            IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER)) {
    ibv_gid g;
    std::memcpy(g.raw, remote.gid, sizeof g.raw);
    throw verbs_error(dev,
                      "ibv_modify_qp(RC, RTR) toward " + gid_text(g) + " from gid=" +
                          std::to_string(port.gid_index()) + " (\"Failed to modify QP to RTR\")",
                      rc, gid_hint(dev, port.port_num(), port.gid_index()));
  }

  a = ibv_qp_attr{};
  a.qp_state = IBV_QPS_RTS;
  a.timeout = kAckTimeout;
  a.retry_cnt = kRetryCount;
  a.rnr_retry = kRnrRetry;
  a.sq_psn = psn;
  a.max_rd_atomic = initiator_depth;
  if (const int rc = ibv_modify_qp(qp, &a,
                                   IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
                                       IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
    throw verbs_error(dev, "ibv_modify_qp(RC, RTS)", rc);
}

uint8_t depth(int device_limit) {
  return static_cast<uint8_t>(std::clamp(device_limit, 1, static_cast<int>(kMaxRdAtomic)));
}

}  // namespace

// --- Client ------------------------------------------------------------------------------------

struct RcClient::Impl {
  // Creation order; they die in reverse (QP first, context last).
  VerbsPort port;
  VerbsPd pd;
  std::unique_ptr<MappedMemory> mem;  ///< bounce buffer: read targets, large writes, atomic results
  VerbsMr mr;
  VerbsCq cq;
  VerbsQp qp;
  UniqueFd fd;
  uint64_t remote_addr = 0;
  uint64_t remote_len = 0;
  uint32_t rkey = 0;
  std::vector<uint32_t> region_rkeys;  ///< the server's separately registered regions
  uint64_t region_bytes = 0;
  uint32_t max_inline = 0;
  uint32_t max_bytes = 0;
  uint64_t timeout_ns = 0;
  uint64_t seq = 0;
  bool atomics = false;
  std::string where;
  std::string last_error;

  explicit Impl(VerbsPort p) : port(std::move(p)) {}
  int fail(const char* what, const char* why, int rc) {
    last_error = std::string(what) + ": " + why;
    return rc;
  }

  /// Posts `wr` signalled and polls until its completion.
  int post_and_wait(ibv_send_wr& wr, const char* what) {
    wr.wr_id = ++seq;
    wr.send_flags |= IBV_SEND_SIGNALED;
    ibv_send_wr* bad = nullptr;
    if (const int rc = ibv_post_send(qp.get(), &wr, &bad))
      return fail(what, std::strerror(rc), -(rc > 0 ? rc : EIO));
    ibv_wc wc;
    uint64_t deadline = 0;
    for (uint32_t spins = 1;; ++spins) {
      const int n = ibv_poll_cq(cq.get(), 1, &wc);
      if (n < 0) [[unlikely]]
        return fail(what, "ibv_poll_cq failed", -EIO);
      if (n == 1) {
        if (wc.wr_id != seq) [[unlikely]]
          continue;  // the late completion of an operation that timed out
        break;
      }
      if ((spins & 1023) == 0) [[unlikely]] {  // read the clock rarely
        const uint64_t now = now_ns();
        if (deadline == 0) deadline = now + timeout_ns;
        if (now > deadline) return fail(what, "no completion within the timeout", -ETIMEDOUT);
      }
    }
    if (wc.status != IBV_WC_SUCCESS) [[unlikely]]
      return fail(what, ibv_wc_status_str(wc.status), -EIO);
    return 0;
  }

  /// One RDMA READ of `len` bytes at the server's `remote` through `rkey`, via the bounce buffer.
  int read_remote(uint64_t remote, uint32_t key, void* dst, uint32_t len) {
    if (len == 0) return 0;
    ibv_sge sge{reinterpret_cast<uint64_t>(mem->data()), len, mr->lkey};
    ibv_send_wr wr{};
    wr.opcode = IBV_WR_RDMA_READ;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.wr.rdma.remote_addr = remote;
    wr.wr.rdma.rkey = key;
    if (const int rc = post_and_wait(wr, "RDMA READ")) return rc;
    std::memcpy(dst, mem->data(), len);
    return 0;
  }

  bool in_range(uint64_t offset, uint64_t len) const {
    return len <= max_bytes && offset <= remote_len && len <= remote_len - offset;
  }
};

RcClient::RcClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RcClient::~RcClient() = default;

std::unique_ptr<RcClient> RcClient::connect(const std::string& host, uint16_t tcp_port,
                                            const Options& o) {
  auto impl = std::make_unique<Impl>(VerbsPort::open(o.device.dev, o.device.ibport, o.device.gid));
  Impl& c = *impl;
  const std::string& dev = c.port.device();
  c.where = host + ":" + std::to_string(tcp_port);
  c.timeout_ns = o.timeout_ms * 1'000'000;
  c.max_bytes = std::max<uint32_t>(o.max_bytes, 8);
  c.atomics = c.port.device_attr().atomic_cap != IBV_ATOMIC_NONE;
  c.pd = make_pd(c.port.context(), dev);
  c.mem = std::make_unique<MappedMemory>(c.max_bytes, false, "rdma-rc bounce buffer");
  c.mr = make_mr(c.pd.get(), c.mem->data(), c.mem->size(), IBV_ACCESS_LOCAL_WRITE, dev);
  c.cq = make_cq(c.port.context(), 16, nullptr, dev);
  c.qp = make_rc_qp(c.port, c.pd.get(), c.cq.get(), 16, 256, &c.max_inline);

  // TCP connection, with a deadline on connect as on the exchange.
  const uint64_t deadline = now_ns() + c.timeout_ns;
  c.fd = connect_stream(resolve(host, tcp_port, SOCK_STREAM, "rdma-rc"), deadline,
                        "rdma-rc " + c.where, "is clio-rdma-server running there?");
  const int one = 1;
  setsockopt(c.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  const uint32_t psn = random_psn();
  const uint8_t initiator = depth(c.port.device_attr().max_qp_init_rd_atom);
  RcHello mine = local_hello(c.port, c.qp.get(), psn, initiator);
  RcHello theirs{};
  if (!write_all(c.fd.get(), &mine, sizeof mine, deadline)) throw rc_error(c.where, "send(hello)");
  if (!read_all(c.fd.get(), &theirs, sizeof theirs, deadline))
    throw rc_error(c.where, "recv(hello)");
  if (theirs.magic != kRcMagic || theirs.version != kRcVersion)
    throw TransportError(
        TransportError::Kind::kSystem,
        "rdma-rc " + c.where + ": the answer is not from clio-rdma-server (bad magic or version)");
  c.remote_addr = theirs.addr;
  c.remote_len = theirs.length;
  c.rkey = theirs.rkey;
  uint32_t regions = 0;
  if (!read_all(c.fd.get(), &regions, sizeof regions, deadline))
    throw rc_error(c.where, "recv(regions)");
  if (regions > kMaxRegions || (regions != 0 && c.remote_len % regions != 0))
    throw TransportError(TransportError::Kind::kSystem,
                         "rdma-rc " + c.where + ": the server announced " +
                             std::to_string(regions) + " regions over " +
                             std::to_string(c.remote_len) + " bytes");
  c.region_rkeys.resize(regions);
  if (regions != 0 &&
      !read_all(c.fd.get(), c.region_rkeys.data(), regions * sizeof(uint32_t), deadline))
    throw rc_error(c.where, "recv(region keys)");
  c.region_bytes = regions == 0 ? 0 : c.remote_len / regions;
  connect_rc_qp(c.qp.get(), c.port, 0, psn, std::min(initiator, theirs.rd_atomic), 1, theirs);
  std::unique_ptr<RcClient> client(new RcClient(std::move(impl)));
  CLIO_LOG(DEBUG, "rdma-rc", "connected: %s, inline %u", client->describe().c_str(),
           client->max_inline());
  return client;
}

int RcClient::read(uint64_t offset, void* dst, uint32_t len) {
  Impl& c = *impl_;
  if (!c.in_range(offset, len)) return c.fail("RDMA READ", "out of range", -EINVAL);
  return c.read_remote(c.remote_addr + offset, c.rkey, dst, len);
}

int RcClient::read_region(uint32_t region, uint64_t offset, void* dst, uint32_t len) {
  Impl& c = *impl_;
  if (region >= c.region_rkeys.size() || offset > c.region_bytes || len > c.region_bytes - offset ||
      len > c.max_bytes)
    return c.fail("RDMA READ", "out of the region", -EINVAL);
  return c.read_remote(c.remote_addr + region * c.region_bytes + offset, c.region_rkeys[region],
                       dst, len);
}

uint32_t RcClient::regions() const { return static_cast<uint32_t>(impl_->region_rkeys.size()); }
uint64_t RcClient::region_bytes() const { return impl_->region_bytes; }

int RcClient::write(uint64_t offset, const void* src, uint32_t len) {
  Impl& c = *impl_;
  if (!c.in_range(offset, len)) return c.fail("RDMA WRITE", "out of range", -EINVAL);
  if (len == 0) return 0;
  ibv_sge sge;
  ibv_send_wr wr{};
  if (len <= c.max_inline) {
    sge = ibv_sge{reinterpret_cast<uint64_t>(src), len, 0};  // copied at post time
    wr.send_flags = IBV_SEND_INLINE;
  } else {
    std::memcpy(c.mem->data(), src, len);
    sge = ibv_sge{reinterpret_cast<uint64_t>(c.mem->data()), len, c.mr->lkey};
  }
  wr.opcode = IBV_WR_RDMA_WRITE;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.wr.rdma.remote_addr = c.remote_addr + offset;
  wr.wr.rdma.rkey = c.rkey;
  return c.post_and_wait(wr, "RDMA WRITE");
}

namespace {
int atomic_op(RcClient::Impl& c, ibv_wr_opcode op, const char* what, uint64_t offset,
              uint64_t compare_add, uint64_t swap, uint64_t* old) {
  if (!c.atomics) return c.fail(what, "the device has no atomics", -EOPNOTSUPP);
  if (!c.in_range(offset, 8) || offset % 8 != 0)
    return c.fail(what, "out of range or not 8-byte aligned", -EINVAL);
  ibv_sge sge{reinterpret_cast<uint64_t>(c.mem->data()), 8, c.mr->lkey};
  ibv_send_wr wr{};
  wr.opcode = op;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.wr.atomic.remote_addr = c.remote_addr + offset;
  wr.wr.atomic.compare_add = compare_add;
  wr.wr.atomic.swap = swap;
  wr.wr.atomic.rkey = c.rkey;
  if (const int rc = c.post_and_wait(wr, what)) return rc;
  std::memcpy(old, c.mem->data(), 8);
  return 0;
}
}  // namespace

int RcClient::cas(uint64_t offset, uint64_t expected, uint64_t desired, uint64_t* old) {
  return atomic_op(*impl_, IBV_WR_ATOMIC_CMP_AND_SWP, "RDMA CAS", offset, expected, desired, old);
}

int RcClient::faa(uint64_t offset, uint64_t add, uint64_t* old) {
  return atomic_op(*impl_, IBV_WR_ATOMIC_FETCH_AND_ADD, "RDMA FAA", offset, add, 0, old);
}

uint64_t RcClient::remote_bytes() const { return impl_->remote_len; }
uint32_t RcClient::max_inline() const { return impl_->max_inline; }
const std::string& RcClient::last_error() const { return impl_->last_error; }

std::string RcClient::describe() const {
  const Impl& c = *impl_;
  return c.port.device() + " gid=" + std::to_string(c.port.gid_index()) +
         " mtu=" + std::to_string(c.port.active_mtu_bytes()) + " -> " + c.where + " (" +
         std::to_string(c.remote_len >> 20) + " MiB)";
}

// --- Server ------------------------------------------------------------------------------------

struct RcServer::Impl {
  struct Conn {
    UniqueFd fd;
    VerbsQp qp;
    std::string peer;
  };
  // Creation order; they die in reverse (the clients' QPs first, context last).
  VerbsPort port;
  VerbsPd pd;
  std::unique_ptr<MappedMemory> mem;
  VerbsMr mr;
  std::vector<VerbsMr> regions;       ///< Options::regions separate registrations of `mem`
  std::vector<uint32_t> region_keys;  ///< their rkeys, sent to each client after the hello
  VerbsCq cq;  ///< shared by every client QP; one-sided operations complete nothing here
  std::vector<Conn> conns;
  UniqueFd listen_fd;
  UniqueFd stop_fd;
  uint16_t bound_port = 0;
  uint8_t responder_depth = 1;

  explicit Impl(VerbsPort p) : port(std::move(p)) {}

  /// Sets up the RC connection of the client on `fd` (it owns the descriptor from here on,
  /// whether this returns or throws).
  void admit(UniqueFd fd_owned, const std::string& peer) {
    Conn conn;
    conn.fd = std::move(fd_owned);
    const int fd = conn.fd.get();
    conn.peer = peer;
    const uint64_t deadline = now_ns() + 10'000'000'000ull;
    RcHello theirs{};
    if (!read_all(fd, &theirs, sizeof theirs, deadline)) throw rc_error(peer, "recv(hello)");
    if (theirs.magic != kRcMagic || theirs.version != kRcVersion)
      throw TransportError(TransportError::Kind::kSystem,
                           "rdma-rc " + peer + ": not a clio RC client (bad magic or version)");
    conn.qp = make_rc_qp(port, pd.get(), cq.get(), 1, 0, nullptr);
    const uint32_t psn = random_psn();
    const uint8_t their_depth = std::max<uint8_t>(1, theirs.rd_atomic);
    connect_rc_qp(conn.qp.get(), port,
                  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE |
                      IBV_ACCESS_REMOTE_ATOMIC,
                  psn, 1, std::min(responder_depth, their_depth), theirs);
    RcHello mine = local_hello(port, conn.qp.get(), psn, responder_depth);
    mine.rkey = mr->rkey;
    mine.addr = reinterpret_cast<uint64_t>(mem->data());
    mine.length = mem->size();
    if (!write_all(fd, &mine, sizeof mine, deadline)) throw rc_error(peer, "send(hello)");
    uint32_t count = static_cast<uint32_t>(region_keys.size());
    if (!write_all(fd, &count, sizeof count, deadline) ||
        (count != 0 && !write_all(fd, region_keys.data(), count * sizeof(uint32_t), deadline)))
      throw rc_error(peer, "send(region keys)");
    CLIO_LOG(INFO, "rdma-rc", "client %s: qpn %u <-> our qpn %u", peer.c_str(), theirs.qpn,
             conn.qp->qp_num);
    conns.push_back(std::move(conn));
  }
};

RcServer::RcServer(const Options& o)
    : impl_(std::make_unique<Impl>(VerbsPort::open(o.device.dev, o.device.ibport, o.device.gid))) {
  Impl& s = *impl_;
  const std::string& dev = s.port.device();
  s.responder_depth = depth(s.port.device_attr().max_qp_rd_atom);
  s.pd = make_pd(s.port.context(), dev);
  s.mem = std::make_unique<MappedMemory>(o.memory_bytes, false, "rdma-rc server memory");
  s.mr = make_mr(s.pd.get(), s.mem->data(), s.mem->size(),
                 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE |
                     IBV_ACCESS_REMOTE_ATOMIC,
                 dev);
  if (o.regions != 0) {
    if (o.regions > kMaxRegions || o.memory_bytes % o.regions != 0 ||
        (o.memory_bytes / o.regions) % 4096 != 0)
      throw ConfigError("rdma-rc: " + std::to_string(o.regions) + " regions must split " +
                        std::to_string(o.memory_bytes) + " bytes into equal multiples of 4 KiB " +
                        "(at most " + std::to_string(kMaxRegions) + ")");
    const uint64_t each = o.memory_bytes / o.regions;
    s.regions.reserve(o.regions);
    for (uint32_t i = 0; i < o.regions; ++i) {
      s.regions.push_back(make_mr(s.pd.get(), static_cast<std::byte*>(s.mem->data()) + i * each,
                                  each, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ, dev));
      s.region_keys.push_back(s.regions.back()->rkey);
    }
  }
  s.cq = make_cq(s.port.context(), 16, nullptr, dev);

  const std::string where = "rdma-rc " + o.host + ":" + std::to_string(o.port);
  const SockAddr at = resolve(o.host, o.port, SOCK_STREAM, "rdma-rc", /*passive=*/true);
  s.listen_fd = open_socket(at.sa.sa_family, SOCK_STREAM, where);
  const int one = 1;
  setsockopt(s.listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bind_to(s.listen_fd.get(), at, "rdma-rc", "is another clio-rdma-server running?");
  if (::listen(s.listen_fd.get(), 64) != 0) throw last_error(where, "listen");
  s.bound_port = local_address(s.listen_fd.get()).port();
  s.stop_fd.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!s.stop_fd.valid()) throw last_error(where, "eventfd");
}

RcServer::~RcServer() = default;

uint16_t RcServer::port() const { return impl_->bound_port; }
size_t RcServer::clients() const { return impl_->conns.size(); }

std::string RcServer::describe() const {
  const Impl& s = *impl_;
  return "dev=" + s.port.device() + ",gid=" + std::to_string(s.port.gid_index()) +
         ",port=" + std::to_string(s.bound_port) + ",memory=" + std::to_string(s.mem->size()) +
         ",regions=" + std::to_string(s.regions.size());
}

void RcServer::stop() {
  const uint64_t one = 1;
  // write(2) is async-signal-safe; a full counter (impossible here) would only mean "already
  // stopping".
  [[maybe_unused]] const ssize_t n = write(impl_->stop_fd.get(), &one, sizeof one);
}

void RcServer::run() {
  Impl& s = *impl_;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({s.stop_fd.get(), POLLIN, 0});
    fds.push_back({s.listen_fd.get(), POLLIN, 0});
    for (const Impl::Conn& c : s.conns) fds.push_back({c.fd.get(), POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw rc_error("server", "poll");
    }
    if (fds[0].revents != 0) return;
    // Departed clients first (indices in fds match conns before any change).
    for (size_t i = s.conns.size(); i-- > 0;) {
      if (fds[2 + i].revents == 0) continue;
      char b[64];
      const ssize_t n = recv(s.conns[i].fd.get(), b, sizeof b, MSG_DONTWAIT);
      if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
        continue;  // nothing is expected; ignore
      CLIO_LOG(INFO, "rdma-rc", "client %s left", s.conns[i].peer.c_str());
      s.conns.erase(s.conns.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (fds[1].revents & POLLIN) {
      sockaddr_storage from{};
      socklen_t flen = sizeof from;
      UniqueFd fd(accept4(s.listen_fd.get(), reinterpret_cast<sockaddr*>(&from), &flen,
                          SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!fd.valid()) continue;
      char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
      getnameinfo(reinterpret_cast<sockaddr*>(&from), flen, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV);
      const std::string peer = std::string(host) + ":" + serv;
      try {
        s.admit(std::move(fd), peer);
      } catch (const Error& e) {
        CLIO_LOG(ERROR, "rdma-rc", "client %s refused: %s", peer.c_str(), e.what());
      }
    }
  }
}

}  // namespace clio::net

// SPDX-License-Identifier: Apache-2.0
// raweth over AF_XDP (mode=xdp): frames go between the NIC driver and a memory area shared with
// the kernel (the UMEM) through four single-producer rings, skipping the kernel's network stack.
//
// A tiny XDP program, written here as eBPF instructions (no compiler, no libbpf), sends Clio
// frames for our port to the socket and passes everything else (ARP, IP) on to the kernel, so
// the interface keeps working for other traffic. It is attached through a BPF link: closing
// the link's descriptor detaches it, so nothing outlives the transport.
//
// UMEM layout: kFrames chunks of kChunk bytes; the first half feeds the fill ring (receive),
// the second half is a free list for sends, refilled from the completion ring.
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/log.h"
#include "verbs_shim/raweth_transport.h"
#include "verbs_shim/sockets.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace clio::net {
namespace {

constexpr uint32_t kChunk = 4096;
constexpr uint32_t kFrames = 4096;  // 16 MiB of UMEM
constexpr uint32_t kRing = 2048;    // entries in each of the four rings

TransportError xdp_error(const std::string& what, const char* call) {
  return last_error(
      "raweth xdp " + what, call,
      {{EPERM, "AF_XDP needs root (CAP_NET_ADMIN, CAP_BPF)"},
       {EBUSY, "the interface already has an XDP program (ip link set dev IF xdp off)"}});
}

long bpf(int cmd, bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof *attr); }

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

/// One mapped ring: producer and consumer indices shared with the kernel, a cached copy of the
/// one we own, descriptors.
struct Ring {
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  uint32_t* flags = nullptr;
  void* desc = nullptr;
  void* map = nullptr;
  size_t map_bytes = 0;
  uint32_t mask = kRing - 1;

  uint32_t load(uint32_t* p) const { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
  void store(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
  bool needs_wakeup() const {
    return __atomic_load_n(flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP;
  }
  uint64_t* addrs() const { return static_cast<uint64_t*>(desc); }
  xdp_desc* descs() const { return static_cast<xdp_desc*>(desc); }
};

void map_ring(int fd, const xdp_ring_offset& off, size_t entry, uint64_t pgoff, Ring* r,
              const std::string& what, const char* name) {
  r->map_bytes = off.desc + kRing * entry;
  void* m = mmap(nullptr, r->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                 static_cast<off_t>(pgoff));
  if (m == MAP_FAILED) throw xdp_error(what, name);
  r->map = m;
  auto* base = static_cast<std::byte*>(m);
  r->producer = reinterpret_cast<uint32_t*>(base + off.producer);
  r->consumer = reinterpret_cast<uint32_t*>(base + off.consumer);
  r->flags = reinterpret_cast<uint32_t*>(base + off.flags);
  r->desc = base + off.desc;
}

}  // namespace

struct RawEthTransport::Xdp {
  int xsk = -1, map_fd = -1, prog_fd = -1, link_fd = -1;
  std::byte* umem = nullptr;
  Ring fill, comp, rx, tx;
  uint32_t fill_prod = 0, rx_cons = 0, tx_prod = 0, comp_cons = 0;
  uint64_t tx_free[kFrames / 2];
  uint32_t tx_free_n = 0;
  bool zero_copy = false;

  ~Xdp() {
    for (Ring* r : {&fill, &comp, &rx, &tx})
      if (r->map != nullptr) munmap(r->map, r->map_bytes);
    for (int fd : {link_fd, xsk, prog_fd, map_fd})
      if (fd >= 0) close(fd);
    if (umem != nullptr) munmap(umem, size_t{kChunk} * kFrames);
  }

  /// Loads the redirecting program for `port` into the kernel; returns its descriptor.
  void load_program(uint16_t port, const std::string& what) {
    bpf_attr a{};
    a.map_type = BPF_MAP_TYPE_XSKMAP;
    a.key_size = 4;
    a.value_size = 4;
    a.max_entries = 64;  // receive queues
    map_fd = static_cast<int>(bpf(BPF_MAP_CREATE, &a));
    if (map_fd < 0) throw xdp_error(what, "bpf(BPF_MAP_CREATE, XSKMAP)");
    // r1 = ctx (struct xdp_md: data @0, data_end @4, rx_queue_index @16)
    const int32_t ether =
        static_cast<int32_t>(htons(kClioEtherType));  // as a little-endian load sees it
    const int32_t dport = static_cast<int32_t>(htons(port));
    const bpf_insn prog[] = {
        insn(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0),      // 0  r2 = data
        insn(BPF_LDX | BPF_W | BPF_MEM, 3, 1, 4, 0),      // 1  r3 = data_end
        insn(BPF_ALU64 | BPF_MOV | BPF_X, 4, 2, 0, 0),    // 2  r4 = r2
        insn(BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, 16),   // 3  r4 += 16 (EtherType, port)
        insn(BPF_JMP | BPF_JGT | BPF_X, 4, 3, 10, 0),     // 4  short frame: pass (-> 15)
        insn(BPF_LDX | BPF_H | BPF_MEM, 5, 2, 12, 0),     // 5  r5 = EtherType
        insn(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 8, ether),  // 6  not Clio: pass (-> 15)
        insn(BPF_LDX | BPF_H | BPF_MEM, 5, 2, 14, 0),     // 7  r5 = destination port
        insn(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 6, dport),  // 8  not ours: pass (-> 15)
        insn(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 16, 0),     // 9  r2 = rx_queue_index
        insn(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),  // 10-11 r1 = &xsks
        insn(0, 0, 0, 0, 0),
        insn(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, XDP_PASS),  // 12 no socket on this queue: pass
        insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map),  // 13
        insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),                      // 14
        insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, XDP_PASS),      // 15 pass
        insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),                      // 16
    };
    char log[4096];
    static const char license[] = "GPL";
    bpf_attr p{};
    p.prog_type = BPF_PROG_TYPE_XDP;
    p.insns = reinterpret_cast<uint64_t>(prog);
    p.insn_cnt = std::size(prog);
    p.license = reinterpret_cast<uint64_t>(license);
    p.log_buf = reinterpret_cast<uint64_t>(log);
    p.log_size = sizeof log;
    p.log_level = 1;
    log[0] = 0;
    prog_fd = static_cast<int>(bpf(BPF_PROG_LOAD, &p));
    if (prog_fd < 0) {
      TransportError e = xdp_error(what, "bpf(BPF_PROG_LOAD, XDP)");
      throw TransportError(e.kind(), std::string(e.what()) + "\nverifier: " + log, e.err());
    }
  }

  /// Attaches the program to the interface: driver mode where the driver has it, else generic.
  void attach(int ifindex, const std::string& what, const char** mode) {
    for (uint32_t flags : {uint32_t{XDP_FLAGS_DRV_MODE}, uint32_t{XDP_FLAGS_SKB_MODE}}) {
      bpf_attr a{};
      a.link_create.prog_fd = static_cast<uint32_t>(prog_fd);
      a.link_create.target_ifindex = static_cast<uint32_t>(ifindex);
      a.link_create.attach_type = BPF_XDP;
      a.link_create.flags = flags;
      link_fd = static_cast<int>(bpf(BPF_LINK_CREATE, &a));
      if (link_fd >= 0) {
        *mode = flags == XDP_FLAGS_DRV_MODE ? "driver" : "generic";
        return;
      }
      if (errno == EBUSY || errno == EPERM) break;
    }
    throw xdp_error(what, "bpf(BPF_LINK_CREATE, XDP)");
  }

  void open_socket(int ifindex, uint32_t queue, const std::string& what) {
    xsk = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (xsk < 0) throw xdp_error(what, "socket(AF_XDP)");
    void* m = mmap(nullptr, size_t{kChunk} * kFrames, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw xdp_error(what, "mmap(UMEM)");
    umem = static_cast<std::byte*>(m);
    xdp_umem_reg reg{};
    reg.addr = reinterpret_cast<uint64_t>(umem);
    reg.len = uint64_t{kChunk} * kFrames;
    reg.chunk_size = kChunk;
    if (setsockopt(xsk, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg) != 0)
      throw xdp_error(what, "setsockopt(XDP_UMEM_REG)");
    const int n = kRing;
    if (setsockopt(xsk, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof n) != 0 ||
        setsockopt(xsk, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof n) != 0 ||
        setsockopt(xsk, SOL_XDP, XDP_RX_RING, &n, sizeof n) != 0 ||
        setsockopt(xsk, SOL_XDP, XDP_TX_RING, &n, sizeof n) != 0)
      throw xdp_error(what, "setsockopt(XDP ring sizes)");
    xdp_mmap_offsets off{};
    socklen_t len = sizeof off;
    if (getsockopt(xsk, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len) != 0)
      throw xdp_error(what, "getsockopt(XDP_MMAP_OFFSETS)");
    map_ring(xsk, off.fr, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING, &fill, what,
             "mmap(fill ring)");
    map_ring(xsk, off.cr, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING, &comp, what,
             "mmap(completion ring)");
    map_ring(xsk, off.rx, sizeof(xdp_desc), XDP_PGOFF_RX_RING, &rx, what, "mmap(rx ring)");
    map_ring(xsk, off.tx, sizeof(xdp_desc), XDP_PGOFF_TX_RING, &tx, what, "mmap(tx ring)");
    // Every receive chunk to the kernel before binding; every send chunk on the free list.
    fill_prod = *fill.producer;
    for (uint32_t i = 0; i < kFrames / 2 && i < kRing; ++i)
      fill.addrs()[fill_prod++ & fill.mask] = uint64_t{i} * kChunk;
    fill.store(fill.producer, fill_prod);
    for (uint32_t i = kFrames / 2; i < kFrames; ++i) tx_free[tx_free_n++] = uint64_t{i} * kChunk;
    rx_cons = *rx.consumer;
    tx_prod = *tx.producer;
    comp_cons = *comp.consumer;

    sockaddr_xdp a{};
    a.sxdp_family = AF_XDP;
    a.sxdp_ifindex = static_cast<uint32_t>(ifindex);
    a.sxdp_queue_id = queue;
    a.sxdp_flags = XDP_USE_NEED_WAKEUP;  // zero-copy where the driver can, else copy
    if (bind(xsk, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw xdp_error(what, "bind(AF_XDP)");
    xdp_options opts{};
    len = sizeof opts;
    zero_copy = getsockopt(xsk, SOL_XDP, XDP_OPTIONS, &opts, &len) == 0 &&
                (opts.flags & XDP_OPTIONS_ZEROCOPY);
    uint32_t key = queue;
    uint32_t value = static_cast<uint32_t>(xsk);
    bpf_attr u{};
    u.map_fd = static_cast<uint32_t>(map_fd);
    u.key = reinterpret_cast<uint64_t>(&key);
    u.value = reinterpret_cast<uint64_t>(&value);
    if (bpf(BPF_MAP_UPDATE_ELEM, &u) != 0) throw xdp_error(what, "bpf(BPF_MAP_UPDATE_ELEM, xsks)");
  }

  void kick_rx() {
    if (fill.needs_wakeup()) recvfrom(xsk, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
  }
  void kick_tx() {
    if (!zero_copy || tx.needs_wakeup()) sendto(xsk, nullptr, 0, MSG_DONTWAIT, nullptr, 0);
  }
  void reclaim_tx() {
    const uint32_t prod = comp.load(comp.producer);
    while (comp_cons != prod) tx_free[tx_free_n++] = comp.addrs()[comp_cons++ & comp.mask];
    comp.store(comp.consumer, comp_cons);
  }
};

void RawEthTransport::open_xdp(uint32_t queue, uint16_t port, const std::string& what) {
  auto x = std::make_unique<Xdp>();
  x->load_program(port, what);
  x->open_socket(ifindex_, queue, what);
  const char* mode = "?";
  x->attach(ifindex_, what, &mode);
  CLIO_LOG(INFO, "net.raweth", "%s: AF_XDP on queue %u, %s XDP, %s", what.c_str(), queue, mode,
           x->zero_copy ? "zero-copy" : "copy mode");
  xdp_ = x.release();
}

void RawEthTransport::close_xdp() {
  delete xdp_;
  xdp_ = nullptr;
}

uint32_t RawEthTransport::xdp_max_frame() { return kChunk - XDP_PACKET_HEADROOM; }

size_t RawEthTransport::rx_xdp(std::span<PacketView> out) {
  Xdp& x = *xdp_;
  const uint32_t prod = x.rx.load(x.rx.producer);
  size_t k = 0;
  bool refilled = false;
  while (x.rx_cons != prod && k < out.size()) {
    const xdp_desc d = x.rx.descs()[x.rx_cons++ & x.rx.mask];
    const bool ok =
        d.addr + d.len <= uint64_t{kChunk} * kFrames && accept(x.umem + d.addr, d.len, &out[k]);
    if (!ok) {  // straight back to the fill ring
      ++dropped_;
      x.fill.addrs()[x.fill_prod++ & x.fill.mask] = d.addr;
      refilled = true;
      continue;
    }
    out[k++].token = d.addr;
  }
  x.rx.store(x.rx.consumer, x.rx_cons);
  if (refilled) x.fill.store(x.fill.producer, x.fill_prod);
  if (k == 0) {
    x.kick_rx();
    // A send the driver could not take at once (busy) waits in the tx ring: push it again.
    if (x.tx_prod != x.tx.load(x.tx.consumer)) x.kick_tx();
  }
  return k;
}

void RawEthTransport::release_xdp(std::span<const PacketView> pkts) {
  Xdp& x = *xdp_;
  for (const PacketView& v : pkts) x.fill.addrs()[x.fill_prod++ & x.fill.mask] = v.token;
  x.fill.store(x.fill.producer, x.fill_prod);
}

size_t RawEthTransport::tx_xdp(std::span<const TxItem> items) {
  Xdp& x = *xdp_;
  x.reclaim_tx();
  const uint32_t room = kRing - (x.tx_prod - x.tx.load(x.tx.consumer));
  size_t done = 0;
  for (; done < items.size() && done < room && x.tx_free_n > 0; ++done) {
    const TxItem& it = items[done];
    const size_t len = it.header.size() + it.payload.size();
    if (len > mtu_) continue;  // dropped: too large
    const uint64_t addr = x.tx_free[--x.tx_free_n];
    std::byte* p = x.umem + addr;
    const RawEthFrameHeader f = frame_header(it.to, len);
    std::memcpy(p, &f, sizeof f);
    if (!it.header.empty()) std::memcpy(p + sizeof f, it.header.data(), it.header.size());
    if (!it.payload.empty())
      std::memcpy(p + sizeof f + it.header.size(), it.payload.data(), it.payload.size());
    x.tx.descs()[x.tx_prod++ & x.tx.mask] =
        xdp_desc{addr, static_cast<uint32_t>(sizeof f + len), 0};
  }
  x.tx.store(x.tx.producer, x.tx_prod);
  // Copy mode sends only inside a system call; zero-copy drivers ask for one when they sleep.
  if (done != 0) x.kick_tx();
  return done;
}

void RawEthTransport::wait_xdp(uint64_t timeout_ns) {
  pollfd p{xdp_->xsk, POLLIN, 0};
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000u);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000u);
  ppoll(&p, 1, &ts, nullptr);
}

}  // namespace clio::net

// SPDX-License-Identifier: Apache-2.0
// The memory node's serve path: a MemoryNode (64 MiB pool, 4 KiB pages) and an MnServer on
// inproc, made once; each input is a burst of packets sent to it from an inproc client port.
//
// Input: a mode byte, then packets, each a 2-byte little-endian length and that many bytes
// (at most kMaxPackets; a length past the end takes what is left). Mode bits:
//   kReseal    recompute each packet's checksum (wire::seal) before sending, so that the checks
//              behind the checksum are reached
//   kSetup     first create an address space and allocate kRegion bytes in it with well-formed
//              requests (destroyed again at the end of the input)
//   kAuth      with kSetup: write that address space's pid and key into each packet
//   kReadOnly  with kAuth: its read-only key instead
//   kVa        with kSetup: move each packet's va into the allocation (va mod kRegion)
//   kIdentity  give each packet a fresh request identity (session, seq) of its own
// Patches apply only to packets of at least a header's size.
//
// After the burst a well-formed read of no address space (answered on the fast path, in order)
// serves as a barrier: every packet before it has been served once its answer arrives. The MN
// must keep answering (no hang), every packet it sends must be a well-formed reply that carries
// no key, and (kIdentity) no answer may be more than wire::kAmplification times its request.
// Replies still due (control operations finish later) are drained before the next input.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/wire.h"
#include "mn/memory_node.h"
#include "mn/server.h"
#include "tests/fuzz/formats.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/support/embedded_mn.h"
#include "verbs_shim/registry.h"

namespace {

using namespace clio;
using wire::Header;
using wire::Opcode;

using namespace clio::fuzz::mn_serve;

constexpr size_t kMaxPackets = 64;  // well below the 256-slot inproc rings
constexpr size_t kMaxPacketBytes = 4096 + 128;
constexpr uint64_t kHarnessSession = 0x4841'524E'4553'5301ull;  // the harness's own requests
constexpr uint64_t kFuzzSession = 0x4655'5A5A'0000'0001ull;     // kIdentity packets
constexpr uint64_t kWaitNs = 5'000'000'000ull;                  // "the MN hangs" after this

struct Rig {
  std::unique_ptr<testing::EmbeddedMn> mn;
  std::unique_ptr<net::Transport> port;
  net::Endpoint server_ep;
};

Rig* rig = nullptr;
unsigned rebuilds = 0;
uint64_t next_seq = 1;  // harness and kIdentity sequence numbers (never reused in the process)

/// A fresh MN, server and client port. The old ones (if any) go first: the fuzzer's own
/// address spaces and allocations may have filled the MN's tables.
void build() {
  if (rig != nullptr) {
    rig->port.reset();
    rig->mn.reset();
  } else {
    rig = new Rig;  // never freed: lives as long as the fuzzer
  }
  mn::MnConfig c;
  c.pool_bytes = uint64_t{64} << 20;
  c.page_bytes = 4096;
  c.max_ras = 1024;
  c.seed = 1;
  mn::ServerConfig sc;
  sc.listen = "inproc:name=fzmn" + std::to_string(rebuilds++) + ",poll=sleep";
  sc.dedup_entries = 1 << 14;
  sc.max_packet_lifetime_ms = 1;  // kStale only for records lost in the last few ms
  rig->mn = std::make_unique<testing::EmbeddedMn>(c, sc);
  rig->port = net::connect(rig->mn->locator(), &rig->server_ep);
}

void send(std::span<const std::byte> bytes) {
  const net::TxItem it{rig->server_ep, bytes, {}};
  const uint64_t deadline = now_ns() + kWaitNs;
  while (rig->port->tx_burst(std::span(&it, 1)) == 0) {
    if (now_ns() > deadline) fuzz::fail("the MN stopped taking packets");
    std::this_thread::yield();
  }
}

void send(Header h) {
  wire::seal(h, {});
  send(std::as_bytes(std::span(&h, 1)));
}

/// Request sizes of this input's kIdentity packets, by seq: their answers are bounded.
std::unordered_map<uint64_t, size_t> sent_sizes;

/// Checks one packet from the MN; true (and *out) when it answers (kHarnessSession, seq).
bool check_reply(std::span<const std::byte> pkt, uint64_t seq, Header* out) {
  Header h;
  if (const Status v = wire::validate(pkt, &h); v != Status::kOk) {
    // The MN sends only well-formed packets.
    Header raw{};
    std::memcpy(&raw, pkt.data(), std::min(pkt.size(), sizeof raw));
    std::fprintf(stderr,
                 "MN sent a malformed packet (%s): %zu bytes, opcode %u flags %u status %u "
                 "length %u\n",
                 status_name(v), pkt.size(), raw.opcode, raw.flags, raw.status, raw.length);
    fuzz::fail("the MN sent a packet wire::validate refuses");
  }
  FUZZ_REQUIRE(h.flags & wire::kFlagReply);
  FUZZ_REQUIRE(h.key == 0);  // replies echo identities, never keys
  if (h.session == kFuzzSession) {
    if (auto it = sent_sizes.find(h.seq); it != sent_sizes.end())
      FUZZ_REQUIRE(pkt.size() <= wire::kAmplification * it->second);
  }
  if (h.session != kHarnessSession || h.seq != seq) return false;
  *out = h;
  return true;
}

/// Receives until the answer to harness request `seq` (0: until nothing is left).
Header receive(uint64_t seq) {
  const uint64_t deadline = now_ns() + kWaitNs;
  net::PacketView v[32];
  for (;;) {
    const size_t n = rig->port->rx_burst(v);
    bool found = false;
    Header r{};
    for (size_t i = 0; i < n; ++i)
      if (check_reply(v[i].data, seq, &r)) found = true;
    rig->port->release(std::span(v, n));
    if (found) return r;
    if (n == 0) {
      if (seq == 0) return r;
      if (now_ns() > deadline) fuzz::fail("the MN stopped answering");
      rig->port->wait(100'000);
    }
  }
}

/// One harness request and its answer; "busy" answers are retried (same identity, paced).
Header call(Header h) {
  h.session = kHarnessSession;
  h.seq = next_seq++;
  for (;;) {
    send(h);
    const Header r = receive(h.seq);
    if (r.status != static_cast<uint8_t>(Status::kRetryLater) || h.attempt == 1000) return r;
    ++h.attempt;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

struct Space {
  uint32_t pid = 0;
  uint64_t key_rw = 0, key_ro = 0, va = 0;
};

Status create(Space* s) {
  Header r;
  for (int tries = 0;; ++tries) {
    r = call(wire::make_header(Opcode::kRasCreate));
    // kStale: the fuzzer's own address-space creations evicted records of pid 0 a moment ago.
    if (r.status != static_cast<uint8_t>(Status::kStale) || tries == 20) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  if (r.status != 0) return static_cast<Status>(r.status);
  s->pid = r.pid;
  s->key_rw = r.arg0;
  s->key_ro = r.arg1;
  Header a = wire::make_header(Opcode::kRalloc);
  a.pid = s->pid;
  a.key = s->key_rw;
  a.arg0 = kRegion;
  r = call(a);
  if (r.status != 0) return static_cast<Status>(r.status);
  s->va = r.va;
  return Status::kOk;
}

void destroy(const Space& s) {
  Header d = wire::make_header(Opcode::kRasDestroy);
  d.pid = s.pid;
  d.key = s.key_rw;
  (void)call(d);  // kStale now and then: then the space stays, and a later build() clears it
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  set_log_level(LogLevel::kOff);
  build();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes in(data, size);
  const uint8_t mode = in.u8();
  sent_sizes.clear();
  (void)receive(0);  // what earlier inputs' control operations answered late

  Space space;
  if (mode & kSetup) {
    if (create(&space) != Status::kOk) {
      build();  // the tables are full of the fuzzer's address spaces: start again
      const Status s = create(&space);
      if (s != Status::kOk) fuzz::fail(status_name(s));
    }
  }

  std::vector<std::byte> pkt;
  for (size_t n = 0; n < kMaxPackets && !in.empty(); ++n) {
    const size_t len = std::min<size_t>(in.u16(), kMaxPacketBytes);
    const auto bytes = in.take(len);
    pkt.assign(bytes.begin(), bytes.end());
    if (pkt.size() >= wire::kHeaderBytes) {
      Header h;
      std::memcpy(&h, pkt.data(), wire::kHeaderBytes);
      if ((mode & kSetup) && (mode & kAuth)) {
        h.pid = space.pid;
        h.key = (mode & kReadOnly) ? space.key_ro : space.key_rw;
      }
      if ((mode & kSetup) && (mode & kVa)) h.va = space.va + h.va % kRegion;
      if (mode & kIdentity) {
        h.session = kFuzzSession;
        h.seq = next_seq++;
        sent_sizes[h.seq] = pkt.size();
      }
      if (mode & kReseal) wire::seal(h, wire::payload_of(pkt));
      std::memcpy(pkt.data(), &h, wire::kHeaderBytes);
    }
    send(pkt);
  }

  Header barrier = wire::make_header(Opcode::kRead);
  barrier.length = 1;
  const Header r = call(barrier);
  FUZZ_REQUIRE(r.status == static_cast<uint8_t>(Status::kNoSuchRas));
  if (mode & kSetup) destroy(space);
  return 0;
}

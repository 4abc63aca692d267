// SPDX-License-Identifier: Apache-2.0
// The experiments (figure numbers as in ../shared/PAPER.md). Each one is a list of steps, one per
// (point, system), the systems' order rotated from point to point; a design's step starts its own
// memory node and stops it, so that only one memory node polls at a time and no state carries
// from one system's step to another's.
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

#include "bench/compare/compare.h"
#include "bench/floors.h"
#include "bench/kv_lib.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/histogram.h"
#include "common/rng.h"
#include "common/units.h"
#include "mn/memory_node.h"

namespace clio::compare {
namespace {

using bench::Row;

constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;

Row base(int exp, const std::string& system, const char* kind, const char* op) {
  Row r;
  r.set("experiment", exp).set("system", system).set("kind", kind).set("op", op);
  return r;
}

/// n timed calls of op after n/10 untimed ones.
template <typename F>
bench::Measured timed(uint64_t n, F&& op) {
  bench::time_ops(n / 10 + 1, [&](uint64_t i) {
    op(i);
    return true;
  });
  return bench::time_ops(n, [&](uint64_t i) {
    op(i);
    return true;
  });
}

Row& figures(Row& r, const bench::Measured& m) {
  return r.latency(m.ns).set("ops_per_s", m.ops_per_s);
}

/// The systems of one point, rotated by the point's index.
std::vector<std::string> rotated(std::vector<std::string> v, size_t k) {
  if (!v.empty()) std::rotate(v.begin(), v.begin() + static_cast<long>(k % v.size()), v.end());
  return v;
}

/// Writes 8 bytes at the start of every page of [va, va + pages * page), `depth` at a time.
void touch(Client& c, uint64_t va, uint64_t pages, uint64_t page, uint32_t depth = 32) {
  std::vector<Handle> ring(depth);
  const uint64_t one = 1;
  for (uint64_t p = 0; p < pages; ++p) {
    Handle& h = ring[p % depth];
    if (h.valid()) check(c.rwait(std::move(h)), "rwrite_async (touch)");
    check(c.rwrite_async(va + p * page, &one, sizeof one, &h), "rwrite_async (touch)");
  }
  for (Handle& h : ring)
    if (h.valid()) check(c.rwait(std::move(h)), "rwrite_async (touch)");
}

std::vector<uint64_t> pick(const Options& o, std::vector<uint64_t> tiny,
                           std::vector<uint64_t> quick, std::vector<uint64_t> full) {
  return o.scale == Scale::kTiny ? tiny : o.scale == Scale::kQuick ? quick : full;
}

/// The anchors' servers, started on first use and kept for the experiment (they sleep in epoll
/// between requests, so they take nothing from the others' steps).
struct Anchors {
  std::unique_ptr<bench::MemcachedServer> mc;
  std::unique_ptr<bench::RedisServer> redis;
  bench::MemcachedServer& memcached() {
    if (!mc) mc = std::make_unique<bench::MemcachedServer>(1);  // -t = the MN's workers (1)
    return *mc;
  }
  bench::RedisServer& redis_server() {
    if (!redis) redis = std::make_unique<bench::RedisServer>();
    return *redis;
  }
};

std::vector<std::string> systems(const Options& o, bool kv, bool floor) {
  std::vector<std::string> s = o.designs;
  if (kv && o.has_anchor("memcached")) s.push_back("memcached");
  if (kv && o.has_anchor("redis")) s.push_back("redis");
  if (floor && o.has_anchor("floor")) s.push_back("floor");
  if (!o.rdma.empty()) s.push_back("rdma");
  return s;
}

bool is_design(const std::string& s) { return mn::find_design(s) != nullptr; }

/// Lets `ns` pass without leaving the CPU idle (an idle vCPU takes tens of microseconds to wake,
/// which the next timed request would pay) and without holding it (other threads, such as the
/// MN's slow path refilling its free-page buffer, run when they want to).
void pause_hot(uint64_t ns) {
  const uint64_t until = now_ns() + ns;
  while (now_ns() < until) sched_yield();
}

}  // namespace

// --- 1: latency against request size (Figs 10, 11) -----------------------------------------------
std::vector<Step> exp_size(const Options& o) {
  std::vector<Step> steps;
  auto anchors = std::make_shared<Anchors>();
  const auto sizes = pick(o, {64}, {64, 1024, 4096}, {16, 64, 256, 1024, 4096});
  const uint64_t n = o.ops();
  size_t k = 0;
  for (const uint64_t size : sizes) {
    for (const std::string& sys : rotated(systems(o, true, true), k++)) {
      steps.push_back(
          {1, sys + " " + std::to_string(size) + " B", [=, &o](std::vector<Row>* out) {
             const uint32_t sz = static_cast<uint32_t>(size);
             Rng rng(size);
             if (is_design(sys)) {
               DesignMn mn(o, sys, {});
               auto c = mn.open();
               constexpr uint64_t kRegion = 64 * kMiB;
               uint64_t va;
               check(c->ralloc(kRegion, &va), "ralloc");
               touch(*c, va, kRegion / c->page_bytes(), c->page_bytes());
               std::vector<std::byte> buf(sz, std::byte{9});
               const uint64_t slots = kRegion / sz;
               const auto rd = timed(n, [&](uint64_t) {
                 check(c->rread(va + rng.below(slots) * sz, buf.data(), sz), "rread");
               });
               const auto wr = timed(n, [&](uint64_t) {
                 check(c->rwrite(va + rng.below(slots) * sz, buf.data(), sz), "rwrite");
               });
               Row r = base(1, sys, "design", "read");
               out->push_back(figures(r.set("size", size), rd));
               Row w = base(1, sys, "design", "write");
               out->push_back(figures(w.set("size", size), wr));
             } else if (sys == "memcached") {
               bench::MemcachedClient mc(anchors->memcached(), size);
               mc.load(sz);
               Row r = base(1, sys, "anchor", "get");
               out->push_back(figures(r.set("size", size), timed(n, [&](uint64_t) { mc.get(); })));
               Row w = base(1, sys, "anchor", "set");
               out->push_back(figures(w.set("size", size), timed(n, [&](uint64_t) { mc.set(); })));
             } else if (sys == "redis") {
               bench::RedisClient rc(anchors->redis_server(), size);
               rc.prepare(sz);
               Row r = base(1, sys, "anchor", "getrange");
               out->push_back(
                   figures(r.set("size", size), timed(n, [&](uint64_t) { rc.getrange(); })));
               Row w = base(1, sys, "anchor", "setrange");
               out->push_back(
                   figures(w.set("size", size), timed(n, [&](uint64_t) { rc.setrange(); })));
             } else if (sys == "rdma") {
               rdma_size_rows(o, size, out);
             } else if (sys == "floor") {
               if (o.transport == "inproc") {
                 Row r = base(1, sys, "floor", "cacheline");
                 out->push_back(figures(r.set("size", size), bench::cacheline_floor(n, o.mn_cpu)));
               } else {
                 const auto f = bench::udp_floor({sz}, n, o.mn_cpu);
                 Row r = base(1, sys, "floor", "udp-pingpong");
                 out->push_back(figures(r.set("size", size), f.at(sz)));
               }
             }
           }});
    }
  }
  return steps;
}

// --- 2: latency against client address spaces (Fig 4) --------------------------------------------
std::vector<Step> exp_clients(const Options& o) {
  std::vector<Step> steps;
  auto points = pick(o, {1, 8}, {1, 100, 1000}, {1, 10, 100, 1000, 10'000});
  // An inproc endpoint is a 1 MiB ring in this process: 10,000 would take 10 GiB.
  if (o.transport == "inproc")
    points.erase(std::remove_if(points.begin(), points.end(), [](uint64_t p) { return p > 2000; }),
                 points.end());
  const uint64_t n = o.ops();
  size_t k = 0;
  std::vector<std::string> sys2 = o.designs;
  if (!o.rdma.empty()) sys2.push_back("rdma");  // one RC queue pair per client
  if (o.has_anchor("floor") && (o.transport == "inproc" || o.transport == "udp"))
    sys2.push_back("floor");  // the same number of client endpoints against a bare echo
  for (const uint64_t clients : points) {
    for (const std::string& sys : rotated(sys2, k++)) {
      if (sys == "rdma" && clients > 1000)
        continue;  // each QP pins a buffer; emulated RoCE is slow
      steps.push_back(
          {2, sys + " " + std::to_string(clients) + " clients", [=, &o](std::vector<Row>* out) {
             if (sys == "rdma") return rdma_clients_rows(o, clients, out);
             if (sys == "floor") {
               const std::string listen = o.transport == "inproc" ? "inproc:name=floor-clients"
                                                                  : "udp:host=127.0.0.1,port=0";
               Row r = base(2, sys, "floor", o.transport == "inproc" ? "inproc-echo" : "udp-echo");
               r.set("size", 64).set("clients", clients);
               out->push_back(figures(r, bench::endpoints_floor(listen, clients, 64, n, o.mn_cpu)));
               return;
             }
             DesignMn mn(o, sys, {256 * kMiB, 4 * kKiB, 16384});
             bool measured = false;
             const uint64_t before = mn.memory_bytes(&measured);
             std::vector<std::unique_ptr<Client>> cs;
             std::vector<uint64_t> vas;
             const uint64_t one = 1;
             for (uint64_t i = 0; i < clients; ++i) {
               cs.push_back(mn.open());
               uint64_t va;
               check(cs.back()->ralloc(4096, &va), "ralloc");
               check(cs.back()->rwrite(va, &one, 8), "rwrite");
               vas.push_back(va);
             }
             const uint64_t after = mn.memory_bytes(&measured);
             Rng rng(clients);
             std::byte buf[64];
             const auto m = timed(n, [&](uint64_t) {
               const size_t i = rng.below(clients);
               check(cs[i]->rread(vas[i] + rng.below(64) * 64, buf, 64), "rread");
             });
             Row r = base(2, sys, "design", "read");
             r.set("size", 64).set("clients", clients);
             figures(r, m);
             // Each client wrote one page: its data, not the MN's metadata for it.
             const double per = static_cast<double>(after > before ? after - before : 0) /
                                static_cast<double>(clients);
             r.set("mn_bytes", after)
                 .set("mn_bytes_per_client", per)
                 .set("mn_metadata_per_client", !measured    ? per
                                                : per > 4096 ? per - 4096
                                                             : 0.0)
                 .set("memory", measured ? "rss" : "accounted");
             out->push_back(r);
             for (auto& c : cs) check(c->close(), "close");
           }});
    }
  }
  return steps;
}

// --- 3: latency against mapped pages (Fig 5) -----------------------------------------------------
std::vector<Step> exp_pages(const Options& o) {
  std::vector<Step> steps;
  auto logs = pick(o, {0, 6}, {0, 10, 14}, {0, 4, 10, 14, 18, 20, 22, 24});
  uint64_t cap = o.max_pages_log2;
  if (cap == 0) {  // one design's pages at a time, in at most half of this machine's RAM
    cap = 0;
    while ((uint64_t{4096} << (cap + 1)) <= o.ram_bytes / 2) ++cap;
  }
  logs.erase(std::remove_if(logs.begin(), logs.end(), [&](uint64_t l) { return l > cap; }),
             logs.end());
  const uint64_t n = o.ops();
  size_t k = 0;
  std::vector<std::string> sys3 = o.designs;
  if (!o.rdma.empty()) sys3.push_back("rdma");  // as far as the server's one region reaches
  for (const uint64_t lg : logs) {
    for (const std::string& sys : rotated(sys3, k++)) {
      steps.push_back(
          {3, sys + " 2^" + std::to_string(lg) + " pages", [=, &o](std::vector<Row>* out) {
             const uint64_t pages = uint64_t{1} << lg;
             if (sys == "rdma") {
               (void)rdma_pages_rows(o, pages, out);
               return;
             }
             DesignMn mn(o, sys, {pages * 4 * kKiB + 16 * kMiB, 4 * kKiB, 1024});
             auto c = mn.open();
             uint64_t va;
             check(c->ralloc(pages * 4 * kKiB, &va), "ralloc");
             touch(*c, va, pages, 4 * kKiB);
             Rng rng(lg + 1);
             std::byte buf[64];
             const auto m = timed(n, [&](uint64_t) {
               check(c->rread(va + rng.below(pages) * 4096 + rng.below(64) * 64, buf, 64), "rread");
             });
             Row r = base(3, sys, "design", "read");
             r.set("size", 64).set("pages", pages).set("pages_log2", lg);
             out->push_back(figures(r, m));
           }});
    }
  }
  return steps;
}

// --- 4: TLB hit, TLB miss, first touch; reads under a stream of faults (Fig 6)
// --------------------
std::vector<Step> exp_faults(const Options& o) {
  std::vector<Step> steps;
  const uint64_t n = o.ops();
  // "first-touch" also gives the "tlb-miss-paced" row (the two are measured paired).
  const std::vector<std::string> kinds = {"tlb-hit", "tlb-miss", "first-touch", "first-touch-4M",
                                          "read-under-faults"};
  // First touches come in bursts of kBurst reads, then a pause in which the free-page buffer
  // refills: the latency of a fault, not the refill rate. "tlb-miss-paced" reads mapped pages
  // in the same bursts and pauses, so that the first touch is compared with a TLB miss that
  // differs from it in nothing but the fault (a quiet MN's first request costs more).
  constexpr uint64_t kBurst = 32, kPauseNs = 2'000'000;
  size_t k = 0;
  for (const std::string& kind : kinds) {
    for (const std::string& sys : rotated(o.designs, k++)) {
      steps.push_back(
          {4, sys + " " + kind, [=, &o](std::vector<Row>* out) {
             Rng rng(k);
             std::byte buf[16];
             Row r = base(4, sys, "design", kind.c_str());
             r.set("size", 16);
             if (kind == "tlb-hit" || kind == "tlb-miss") {
               // 2^14 pages of 4 KiB: 16x the TLB (1024 entries), so random pages mostly miss.
               const uint64_t pages = kind == "tlb-hit" ? 1 : 16384;
               DesignMn mn(o, sys, {256 * kMiB, 4 * kKiB, 1024});
               auto c = mn.open();
               uint64_t va;
               check(c->ralloc(pages * 4096, &va), "ralloc");
               touch(*c, va, pages, 4096);
               const auto m = timed(n, [&](uint64_t) {
                 check(c->rread(va + rng.below(pages) * 4096 + rng.below(256) * 16, buf, 16),
                       "rread");
               });
               figures(r.set("page_bytes", 4096).set("pages", pages), m);
             } else if (kind == "first-touch") {
               // Paired in one MN, burst by burst: kBurst first touches of fresh pages, a pause,
               // kBurst reads of random mapped pages (TLB misses: 16x the TLB's reach), a pause,
               // and so on; two rows, "first-touch" and "tlb-miss-paced", under the same noise.
               constexpr uint64_t kMapped = 16384;
               DesignMn mn(o, sys, {(kMapped + n) * 4096 + 64 * kMiB, 4 * kKiB, 1024});
               auto c = mn.open();
               uint64_t mapped, fresh;
               check(c->ralloc(kMapped * 4096, &mapped), "ralloc");
               touch(*c, mapped, kMapped, 4096);
               check(c->ralloc(n * 4096, &fresh), "ralloc");
               bench::Measured touches, misses;
               uint64_t touch_ns = 0, miss_ns = 0;
               for (uint64_t i = 0; i < n; i += kBurst) {
                 const uint64_t end = std::min(n, i + kBurst);
                 pause_hot(kPauseNs);
                 uint64_t t0 = now_ns();
                 for (uint64_t p = i; p < end; ++p) {
                   const uint64_t t = now_ns();
                   check(c->rread(fresh + p * 4096, buf, 16), "rread (first touch)");
                   touches.ns.record(now_ns() - t);
                 }
                 touch_ns += now_ns() - t0;
                 pause_hot(kPauseNs);
                 t0 = now_ns();
                 for (uint64_t p = i; p < end; ++p) {
                   const uint64_t t = now_ns();
                   check(
                       c->rread(mapped + rng.below(kMapped) * 4096 + rng.below(256) * 16, buf, 16),
                       "rread");
                   misses.ns.record(now_ns() - t);
                 }
                 miss_ns += now_ns() - t0;
               }
               touches.ops_per_s = static_cast<double>(n) * 1e9 / static_cast<double>(touch_ns);
               misses.ops_per_s = static_cast<double>(n) * 1e9 / static_cast<double>(miss_ns);
               Row paced = base(4, sys, "design", "tlb-miss-paced");
               paced.set("size", 16).set("page_bytes", 4096).set("pages", kMapped);
               figures(paced, misses);
               out->push_back(paced);
               figures(r.set("page_bytes", 4096).set("pages", n), touches);
               mn::MnStats st;
               if (mn.embedded_stats(&st) != nullptr)  // why a tail is what it is
                 r.set("mn_faults", st.fast.faults).set("mn_retry_later", st.fast.retry_later);
             } else if (kind == "first-touch-4M") {
               // Each read is the first touch of its 4 MiB page, in bursts of 8, 60 ms apart, as
               // a 4 MiB page takes the slow path far longer to zero.
               const uint64_t page = 4 * kMiB;
               const uint64_t pages = std::min<uint64_t>(n, 256);
               const uint64_t burst = 8;
               DesignMn mn(o, sys,
                           {std::max<uint64_t>(pages * page + 64 * kMiB, 256 * kMiB), page, 1024});
               auto c = mn.open();
               uint64_t va;
               check(c->ralloc(pages * page, &va), "ralloc");
               bench::Measured m;
               const uint64_t t0 = now_ns();
               for (uint64_t p = 0; p < pages; ++p) {
                 if (p % burst == 0 && p != 0) pause_hot(60'000'000);
                 const uint64_t t = now_ns();
                 check(c->rread(va + p * page, buf, 16), "rread (first touch)");
                 m.ns.record(now_ns() - t);
               }
               m.ops_per_s = static_cast<double>(pages) * 1e9 / static_cast<double>(now_ns() - t0);
               figures(r.set("page_bytes", page).set("pages", pages), m);
               mn::MnStats st;
               if (mn.embedded_stats(&st) != nullptr)  // why a tail is what it is
                 r.set("mn_faults", st.fast.faults).set("mn_retry_later", st.fast.retry_later);
             } else {
               // Reads of mapped pages while the same client streams first touches of fresh 4 MiB
               // pages (8 in flight, no pause): what faults cost everyone else.
               DesignMn mn(o, sys, {2 * kGiB, 4 * kMiB, 1024});
               auto c = mn.open();
               uint64_t hot, fresh;
               check(c->ralloc(16 * 4 * kMiB, &hot), "ralloc");
               touch(*c, hot, 16, 4 * kMiB);
               constexpr uint64_t kFresh = 64;
               check(c->ralloc(kFresh * 4 * kMiB, &fresh), "ralloc");
               std::vector<Handle> ring(8);
               uint64_t next = 0, touches = 0;
               const uint64_t one = 1;
               auto drain = [&] {
                 for (Handle& h : ring)
                   if (h.valid()) check(c->rwait(std::move(h)), "rwrite_async (fault)");
               };
               // Only the reads are timed; the touches complete (or are retried) around them.
               bench::Measured m;
               std::vector<int> results(ring.size());
               const uint64_t t0 = now_ns();
               for (uint64_t i = 0; i < n; ++i) {
                 if (next == kFresh) {
                   drain();
                   check(c->rfree(fresh), "rfree");
                   check(c->ralloc(kFresh * 4 * kMiB, &fresh), "ralloc");
                   next = 0;
                 }
                 for (size_t s = 0; s < ring.size() && next < kFresh; ++s)
                   if (!ring[s].valid()) {
                     check(c->rwrite_async(fresh + next++ * 4 * kMiB, &one, 8, &ring[s]),
                           "rwrite_async");
                     ++touches;
                   }
                 const uint64_t t = now_ns();
                 check(c->rread(hot + rng.below(16) * 4 * kMiB + rng.below(4096) * 16, buf, 16),
                       "rread");
                 m.ns.record(now_ns() - t);
                 (void)c->rpoll(ring, results);  // completed touches free their slots
                 for (size_t s = 0; s < ring.size(); ++s)
                   if (!ring[s].valid() && results[s] != CLIO_PENDING)
                     check(results[s], "fault write");
               }
               m.ops_per_s = static_cast<double>(n) * 1e9 / static_cast<double>(now_ns() - t0);
               drain();
               figures(r.set("page_bytes", 4 * kMiB).set("faults", touches), m);
             }
             out->push_back(r);
           }});
    }
  }
  return steps;
}

// --- 5: throughput against client threads and queue depth, 1 KiB (Fig 8) -------------------------
namespace {

struct Load {
  uint64_t ops = 0;
  Histogram ns;  ///< per request (sync) or per batch (depth > 1)
};

/// Runs `threads` threads (pinned to the client CPUs) for `seconds`; each calls body(t, stop).
double run_threads(const Options& o, int threads, double seconds,
                   const std::function<Load(int, std::atomic<bool>&)>& body, Histogram* ns) {
  std::atomic<bool> stop{false};
  std::vector<Load> loads(static_cast<size_t>(threads));
  std::vector<std::thread> ts;
  const uint64_t t0 = now_ns();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      int cpu = t % std::max(1, o.cpus - 1);
      if (cpu >= o.mn_cpu) ++cpu;
      pin_to_cpu(cpu);
      loads[static_cast<size_t>(t)] = body(t, stop);
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the run's length
  stop.store(true);
  for (auto& t : ts) t.join();
  const double elapsed = static_cast<double>(now_ns() - t0) / 1e9;
  uint64_t ops = 0;
  for (const Load& l : loads) {
    ops += l.ops;
    ns->merge(l.ns);
  }
  pin_to_cpu(o.client_cpu);
  return static_cast<double>(ops) / elapsed;
}

}  // namespace

std::vector<Step> exp_throughput(const Options& o) {
  std::vector<Step> steps;
  auto anchors = std::make_shared<Anchors>();
  const auto depths = pick(o, {1, 8}, {1, 8, 32}, {1, 4, 8, 16, 32});
  std::vector<uint64_t> threads_list = {1};
  for (uint64_t t = 2; t <= static_cast<uint64_t>(o.cpus - 1) && t <= 4; t *= 2)
    threads_list.push_back(t);
  const double seconds = o.scale == Scale::kTiny ? 0.2 : o.scale == Scale::kQuick ? 0.6 : 2.0;
  const std::vector<std::string> ops = o.scale == Scale::kFull
                                           ? std::vector<std::string>{"read", "write"}
                                           : std::vector<std::string>{"read"};
  constexpr uint32_t kSize = 1024;
  size_t k = 0;
  for (const uint64_t threads : threads_list) {
    for (const uint64_t depth : depths) {
      for (const std::string& op : ops) {
        for (const std::string& sys : rotated(systems(o, true, true), k++)) {
          const bool write = op == "write";
          if (sys == "memcached" && write && depth > 1) continue;  // no multi-set in memcached
          // The floor: a bare echo with clio's packets and batches over the same transport, for
          // one client thread (it has no reads or writes: one row per depth).
          if (sys == "floor" &&
              (write || threads != 1 || (o.transport != "udp" && o.transport != "inproc")))
            continue;
          steps.push_back(
              {5, sys + " " + op + " t=" + std::to_string(threads) + " qd=" + std::to_string(depth),
               [=, &o](std::vector<Row>* out) {
                 Histogram ns;
                 double ops_per_s = 0;
                 const int nt = static_cast<int>(threads);
                 const uint32_t qd = static_cast<uint32_t>(depth);
                 const char* kind = is_design(sys) ? "design" : "anchor";
                 std::string opname = op;
                 if (is_design(sys)) {
                   DesignMn mn(o, sys, {});
                   std::vector<std::unique_ptr<Client>> cs;
                   std::vector<uint64_t> vas;
                   constexpr uint64_t kRegion = 64 * kMiB;
                   for (int t = 0; t < nt; ++t) {
                     cs.push_back(mn.open());
                     uint64_t va;
                     check(cs.back()->ralloc(kRegion, &va), "ralloc");
                     touch(*cs.back(), va, kRegion / cs.back()->page_bytes(),
                           cs.back()->page_bytes());
                     vas.push_back(va);
                   }
                   opname = op + (qd == 1 ? "-sync" : "-async");
                   ops_per_s = run_threads(
                       o, nt, seconds,
                       [&](int t, std::atomic<bool>& stop) {
                         Client& c = *cs[static_cast<size_t>(t)];
                         Rng rng(static_cast<uint64_t>(t) + 1);
                         Load l;
                         std::vector<std::byte> bufs(static_cast<size_t>(qd) * kSize, std::byte{3});
                         const uint64_t slots = kRegion / kSize;
                         if (qd == 1) {
                           while (!stop.load(std::memory_order_relaxed)) {
                             const uint64_t t0 = now_ns();
                             const uint64_t va =
                                 vas[static_cast<size_t>(t)] + rng.below(slots) * kSize;
                             check(write ? c.rwrite(va, bufs.data(), kSize)
                                         : c.rread(va, bufs.data(), kSize),
                                   "rread/rwrite");
                             l.ns.record(now_ns() - t0);
                             ++l.ops;
                           }
                           return l;
                         }
                         // A window of qd requests in two batches of qd/2 (rbatch_begin/end:
                         // each half leaves in one system call), so that the MN serves one
                         // half while this thread completes and reissues the other; whatever
                         // one poll finds complete is reissued, half a window per batch.
                         // memcached's multiget and Redis's pipeline, at the same depth, are
                         // one batch per round trip, as their client libraries issue them.
                         const uint32_t half = std::max<uint32_t>(1, qd / 2);
                         std::vector<Handle> ring(qd);
                         std::vector<uint64_t> issued(qd);
                         std::vector<int> results(qd);
                         auto issue = [&](uint32_t s) {
                           const uint64_t va =
                               vas[static_cast<size_t>(t)] + rng.below(slots) * kSize;
                           std::byte* b = bufs.data() + static_cast<size_t>(s) * kSize;
                           issued[s] = now_ns();
                           check(write ? c.rwrite_async(va, b, kSize, &ring[s])
                                       : c.rread_async(va, b, kSize, &ring[s]),
                                 "async");
                         };
                         for (uint32_t s = 0; s < qd; s += half) {
                           check(c.rbatch_begin(), "rbatch_begin");
                           for (uint32_t i = s; i < std::min(qd, s + half); ++i) issue(i);
                           check(c.rbatch_end(), "rbatch_end");
                         }
                         while (!stop.load(std::memory_order_relaxed)) {
                           const int n = c.rpoll(ring, results);
                           if (n < 0) check(n, "rpoll");
                           if (n <= 0) continue;
                           const uint64_t now = now_ns();
                           check(c.rbatch_begin(), "rbatch_begin");
                           uint32_t in_batch = 0;
                           for (uint32_t s = 0; s < qd; ++s) {
                             if (ring[s].valid()) continue;
                             check(results[s], "async result");
                             l.ns.record(now - issued[s]);
                             ++l.ops;
                             issue(s);
                             if (++in_batch == half) {
                               check(c.rbatch_end(), "rbatch_end");
                               check(c.rbatch_begin(), "rbatch_begin");
                               in_batch = 0;
                             }
                           }
                           check(c.rbatch_end(), "rbatch_end");
                         }
                         for (Handle& h : ring)
                           if (h.valid()) (void)c.rwait(std::move(h));
                         return l;
                       },
                       &ns);
                 } else if (sys == "floor") {
                   opname = o.transport + "-echo";
                   kind = "floor";
                   const std::string listen = o.transport == "inproc" ? "inproc:name=floor-window"
                                                                      : "udp:host=127.0.0.1,port=0";
                   pin_to_cpu(o.client_cpu);
                   const bench::Measured f =
                       bench::window_floor(listen, kSize, qd, seconds, o.mn_cpu);
                   ns.merge(f.ns);
                   ops_per_s = f.ops_per_s;
                 } else if (sys == "memcached") {
                   std::vector<std::unique_ptr<bench::MemcachedClient>> mcs;
                   for (int t = 0; t < nt; ++t) {
                     mcs.push_back(std::make_unique<bench::MemcachedClient>(
                         anchors->memcached(), static_cast<uint64_t>(t) + 1));
                     mcs.back()->load(kSize);
                   }
                   opname = write ? "set" : qd == 1 ? "get" : "multiget";
                   ops_per_s = run_threads(
                       o, nt, seconds,
                       [&](int t, std::atomic<bool>& stop) {
                         auto& mc = *mcs[static_cast<size_t>(t)];
                         Load l;
                         while (!stop.load(std::memory_order_relaxed)) {
                           const uint64_t t0 = now_ns();
                           if (write) {
                             mc.set();
                           } else if (qd == 1) {
                             mc.get();
                           } else {
                             mc.multiget(qd);
                           }
                           l.ns.record(now_ns() - t0);
                           l.ops += qd;
                         }
                         return l;
                       },
                       &ns);
                 } else if (sys == "redis") {
                   std::vector<std::unique_ptr<bench::RedisClient>> rcs;
                   for (int t = 0; t < nt; ++t) {
                     rcs.push_back(std::make_unique<bench::RedisClient>(
                         anchors->redis_server(), static_cast<uint64_t>(t) + 1));
                     rcs.back()->prepare(kSize);
                   }
                   opname = write ? "setrange" : "getrange";
                   ops_per_s = run_threads(
                       o, nt, seconds,
                       [&](int t, std::atomic<bool>& stop) {
                         auto& rc = *rcs[static_cast<size_t>(t)];
                         Load l;
                         while (!stop.load(std::memory_order_relaxed)) {
                           const uint64_t t0 = now_ns();
                           if (qd == 1) {
                             write ? rc.setrange() : rc.getrange();
                           } else {
                             rc.pipeline(qd, write);
                           }
                           l.ns.record(now_ns() - t0);
                           l.ops += qd;
                         }
                         return l;
                       },
                       &ns);
                 }
                 Row r = base(5, sys, kind, opname.c_str());
                 r.set("size", uint64_t{kSize}).set("threads", threads).set("depth", depth);
                 r.latency(ns).set("ops_per_s", ops_per_s);
                 out->push_back(r);
               }});
        }
      }
    }
  }
  return steps;
}

// --- 6: ralloc and rfree latency against size (Fig 12); ralloc retries (Fig 13)
// -------------------
std::vector<Step> exp_alloc(const Options& o) {
  std::vector<Step> steps;
  const auto sizes = pick(o, {4 * kMiB, 64 * kMiB}, {4 * kMiB, 64 * kMiB, kGiB},
                          {4 * kMiB, 16 * kMiB, 64 * kMiB, 256 * kMiB, kGiB});
  const uint64_t reps = o.scale == Scale::kTiny ? 3 : o.scale == Scale::kQuick ? 10 : 40;
  size_t k = 0;
  std::vector<std::string> sys6 = o.designs;
  if (!o.rdma.empty()) sys6.push_back("rdma");  // ibv_reg_mr and ibv_dereg_mr, this host
  for (const uint64_t size : sizes) {
    for (const std::string& sys : rotated(sys6, k++)) {
      if (sys == "rdma") {
        // Registration pins the memory: at most a quarter of this machine's RAM at once.
        if (size > o.ram_bytes / 4) continue;
        steps.push_back({6, "rdma reg_mr " + format_size(size), [=, &o](std::vector<Row>* out) {
                           rdma_register_rows(o, size, reps, out);
                         }});
        continue;
      }
      steps.push_back({6, sys + " ralloc " + format_size(size), [=, &o](std::vector<Row>* out) {
                         DesignMn mn(o, sys, {2 * kGiB, 4 * kMiB, 1024});
                         auto c = mn.open();
                         bench::Measured ra, rf;
                         for (uint64_t i = 0; i < reps; ++i) {
                           uint64_t va;
                           uint64_t t0 = now_ns();
                           check(c->ralloc(size, &va), "ralloc");
                           ra.ns.record(now_ns() - t0);
                           t0 = now_ns();
                           check(c->rfree(va), "rfree");
                           rf.ns.record(now_ns() - t0);
                         }
                         Row a = base(6, sys, "design", "ralloc");
                         out->push_back(a.set("size", size).latency(ra.ns));
                         Row f = base(6, sys, "design", "rfree");
                         out->push_back(f.set("size", size).latency(rf.ns));
                       }});
    }
  }
  bool clio = false;
  for (const auto& d : o.designs) clio |= d == "clio";
  if (!clio) return steps;
  steps.push_back({6, "clio ralloc retries against memory in use", [&o](std::vector<Row>* out) {
                     // The slow path's algorithm alone (no network): a 256 MiB pool of 4 KiB pages
                     // filled by rallocs of 1 to 256 pages until one fails; retries per ralloc by
                     // how full memory was.
                     mn::MnConfig cfg;
                     cfg.pool_bytes = (o.scale == Scale::kTiny ? 16 : 256) * kMiB;
                     cfg.page_bytes = 4 * kKiB;
                     cfg.seed = 7;
                     cfg.lease_ms = 0;
                     mn::MemoryNode node(cfg);
                     const auto ras = node.create_ras();
                     Rng rng(3);
                     struct Band {
                       uint64_t rallocs = 0, retries = 0, max = 0;
                     };
                     std::map<uint64_t, Band> bands;  // by 5% of pages allocated
                     uint64_t allocated = 0;
                     const uint64_t total = node.stats().pages_total;
                     for (;;) {
                       const uint64_t pages = 1 + rng.below(256);
                       const uint64_t before = node.stats().ralloc_retries;
                       uint64_t va;
                       const uint64_t band = allocated * 20 / total * 5;
                       if (node.ralloc(ras.pid, ras.key_rw, pages * 4096, 0, &va) != Status::kOk)
                         break;
                       const uint64_t retries = node.stats().ralloc_retries - before;
                       Band& b = bands[band];
                       ++b.rallocs;
                       b.retries += retries;
                       b.max = std::max(b.max, retries);
                       allocated += pages;
                     }
                     for (const auto& [band, b] : bands) {
                       Row r = base(6, "clio", "design", "ralloc-retries");
                       r.set("fill_pct", band)
                           .set("rallocs", b.rallocs)
                           .set("retries_per_ralloc",
                                static_cast<double>(b.retries) / static_cast<double>(b.rallocs))
                           .set("max_retries", b.max);
                       out->push_back(r);
                     }
                     Row r = base(6, "clio", "design", "ralloc-full");
                     r.set("fill_pct",
                           static_cast<double>(allocated) * 100.0 / static_cast<double>(total));
                     out->push_back(r);
                   }});
  return steps;
}

}  // namespace clio::compare

// SPDX-License-Identifier: Apache-2.0
// mn_fastpath: operations per second and per-operation latency of one fast-path worker on one
// core, in process (no network): 64 B and 4 KiB reads and writes with TLB hits, TLB misses and a
// 90/10 mix; 8-byte atomics; and first-touch page faults, whose cost is reported against the
// same access on a page that is already backed (the zeroing is done ahead by the slow path and
// is not part of the fault).
//
// Throughput: operations in batches of 32 (one FastPath::Batch each), untimed per operation.
// Latency: each operation timed alone with rdtscp ... lfence (timer cost included, see timer_ns).
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

#include "bench/options.h"
#include "bench/report.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/units.h"
#include "mn/memory_node.h"

namespace po = boost::program_options;
using namespace clio;
using namespace clio::mn;

namespace {

constexpr uint64_t kPage = 4096;
constexpr int kBatch = 32;

enum class Op { kRead, kWrite, kCas, kFaa };

const char* op_name(Op op) {
  switch (op) {
    case Op::kRead:
      return "read";
    case Op::kWrite:
      return "write";
    case Op::kCas:
      return "cas";
    case Op::kFaa:
      return "faa";
  }
  return "?";
}

struct Bench {
  MemoryNode& mn;
  FastPath& w;
  uint32_t pid;
  uint64_t key;
  // Page-aligned, as the pool's pages are: copy speed depends on how source and destination
  // align, and a heap buffer's alignment changes with whatever was allocated before it.
  struct alignas(4096) Page {
    std::byte bytes[kPage];
  };
  std::unique_ptr<Page> page = std::make_unique<Page>();
  std::span<std::byte> buf{page->bytes, kPage};

  Status run(Op op, uint64_t va, uint32_t size) {
    const Target t{pid, key, va};
    uint64_t old;
    switch (op) {
      case Op::kRead:
        return w.read(t, std::span(buf.data(), size));
      case Op::kWrite:
        return w.write(t, std::span(buf.data(), size));
      case Op::kCas:
        return w.cas(t, 0, 0, &old);
      case Op::kFaa:
        return w.faa(t, 1, &old);
    }
    return Status::kBadArgument;
  }

  /// Runs `op` at every address in `vas`: once per-op timed, once for throughput.
  bool measure(Op op, uint32_t size, const std::vector<uint64_t>& vas, const bench::TickToNs& to_ns,
               Histogram* ns, double* ops_per_s) {
    // Warm-up: fills the TLB the way the measured run will.
    for (size_t i = 0; i < vas.size() && i < 100000; i += kBatch) {
      FastPath::Batch b(w);
      for (size_t j = i; j < i + kBatch && j < vas.size(); ++j)
        if (run(op, vas[j], size) != Status::kOk) return false;
    }
    for (size_t i = 0; i < vas.size(); i += kBatch) {
      FastPath::Batch b(w);
      for (size_t j = i; j < i + kBatch && j < vas.size(); ++j) {
        const uint64_t t0 = Tsc::now();
        const Status s = run(op, vas[j], size);
        const uint64_t t1 = Tsc::now();
        if (s != Status::kOk) return false;
        ns->record(to_ns(t1 - t0));
      }
    }
    const uint64_t t0 = now_ns();
    for (size_t i = 0; i < vas.size(); i += kBatch) {
      FastPath::Batch b(w);
      for (size_t j = i; j < i + kBatch && j < vas.size(); ++j)
        if (run(op, vas[j], size) != Status::kOk) [[unlikely]]
          return false;
    }
    *ops_per_s = static_cast<double>(vas.size()) * 1e9 / static_cast<double>(now_ns() - t0);
    return true;
  }
};

/// Random addresses: `hot_share` of them in the first `hot_pages` pages, the rest anywhere in
/// `pages`; offsets aligned to 64 B (8 B for atomics) so that no access crosses a page.
std::vector<uint64_t> addresses(Rng& rng, uint64_t base, uint64_t pages, uint64_t hot_pages,
                                double hot_share, uint32_t size, size_t n) {
  std::vector<uint64_t> v(n);
  const uint64_t slots = (kPage - size) / 64 + 1;
  for (auto& va : v) {
    const uint64_t page = rng.chance(hot_share) ? rng.below(hot_pages) : rng.below(pages);
    va = base + page * kPage + rng.below(slots) * 64;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("mn_fastpath: in-process fast-path operations on one core\nOptions");
  bool quick = false;
  uint64_t ops = 0;
  uint64_t seed = 1;
  opts.add_options()("help,h", "show this help")("quick", po::bool_switch(&quick),
                                                 "reduced run (under 30 s)")(
      "ops", po::value(&ops), "operations per configuration (default 2M, 300k with --quick)")(
      "seed", po::value(&seed)->default_value(1), "random seed");
  po::variables_map vm;
  if (int rc = bench::parse_options("mn_fastpath", argc, argv, opts, &vm); rc >= 0) return rc;
  if (ops == 0) ops = quick ? 300'000 : 2'000'000;
  set_log_level(LogLevel::kWarn);

  // 4 KiB pages, so that the warm region (128 Ki pages, 512 MiB) is 128 times the TLB's reach.
  const uint64_t warm_pages = 128 * 1024;
  const uint64_t fault_pages = quick ? 64 * 1024 : 192 * 1024;
  MnConfig cfg;
  cfg.page_bytes = kPage;
  cfg.pool_bytes = (warm_pages + fault_pages + 64 * 1024) * kPage;
  cfg.free_ring_depth = 4096;
  cfg.seed = seed;
  MemoryNode mn(cfg);
  auto worker = mn.add_fast_path();
  mn.refill_now();
  const auto ras = mn.create_ras();
  uint64_t warm_va, fault_va;
  if (mn.ralloc(ras.pid, ras.key_rw, warm_pages * kPage, 0, &warm_va) != Status::kOk ||
      mn.ralloc(ras.pid, ras.key_rw, fault_pages * kPage, 0, &fault_va) != Status::kOk) {
    std::fprintf(stderr, "mn_fastpath: ralloc failed\n");
    return 1;
  }
  Bench b{mn, *worker, ras.pid, ras.key_rw};
  // Back every warm page (untimed): faults in bursts the rings can serve.
  for (uint64_t p = 0; p < warm_pages; ++p) {
    Status s;
    while ((s = [&] {
             FastPath::Batch g(*worker);
             return b.run(Op::kWrite, warm_va + p * kPage, 8);
           }()) == Status::kRetryLater)
      mn.refill_now();
    if (s != Status::kOk) {
      std::fprintf(stderr, "mn_fastpath: warm-up write failed: %s\n", status_message(s));
      return 1;
    }
  }

  const bench::TickToNs to_ns;
  Histogram timer;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t t0 = Tsc::now();
    const uint64_t t1 = Tsc::now();
    timer.record(to_ns(t1 - t0));
  }
  bench::Report report("mn_fastpath");
  Rng rng(seed);

  struct Mix {
    const char* name;
    uint64_t hot_pages;
    double hot_share;
  };
  const Mix mixes[] = {{"tlb-hit", 256, 1.0}, {"90/10", 256, 0.9}, {"tlb-miss", 0, 0.0}};
  struct Case {
    Op op;
    uint32_t size;
  };
  const Case cases[] = {{Op::kRead, 64},    {Op::kWrite, 64}, {Op::kRead, 4096},
                        {Op::kWrite, 4096}, {Op::kCas, 8},    {Op::kFaa, 8}};
  for (const Case& c : cases) {
    for (const Mix& m : mixes) {
      if ((c.op == Op::kCas || c.op == Op::kFaa) && m.hot_share < 1.0) continue;
      const auto vas = addresses(rng, warm_va, warm_pages, m.hot_pages ? m.hot_pages : 1,
                                 m.hot_share, c.size, ops);
      const FastPathCounters before = worker->counters();
      Histogram ns;
      double ops_per_s = 0;
      if (!b.measure(c.op, c.size, vas, to_ns, &ns, &ops_per_s)) {
        std::fprintf(stderr, "mn_fastpath: an operation failed\n");
        return 1;
      }
      const FastPathCounters after = worker->counters();
      const double hits = static_cast<double>(after.tlb_hits - before.tlb_hits);
      const double all = hits + static_cast<double>(after.tlb_misses - before.tlb_misses);
      bench::Row row;
      row.set("op", op_name(c.op))
          .set("size", uint64_t{c.size})
          .set("access", m.name)
          .set("tlb_hit_rate", all > 0 ? hits / all : 0.0)
          .latency(ns)
          .set("ops_per_s", ops_per_s)
          .set("timer_ns", timer.percentile(0.5));
      report.add(std::move(row));
    }
  }

  // First touch: 64 B writes to pages never touched, each a fault served from the ring, and
  // right after, the same writes again (same addresses, same order; the pages are backed now and
  // the burst is twice the TLB's reach, so every one is a TLB miss and a page-table hit). The
  // difference is what the fault adds. Bursts stay below the ring's depth; the refill between
  // bursts (the slow path's zeroing) is untimed.
  {
    Histogram fault_ns, again_ns;
    uint64_t faults_timed_ns = 0;
    const uint64_t burst = cfg.free_ring_depth / 2;
    auto pass = [&](uint64_t from, uint64_t to, Histogram* ns) {
      for (uint64_t q = from; q < to; q += kBatch) {
        FastPath::Batch g(*worker);
        for (uint64_t k = q; k < to && k < q + kBatch; ++k) {
          const uint64_t t0 = Tsc::now();
          const Status st = b.run(Op::kWrite, fault_va + k * kPage + 64 * (k % 63), 64);
          const uint64_t t1 = Tsc::now();
          if (st != Status::kOk) return st;
          ns->record(to_ns(t1 - t0));
        }
      }
      return Status::kOk;
    };
    const uint64_t faults_before = worker->counters().faults;
    for (uint64_t p = 0; p < fault_pages; p += burst) {
      mn.refill_now();
      const uint64_t end = std::min(fault_pages, p + burst);
      const uint64_t t_start = now_ns();
      Status st = pass(p, end, &fault_ns);
      faults_timed_ns += now_ns() - t_start;
      if (st == Status::kOk) st = pass(p, end, &again_ns);
      if (st != Status::kOk) {
        std::fprintf(stderr, "mn_fastpath: first-touch write failed: %s\n", status_message(st));
        return 1;
      }
    }
    if (worker->counters().faults - faults_before != fault_pages) {
      std::fprintf(stderr, "mn_fastpath: expected one fault per fresh page\n");
      return 1;
    }
    bench::Row again;
    again.set("op", "write")
        .set("size", 64)
        .set("access", "same-pages-again")
        .set("tlb_hit_rate", 0.0)
        .latency(again_ns)
        .set("timer_ns", timer.percentile(0.5));
    bench::Row row;
    row.set("op", "write")
        .set("size", 64)
        .set("access", "first-touch-fault")
        .set("tlb_hit_rate", 0.0)
        .latency(fault_ns)
        .set("ops_per_s",
             static_cast<double>(fault_pages) * 1e9 / static_cast<double>(faults_timed_ns))
        .set("timer_ns", timer.percentile(0.5))
        .set("fault_adds_ns", static_cast<double>(fault_ns.percentile(0.5)) -
                                  static_cast<double>(again_ns.percentile(0.5)))
        .set("fault_adds_p99_ns", static_cast<double>(fault_ns.percentile(0.99)) -
                                      static_cast<double>(again_ns.percentile(0.99)));
    report.add(std::move(row));
    report.add(std::move(again));
  }
  report.print();
  const MnStats st = mn.stats();
  std::printf("faults %llu, retry-later %llu, pages mapped %llu of %llu\n",
              static_cast<unsigned long long>(st.fast.faults),
              static_cast<unsigned long long>(st.fast.retry_later),
              static_cast<unsigned long long>(st.pages_mapped),
              static_cast<unsigned long long>(st.pages_total));
  worker.reset();
  return 0;
}

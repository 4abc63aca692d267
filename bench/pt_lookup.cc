// SPDX-License-Identifier: Apache-2.0
// pt_lookup: how fast is a translation in Clio's overflow-free hash page table, against the
// 4-level radix table of a CPU-server memory node and the chained hash table of a SmartNIC one?
//
// Two scenarios, each run over all three tables with the same mappings and the same random
// lookups:
//   (a) one address space with 1 GiB mapped in 4 KiB pages, allocated 256 KiB at a time from
//       the bottom of its address space (the first choice of ralloc);
//   (b) 10,000 address spaces, 32 allocations each at random places in their address spaces
//       (ralloc's later choices, and what ASLR'd mmaps look like), 64 KiB pages, together at
//       least 1 TiB mapped (16.8 M pages; 256 KiB pages with --quick): every table is far larger
//       than this machine's last-level cache.
// The mappings are placed by ralloc's rule on the hash table (a range whose buckets are full is
// moved elsewhere); the radix and chained tables then map exactly the same pages. A lookup is
// timed alone (rdtscp ... lfence around it; the timer's own cost is reported as timer_ns and
// included in the percentiles); throughput is measured separately, without per-lookup timing.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

#include "bench/options.h"
#include "bench/report.h"
#include "common/clock.h"
#include "common/rng.h"
#include "common/units.h"
#include "mn/baselines.h"
#include "mn/page_table.h"

namespace po = boost::program_options;
using namespace clio;
using namespace clio::mn;

namespace {

struct Scenario {
  const char* name;
  uint32_t pids;
  uint32_t allocs_per_pid;
  uint64_t pages_per_alloc;
  int page_shift;
  bool dense;  ///< allocations one after another (a), else each at a random place (b)
};

struct Lookup {
  uint32_t pid;
  uint64_t vpn;
};

/// The mappings, placed on the hash table as ralloc places them. allocs[pid] = first VPNs.
struct Layout {
  std::unique_ptr<PageTable> table;
  std::vector<std::vector<uint64_t>> allocs;
  uint64_t retries = 0;
};

Layout place(const Scenario& s, Rng& rng) {
  Layout l;
  const uint64_t total = uint64_t{s.pids} * s.allocs_per_pid * s.pages_per_alloc;
  l.table = std::make_unique<PageTable>(total * 2);  // the MN's default overprovision
  l.allocs.resize(s.pids + 1);
  const uint64_t vpn_base = kVaBase >> s.page_shift;
  const uint64_t vpn_span = (kVaLimit - kVaBase) >> s.page_shift;
  std::vector<Pte*> got;
  uint64_t ppn = 0;
  for (uint32_t pid = 1; pid <= s.pids; ++pid) {
    uint64_t next = vpn_base;
    for (uint32_t a = 0; a < s.allocs_per_pid; ++a) {
      for (int attempt = 0;; ++attempt) {
        // Overlap with the address space's other allocations is left to chance in (b): with
        // 32 ranges in 2^32 pages it does not happen in practice, and a table lookup would not
        // care anyway.
        const uint64_t base =
            (s.dense && attempt == 0) ? next : vpn_base + rng.below(vpn_span - s.pages_per_alloc);
        got.clear();
        bool ok = true;
        for (uint64_t i = 0; i < s.pages_per_alloc && ok; ++i) {
          Pte* p = l.table->reserve(Pte::make_tag(pid, base + i),
                                    Pte::kAllocated | Pte::kValid | Pte::kWritable | (ppn + i));
          if (p == nullptr) {
            ok = false;
          } else {
            got.push_back(p);
          }
        }
        if (!ok) {
          for (Pte* p : got) l.table->cancel(p);
          ++l.retries;
          continue;
        }
        for (uint64_t i = 0; i < s.pages_per_alloc; ++i)
          l.table->publish(got[i], Pte::make_tag(pid, base + i));
        l.allocs[pid].push_back(base);
        next = base + s.pages_per_alloc;
        ppn += s.pages_per_alloc;
        break;
      }
    }
  }
  return l;
}

struct Measured {
  Histogram ns;
  double ops_per_s;
  uint64_t checksum;
};

/// Times each lookup alone, then all of them back to back.
template <typename F>
Measured measure(const std::vector<Lookup>& lookups, F&& translate, const bench::TickToNs& to_ns) {
  Measured m{};
  uint64_t sum = 0;
  for (size_t i = 0; i < std::min<size_t>(lookups.size(), 20000); ++i)
    sum += translate(lookups[i]);  // warm-up
  for (const Lookup& l : lookups) {
    const uint64_t t0 = Tsc::now();
    const uint64_t w = translate(l);
    const uint64_t t1 = Tsc::now();
    sum += w;
    m.ns.record(to_ns(t1 - t0));
  }
  const uint64_t t0 = now_ns();
  for (const Lookup& l : lookups) sum += translate(l);
  const uint64_t t1 = now_ns();
  m.ops_per_s = static_cast<double>(lookups.size()) * 1e9 / static_cast<double>(t1 - t0);
  m.checksum = sum;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("pt_lookup: hash vs radix vs chained page-table lookups\nOptions");
  bool quick = false;
  uint64_t lookups_n = 0;
  uint64_t seed = 1;
  opts.add_options()("help,h", "show this help")(
      "quick", po::bool_switch(&quick),
      "reduced run (under 30 s): fewer lookups, 256 KiB pages in (b)")(
      "lookups", po::value(&lookups_n),
      "random lookups per table and scenario (default 2M, 500k quick)")(
      "seed", po::value(&seed)->default_value(1), "random seed");
  po::variables_map vm;
  if (int rc = bench::parse_options("pt_lookup", argc, argv, opts, &vm); rc >= 0) return rc;
  if (lookups_n == 0) lookups_n = quick ? 500'000 : 2'000'000;

  // (b): 2^40 bytes / page / (10,000 x 32) pages per allocation, rounded up.
  const int b_shift = quick ? 18 : 16;
  const uint64_t b_pages = (((uint64_t{1} << 40) >> b_shift) + 320'000 - 1) / 320'000;
  const Scenario scenarios[] = {
      {"a:1pid-1GiB", 1, 4096, 64, 12, true},
      {"b:10kpid-1TiB", 10000, 32, b_pages, b_shift, false},
  };

  const bench::TickToNs to_ns;
  bench::Report report("pt_lookup");
  // The timer's own cost, so that readers can subtract it.
  Histogram timer;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t t0 = Tsc::now();
    const uint64_t t1 = Tsc::now();
    timer.record(to_ns(t1 - t0));
  }
  std::printf("timer overhead: p50 %llu ns (included in every p50/p99/p99.9 below)\n",
              static_cast<unsigned long long>(timer.percentile(0.5)));

  for (const Scenario& s : scenarios) {
    Rng rng(seed);
    const uint64_t per_pid = uint64_t{s.allocs_per_pid} * s.pages_per_alloc;
    const uint64_t total = uint64_t{s.pids} * per_pid;
    std::printf("scenario %s: %u address spaces x %u allocations x %llu pages of %s = %s mapped\n",
                s.name, s.pids, s.allocs_per_pid,
                static_cast<unsigned long long>(s.pages_per_alloc),
                format_size(uint64_t{1} << s.page_shift).c_str(),
                format_size(total << s.page_shift).c_str());
    std::fflush(stdout);

    Layout layout = place(s, rng);
    RadixPageTable radix(s.page_shift, s.pids + 1);
    ChainedPageTable chained(total);  // load factor 1
    for (uint32_t pid = 1; pid <= s.pids; ++pid) {
      for (uint64_t base : layout.allocs[pid]) {
        for (uint64_t i = 0; i < s.pages_per_alloc; ++i) {
          const Pte* p = layout.table->find(Pte::make_tag(pid, base + i));
          radix.map(pid, base + i, p->load_word());
          chained.map(pid, base + i, p->load_word());
        }
      }
    }
    std::vector<Lookup> lookups(lookups_n);
    for (auto& l : lookups) {
      l.pid = 1 + static_cast<uint32_t>(rng.below(s.pids));
      l.vpn = layout.allocs[l.pid][rng.below(s.allocs_per_pid)] + rng.below(s.pages_per_alloc);
    }

    const PageTable& pt = *layout.table;
    Measured mh = measure(
        lookups,
        [&](const Lookup& l) {
          const Pte* p = pt.find(Pte::make_tag(l.pid, l.vpn));
          return p ? p->load_word() : 0;
        },
        to_ns);
    Measured mr = measure(
        lookups,
        [&](const Lookup& l) {
          uint64_t w = 0;
          radix.lookup(l.pid, l.vpn, &w);
          return w;
        },
        to_ns);
    Measured mc = measure(
        lookups,
        [&](const Lookup& l) {
          uint64_t w = 0;
          chained.lookup(l.pid, l.vpn, &w);
          return w;
        },
        to_ns);
    // The three must agree on every translation: compare the sums of the words they returned.
    if (mh.checksum != mr.checksum || mh.checksum != mc.checksum) {
      std::fprintf(stderr, "pt_lookup: the tables disagree on some translation\n");
      return 1;
    }

    auto ratio = [](const Measured& x, const Measured& h, double q) {
      return static_cast<double>(x.ns.percentile(q)) / static_cast<double>(h.ns.percentile(q));
    };
    auto row = [&](const char* table, const Measured& m, size_t bytes) {
      bench::Row r;
      r.set("scenario", s.name)
          .set("table", table)
          .set("pids", uint64_t{s.pids})
          .set("page_bytes", uint64_t{1} << s.page_shift)
          .set("mapped_bytes", total << s.page_shift)
          .set("table_bytes", static_cast<uint64_t>(bytes))
          .latency(m.ns)
          .set("ops_per_s", m.ops_per_s)
          .set("timer_ns", timer.percentile(0.5));
      return r;
    };
    report.add(row("hash", mh, pt.bytes()).set("ralloc_retries", layout.retries));
    report.add(row("radix4", mr, radix.bytes())
                   .set("p50_vs_hash", ratio(mr, mh, 0.5))
                   .set("p99_vs_hash", ratio(mr, mh, 0.99))
                   .set("p999_vs_hash", ratio(mr, mh, 0.999)));
    report.add(row("chained", mc, chained.bytes())
                   .set("p50_vs_hash", ratio(mc, mh, 0.5))
                   .set("p99_vs_hash", ratio(mc, mh, 0.99))
                   .set("p999_vs_hash", ratio(mc, mh, 0.999))
                   .set("longest_chain", static_cast<uint64_t>(chained.longest_chain())));
  }
  report.print();
  return 0;
}

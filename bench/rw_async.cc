// SPDX-License-Identifier: Apache-2.0
// rw_async: asynchronous throughput and latency against queue depth and client threads, and
// what the release-ordering checks cost.
//
// Each thread keeps `qd` asynchronous requests in flight on one shared Client: it issues until
// qd are outstanding, then waits for the oldest and issues the next (latency: issue to
// completion, sampled: one request in 16 is timed, so that the clock reads do not tax
// throughput). Each point runs --repeat times; the table gives the median run's figures and the
// lowest and highest rates (this machine is shared and noisy). Workloads: conflict-free (random
// offsets, nothing overlaps a write in flight) and all-conflicting (every request writes the same
// 64 bytes, so each waits for the previous one).
// --ordering-cost repeats the conflict-free point at each queue depth with the checks turned off.
#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <iostream>
#include <thread>
#include <vector>

#include "bench/mn_target.h"
#include "bench/options.h"
#include "bench/report.h"
#include "clio/client.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rng.h"
#include "verbs_shim/registry.h"

namespace po = boost::program_options;
using namespace clio;

namespace {

struct Point {
  double ops_per_s = 0;
  Histogram ns;
  uint64_t held_back = 0;
  bool failed = false;
};

constexpr uint64_t kRegion = uint64_t{16} << 20;

Point run(Client& c, uint64_t base, int threads, uint32_t qd, uint32_t size, bool write,
          bool conflicting, double seconds) {
  std::vector<Point> per(static_cast<size_t>(threads));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false}, stop{false};
  std::vector<std::thread> ts;
  const int cpus = bench::usable_cpus();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      if (cpus > 1) pin_to_cpu(t % (cpus - 1));
      Point& me = per[static_cast<size_t>(t)];
      std::vector<std::byte> bufs(static_cast<size_t>(qd) * size, std::byte{7});
      std::vector<Handle> ring(qd);
      std::vector<uint64_t> issued(qd);
      Rng rng(static_cast<uint64_t>(t) + 11);
      const uint64_t my_base =
          base + static_cast<uint64_t>(t) * (kRegion / static_cast<uint64_t>(threads));
      const uint64_t span = kRegion / static_cast<uint64_t>(threads) / size;
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      uint64_t n = 0;
      const uint64_t t0 = now_ns();
      auto issue = [&](uint32_t slot) {
        const uint64_t va = conflicting ? my_base : my_base + rng.below(span) * size;
        std::byte* b = bufs.data() + static_cast<size_t>(slot) * size;
        issued[slot] = (slot & 15) == 0 ? fast_now_ns() : 0;  // sampled
        return write || conflicting ? c.rwrite_async(va, b, size, &ring[slot])
                                    : c.rread_async(va, b, size, &ring[slot]);
      };
      for (uint32_t s = 0; s < qd; ++s)
        if (issue(s) != 0) me.failed = true;
      uint32_t oldest = 0;
      while (!stop.load(std::memory_order_relaxed) && !me.failed) {
        if (c.rwait(std::move(ring[oldest])) != 0) me.failed = true;
        if (issued[oldest] != 0) me.ns.record(fast_now_ns() - issued[oldest]);
        ++n;
        if (issue(oldest) != 0) me.failed = true;
        oldest = (oldest + 1) % qd;
      }
      for (uint32_t s = 0; s < qd; ++s) (void)c.rwait(std::move(ring[(oldest + s) % qd]));
      me.ops_per_s = static_cast<double>(n) * 1e9 / static_cast<double>(now_ns() - t0);
      me.held_back = c.counters().held_back;
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  go.store(true);
  const uint64_t t0 = now_ns();
  while (now_ns() - t0 < static_cast<uint64_t>(seconds * 1e9)) std::this_thread::yield();
  stop.store(true);
  for (auto& t : ts) t.join();
  Point all;
  for (const Point& p : per) {
    all.ops_per_s += p.ops_per_s;
    all.ns.merge(p.ns);
    all.held_back += p.held_back;
    all.failed |= p.failed;
  }
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("rw_async: asynchronous throughput against queue depth\nOptions");
  bool quick = false, ordering_cost = false;
  std::string mns, qds, threads_arg, workloads;
  uint32_t size = 64;
  double seconds = 0;
  int repeat = 0;
  opts.add_options()("help,h", "show this help")("quick", po::bool_switch(&quick),
                                                 "reduced run (under 30 s)")(
      "mn", po::value(&mns)->default_value("inproc,udp"),
      (std::string("comma-separated memory nodes, each: ") + bench::MnTarget::help()).c_str())(
      "transport", po::value<std::string>(), "the same as --mn with a transport locator")(
      "qd", po::value(&qds)->default_value("1,4,16,32,64,128"), "queue depths")(
      "threads", po::value(&threads_arg)->default_value("1"), "client thread counts")(
      "workloads", po::value(&workloads)->default_value("read,conflicting"),
      "read (conflict-free reads), write (conflict-free writes), conflicting (one 64 B word)")(
      "size", po::value(&size)->default_value(64), "bytes per request")(
      "ordering-cost", po::bool_switch(&ordering_cost),
      "also run conflict-free reads with the ordering checks off, and report the difference")(
      "seconds", po::value(&seconds), "seconds per point (default 1, 0.3 with --quick)")(
      "repeat", po::value(&repeat),
      "runs per point, median reported (default 5, 1 with --quick); --ordering-cost alternates "
      "that many runs with the checks on and off");
  po::variables_map vm;
  if (int rc = bench::parse_options("rw_async", argc, argv, opts, &vm, net::transports_help());
      rc >= 0)
    return rc;
  if (vm.count("transport")) mns = vm["transport"].as<std::string>();
  if (seconds <= 0) seconds = quick ? 0.3 : 1.0;
  if (repeat <= 0) repeat = quick ? 1 : 5;
  set_log_level(LogLevel::kWarn);
  (void)bench::usable_cpus();

  bench::Report report("rw_async");
  for (const std::string& how : bench::split_targets(mns)) {
    std::unique_ptr<bench::MnTarget> target;
    std::unique_ptr<Client> c, unordered;
    uint64_t base = 0, base2 = 0;
    try {
      target = std::make_unique<bench::MnTarget>(how, bench::TargetOptions{});
    } catch (const Error& e) {
      std::cerr << "rw_async: " << e.what() << "\n";
      return 1;
    }
    if (Client::open(target->locator(), &c) != 0 || c->ralloc(kRegion, &base) != 0 ||
        Client::open(target->locator(), &unordered) != 0 ||
        unordered->ralloc(kRegion, &base2) != 0) {
      std::cerr << "rw_async: cannot open " << target->locator() << "\n";
      return 1;
    }
    unordered->disable_ordering_for_benchmarks();
    std::vector<std::byte> page(4096, std::byte{1});
    for (uint64_t off = 0; off < kRegion; off += c->page_bytes()) {
      (void)c->rwrite(base + off, page.data(), 8);
      (void)unordered->rwrite(base2 + off, page.data(), 8);
    }
    for (const std::string& w : bench::split_list(workloads)) {
      for (const std::string& tn : bench::split_list(threads_arg)) {
        for (const std::string& q : bench::split_list(qds)) {
          const int threads = std::atoi(tn.c_str());
          const uint32_t qd = static_cast<uint32_t>(std::atoi(q.c_str()));
          if (threads < 1 || qd < 1 || qd > 4096) {
            std::cerr << "rw_async: bad --threads or --qd value\n";
            return 2;
          }
          (void)run(*c, base, threads, qd, size, w == "write", w == "conflicting",
                    seconds / 4);  // warm-up
          std::vector<Point> runs;
          for (int r = 0; r < repeat; ++r) {
            runs.push_back(
                run(*c, base, threads, qd, size, w == "write", w == "conflicting", seconds));
            if (runs.back().failed) {
              std::cerr << "rw_async: a request failed\n";
              return 1;
            }
          }
          std::sort(runs.begin(), runs.end(),
                    [](const Point& x, const Point& y) { return x.ops_per_s < y.ops_per_s; });
          const Point& p = runs[runs.size() / 2];
          bench::Row row;
          row.set("transport", target->transport())
              .set("mn", how)
              .set("workload", w)
              .set("size", uint64_t{size})
              .set("threads", threads)
              .set("qd", uint64_t{qd})
              .set("ops_per_s", p.ops_per_s)
              .set("min_ops_per_s", runs.front().ops_per_s)
              .set("max_ops_per_s", runs.back().ops_per_s)
              .latency(p.ns)
              .set("held_back", p.held_back);
          if (ordering_cost && w == "read") {
            // The machine is noisy: alternate checked and unchecked runs and compare medians.
            std::vector<double> on, off;
            for (int r = 0; r < repeat; ++r) {
              on.push_back(run(*c, base, threads, qd, size, false, false, seconds).ops_per_s);
              off.push_back(
                  run(*unordered, base2, threads, qd, size, false, false, seconds).ops_per_s);
            }
            std::sort(on.begin(), on.end());
            std::sort(off.begin(), off.end());
            const double med_on = on[on.size() / 2], med_off = off[off.size() / 2];
            row.set("ordered_median_ops_per_s", med_on)
                .set("unordered_median_ops_per_s", med_off)
                .set("ordering_cost_pct", 100.0 * (med_off - med_on) / med_off);
          }
          report.add(std::move(row));
        }
      }
    }
  }
  report.print();
  return 0;
}

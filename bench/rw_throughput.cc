// SPDX-License-Identifier: Apache-2.0
// rw_throughput: synchronous operations per second against the number of client threads, each
// with its own Client (its own address space), closed loop, against one memory node. Client
// threads are pinned to the CPUs the memory node's worker does not use; on a 2-CPU machine they
// all share CPU 0, so more threads measure sharing, not scaling.
#include <atomic>
#include <boost/program_options.hpp>
#include <iostream>
#include <sstream>
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

struct ThreadResult {
  Histogram ns;
  uint64_t ops = 0;
  uint64_t retransmissions = 0;
  bool failed = false;
};

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts(
      "rw_throughput: operations per second against client threads\nOptions");
  bool quick = false;
  std::string mns, threads_arg, ops_arg;
  uint32_t size = 64;
  double seconds = 0;
  unsigned mn_workers = 1;
  opts.add_options()("help,h", "show this help")("quick", po::bool_switch(&quick),
                                                 "reduced run (under 30 s)")(
      "mn", po::value(&mns)->default_value("inproc,udp"),
      (std::string("comma-separated memory nodes, each: ") + bench::MnTarget::help()).c_str())(
      "transport", po::value<std::string>(), "the same as --mn with a transport locator")(
      "threads", po::value(&threads_arg)->default_value("1,2,4"),
      "client thread counts to measure")("ops", po::value(&ops_arg)->default_value("rread,rwrite"),
                                         "operations: rread, rwrite")(
      "size", po::value(&size)->default_value(64), "bytes per operation (1 to 65536)")(
      "seconds", po::value(&seconds), "seconds per point (default 2, 0.5 with --quick)")(
      "mn-workers", po::value(&mn_workers)->default_value(1), "embedded MN's worker threads");
  po::variables_map vm;
  if (int rc = bench::parse_options("rw_throughput", argc, argv, opts, &vm, net::transports_help());
      rc >= 0)
    return rc;
  if (vm.count("transport")) mns = vm["transport"].as<std::string>();
  if (seconds <= 0) seconds = quick ? 0.5 : 2.0;
  if (size == 0 || size > 65536) {
    std::cerr << "rw_throughput: --size must be from 1 to 65536\n";
    return 2;
  }
  set_log_level(LogLevel::kWarn);
  // Client threads share the CPUs the memory node's worker does not use (it takes the last).
  const int client_cpus = std::max(1, bench::usable_cpus() - 1);

  bench::Report report("rw_throughput");
  for (const std::string& how : bench::split_targets(mns)) {
    bench::TargetOptions to;
    to.workers = mn_workers;
    std::unique_ptr<bench::MnTarget> target;
    try {
      target = std::make_unique<bench::MnTarget>(how, to);
    } catch (const Error& e) {
      std::cerr << "rw_throughput: " << e.what() << "\n";
      return 1;
    }
    for (const std::string& op : bench::split_list(ops_arg)) {
      if (op != "rread" && op != "rwrite") {
        std::cerr << "rw_throughput: --ops: unknown operation '" << op << "'\n";
        return 2;
      }
      for (const std::string& tn : bench::split_list(threads_arg)) {
        const int nthreads = std::atoi(tn.c_str());
        if (nthreads < 1 || nthreads > 256) {
          std::cerr << "rw_throughput: --threads: '" << tn << "' is not from 1 to 256\n";
          return 2;
        }
        std::vector<ThreadResult> results(static_cast<size_t>(nthreads));
        std::atomic<int> ready{0};
        std::atomic<bool> go{false}, stop{false};
        std::vector<std::thread> ts;
        for (int t = 0; t < nthreads; ++t) {
          ts.emplace_back([&, t] {
            ThreadResult& res = results[static_cast<size_t>(t)];
            if (bench::usable_cpus() > 1) pin_to_cpu(t % client_cpus);
            std::unique_ptr<Client> c;
            uint64_t base = 0;
            constexpr uint64_t kRegion = uint64_t{16} << 20;
            std::vector<std::byte> buf(size, std::byte{3});
            if (Client::open(target->locator(), &c) != 0 || c->ralloc(kRegion, &base) != 0) {
              res.failed = true;
              ready.fetch_add(1);
              return;
            }
            for (uint64_t off = 0; off < kRegion; off += std::min<uint64_t>(c->page_bytes(), 4096))
              (void)c->rwrite(base + off, buf.data(), 1);
            Rng rng(static_cast<uint64_t>(t) + 1);
            ready.fetch_add(1);
            while (!go.load()) std::this_thread::yield();
            while (!stop.load(std::memory_order_relaxed)) {
              const uint64_t va = base + rng.below(kRegion / size) * size;
              const uint64_t t0 = now_ns();
              const int rc =
                  op == "rread" ? c->rread(va, buf.data(), size) : c->rwrite(va, buf.data(), size);
              res.ns.record(now_ns() - t0);
              if (rc != 0) {
                res.failed = true;
                break;
              }
              ++res.ops;
            }
            res.retransmissions = c->counters().retransmissions;
          });
        }
        while (ready.load() < nthreads) std::this_thread::yield();
        const uint64_t t0 = now_ns();
        go.store(true);
        while (now_ns() - t0 < static_cast<uint64_t>(seconds * 1e9)) std::this_thread::yield();
        stop.store(true);
        const uint64_t elapsed = now_ns() - t0;
        for (auto& t : ts) t.join();
        Histogram all;
        uint64_t ops = 0, retx = 0;
        for (const auto& r : results) {
          if (r.failed) {
            std::cerr << "rw_throughput: a client failed\n";
            return 1;
          }
          all.merge(r.ns);
          ops += r.ops;
          retx += r.retransmissions;
        }
        report.add(
            bench::Row()
                .set("transport", target->transport())
                .set("mn", how)
                .set("op", op)
                .set("size", uint64_t{size})
                .set("threads", nthreads)
                .set("ops_per_s", static_cast<double>(ops) * 1e9 / static_cast<double>(elapsed))
                .set("mb_per_s",
                     static_cast<double>(ops) * size * 1e3 / static_cast<double>(elapsed))
                .latency(all)
                .set("retransmissions", retx));
      }
    }
  }
  report.print();
  return 0;
}

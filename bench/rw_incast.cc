// SPDX-License-Identifier: Apache-2.0
// rw_incast: many client threads in several processes against one clio-mn over UDP, with and
// without CLib's congestion and incast control: goodput, latency percentiles, retransmissions.
//
// Every client thread keeps --qd asynchronous reads of --size bytes in flight (replies are what
// overflow a receiver: incast). "control" is CLib's default (delay-based window per thread and
// MN, process-wide cap on reply bytes outstanding); "none" is a fixed window of --qd and no cap.
// The client processes are this program run again with --client (no shared state but the MN).
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <cstdio>
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

namespace po = boost::program_options;
using namespace clio;

namespace {

struct ClientArgs {
  std::string locator;
  int threads = 4;
  uint32_t qd = 64;
  uint32_t size = 4096;
  double seconds = 2;
};

/// Child process: runs the load and prints one line "ops bytes retx p50 p99 p999 failed".
int client_main(const ClientArgs& a) {
  std::unique_ptr<Client> c;
  if (int rc = Client::open(a.locator, &c); rc != 0) {
    std::fprintf(stderr, "rw_incast client: %s\n", error_string(rc));
    return 1;
  }
  constexpr uint64_t kRegion = uint64_t{32} << 20;
  uint64_t base;
  if (c->ralloc(kRegion, &base) != 0) return 1;
  std::vector<std::byte> page(4096, std::byte{1});
  for (uint64_t off = 0; off < kRegion; off += c->page_bytes())
    (void)c->rwrite(base + off, page.data(), 8);
  std::atomic<bool> stop{false};
  std::vector<Histogram> hs(static_cast<size_t>(a.threads));
  std::vector<uint64_t> ops(hs.size()), retx(hs.size());
  std::atomic<int> failed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < a.threads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<std::byte> bufs(static_cast<size_t>(a.qd) * a.size);
      std::vector<Handle> ring(a.qd);
      std::vector<uint64_t> issued(a.qd);
      Rng rng(static_cast<uint64_t>(getpid()) * 131 + static_cast<uint64_t>(t));
      auto issue = [&](uint32_t s) {
        issued[s] = fast_now_ns();
        return c->rread_async(base + rng.below(kRegion / a.size) * a.size,
                              bufs.data() + static_cast<size_t>(s) * a.size, a.size, &ring[s]);
      };
      for (uint32_t s = 0; s < a.qd; ++s)
        if (issue(s) != 0) ++failed;
      uint32_t oldest = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (c->rwait(std::move(ring[oldest])) != 0) ++failed;
        hs[static_cast<size_t>(t)].record(fast_now_ns() - issued[oldest]);
        ++ops[static_cast<size_t>(t)];
        if (issue(oldest) != 0) ++failed;
        oldest = (oldest + 1) % a.qd;
      }
      for (uint32_t s = 0; s < a.qd; ++s) (void)c->rwait(std::move(ring[(oldest + s) % a.qd]));
      retx[static_cast<size_t>(t)] = c->counters().retransmissions;
    });
  }
  const uint64_t t0 = now_ns();
  while (now_ns() - t0 < static_cast<uint64_t>(a.seconds * 1e9))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop.store(true);
  for (auto& t : ts) t.join();
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  Histogram all;
  uint64_t n = 0, r = 0;
  for (size_t i = 0; i < hs.size(); ++i) {
    all.merge(hs[i]);
    n += ops[i];
    r += retx[i];
  }
  std::printf("%.0f %.0f %llu %llu %llu %llu %d\n", static_cast<double>(n) / secs,
              static_cast<double>(n) * a.size / secs, static_cast<unsigned long long>(r),
              static_cast<unsigned long long>(all.percentile(0.5)),
              static_cast<unsigned long long>(all.percentile(0.99)),
              static_cast<unsigned long long>(all.percentile(0.999)), failed.load());
  return 0;
}

struct ChildResult {
  double ops = 0, bytes = 0;
  uint64_t retx = 0, p50 = 0, p99 = 0, p999 = 0;
  int failed = 1;
};

ChildResult run_child(const std::string& self, const ClientArgs& a, bool control) {
  // Clients sleep in epoll while they wait: with more client threads than cores, busy polling
  // would measure the CPU scheduler rather than the network.
  std::string cmd = (control ? "" : "CLIO_INCAST_BYTES=1099511627776 ") + self + " --client '" +
                    a.locator + ",poll=epoll" +
                    (control ? "" : ",cc=off,window=" + std::to_string(a.qd)) + "' --threads " +
                    std::to_string(a.threads) + " --qd " + std::to_string(a.qd) + " --size " +
                    std::to_string(a.size) + " --seconds " + std::to_string(a.seconds);
  ChildResult r;
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return r;
  unsigned long long retx, p50, p99, p999;
  if (std::fscanf(f, "%lf %lf %llu %llu %llu %llu %d", &r.ops, &r.bytes, &retx, &p50, &p99, &p999,
                  &r.failed) == 7) {
    r.retx = retx;
    r.p50 = p50;
    r.p99 = p99;
    r.p999 = p999;
  } else {
    r.failed = 1;
  }
  pclose(f);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts(
      "rw_incast: many clients against one MN over UDP, with and without congestion "
      "control\nOptions");
  bool quick = false;
  ClientArgs a;
  int processes = 2;
  std::string client_locator, mn_rcvbuf;
  opts.add_options()("help,h", "show this help")("quick", po::bool_switch(&quick),
                                                 "reduced run (under 30 s)")(
      "processes", po::value(&processes)->default_value(2), "client processes")(
      "threads", po::value(&a.threads)->default_value(4), "client threads per process")(
      "qd", po::value(&a.qd)->default_value(64), "asynchronous reads in flight per thread")(
      "size", po::value(&a.size)->default_value(4096), "bytes per read")(
      "seconds", po::value(&a.seconds), "seconds per configuration (default 3, 1 with --quick)")(
      "client", po::value(&client_locator), "(internal) run as a client process against this MN");
  po::variables_map vm;
  if (int rc = bench::parse_options("rw_incast", argc, argv, opts, &vm); rc >= 0) return rc;
  if (!vm.count("seconds")) a.seconds = quick ? 1 : 3;
  set_log_level(LogLevel::kWarn);
  if (!client_locator.empty()) {
    a.locator = client_locator;
    return client_main(a);
  }
  if (processes < 1 || a.threads < 1 || a.qd < 1 || a.size < 1 || a.size > 65536) {
    std::cerr << "rw_incast: bad --processes, --threads, --qd or --size\n";
    return 2;
  }
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = '\0';

  bench::Report report("rw_incast");
  for (const bool control : {false, true}) {
    std::unique_ptr<bench::MnTarget> target;
    try {
      target = std::make_unique<bench::MnTarget>("spawn-udp", bench::TargetOptions{});
    } catch (const Error& e) {
      std::cerr << "rw_incast: " << e.what() << "\n";
      return 1;
    }
    a.locator = target->locator();
    std::vector<ChildResult> rs(static_cast<size_t>(processes));
    std::vector<std::thread> ts;
    for (int p = 0; p < processes; ++p)
      ts.emplace_back([&, p] { rs[static_cast<size_t>(p)] = run_child(self, a, control); });
    for (auto& t : ts) t.join();
    ChildResult sum;
    sum.failed = 0;
    for (const auto& r : rs) {
      sum.ops += r.ops;
      sum.bytes += r.bytes;
      sum.retx += r.retx;
      sum.p50 = std::max(sum.p50, r.p50);
      sum.p99 = std::max(sum.p99, r.p99);
      sum.p999 = std::max(sum.p999, r.p999);
      sum.failed += r.failed;
    }
    report.add(bench::Row()
                   .set("control", control ? "on" : "off")
                   .set("processes", processes)
                   .set("threads", a.threads)
                   .set("qd", uint64_t{a.qd})
                   .set("size", uint64_t{a.size})
                   .set("goodput_mb_per_s", sum.bytes / 1e6)
                   .set("ops_per_s", sum.ops)
                   .set("p50_ns", sum.p50)
                   .set("p99_ns", sum.p99)
                   .set("p999_ns", sum.p999)
                   .set("retransmissions", sum.retx)
                   .set("failed_requests", sum.failed));
  }
  report.print();
  return 0;
}

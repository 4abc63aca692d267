// SPDX-License-Identifier: Apache-2.0
// rw_latency: end-to-end latency of synchronous rread / rwrite through CLib, by size and
// transport, and in the same run the floors: for udp, a raw UDP ping-pong with the same packet
// shapes (an 80-byte request, a reply of header + size bytes), echoed by a busy-polling thread
// with the same UDP backend, no Clio protocol; for inproc, a cache-line ping-pong between the
// client's core and the MN worker's.
//
// With --rdma HOST:PORT (builds with libibverbs), the same sizes are also measured as one-sided
// RDMA READ and WRITE on an RC queue pair against clio-rdma-server: the baseline whose server
// CPU does nothing, in rows with transport "rdma-rc" next to the Clio rows.
//
// One client thread on CPU 0, the memory node's worker on the last CPU; operations go to random
// size-aligned offsets in a 64 MiB region whose pages are backed before measuring.
#include <atomic>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "bench/floors.h"
#include "bench/mn_target.h"
#include "bench/options.h"
#include "bench/report.h"
#include "clio/client.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/wire.h"
#include "verbs_shim/registry.h"
#if CLIO_HAVE_VERBS
#include "bench/rdma_rc.h"
#endif

namespace po = boost::program_options;
using namespace clio;

using bench::cacheline_floor;
using bench::Measured;
using bench::time_ops;
using bench::udp_floor;

namespace {

constexpr uint64_t kRegion = uint64_t{64} << 20;

#if CLIO_HAVE_VERBS
/// One-sided RDMA READ/WRITE rows against clio-rdma-server. `spec`: HOST:PORT[,dev=N][,gid=I]
/// [,ibport=P]. Returns 0, or the exit code after printing why.
int rdma_rows(const std::string& spec, const std::vector<uint32_t>& sizes, uint64_t ops,
              bench::Report* report) {
  const std::vector<std::string> parts = bench::split_list(spec);
  const size_t colon = parts.empty() ? std::string::npos : parts[0].rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "rw_latency: --rdma '" << spec << "': expected HOST:PORT[,dev=NAME][,gid=N]\n";
    return 2;
  }
  const std::string host = parts[0].substr(0, colon);
  const unsigned long port = std::strtoul(parts[0].c_str() + colon + 1, nullptr, 10);
  net::RcClient::Options o;
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t eq = parts[i].find('=');
    const std::string k = parts[i].substr(0, eq),
                      v = eq == std::string::npos ? "" : parts[i].substr(eq + 1);
    if (k == "dev") {
      o.device.dev = v;
    } else if (k == "gid") {
      o.device.gid = std::atoi(v.c_str());
    } else if (k == "ibport") {
      o.device.ibport = static_cast<uint8_t>(std::atoi(v.c_str()));
    } else {
      std::cerr << "rw_latency: --rdma: unknown key '" << k << "' (dev=, gid=, ibport=)\n";
      return 2;
    }
  }
  if (port == 0 || port > 65535) {
    std::cerr << "rw_latency: --rdma '" << spec << "': bad port\n";
    return 2;
  }
  std::unique_ptr<net::RcClient> rc;
  try {
    rc = net::RcClient::connect(host, static_cast<uint16_t>(port), o);
  } catch (const Error& e) {
    std::cerr << "rw_latency: --rdma: " << e.what() << "\n";
    return 1;
  }
  pin_to_cpu(0);
  const uint64_t region = std::min(kRegion, rc->remote_bytes());
  std::vector<std::byte> buf(65536, std::byte{1});
  Rng rng(11);
  for (uint32_t size : sizes) {
    if (size > region) continue;
    std::vector<uint64_t> where(ops);
    for (auto& w : where) w = rng.below(region / size) * size;
    auto check = [&](int r) {
      if (r != 0) std::fprintf(stderr, "rw_latency: rdma-rc: %s\n", rc->last_error().c_str());
      return r == 0;
    };
    auto rd = [&](uint64_t i) { return check(rc->read(where[i], buf.data(), size)); };
    auto wr = [&](uint64_t i) { return check(rc->write(where[i], buf.data(), size)); };
    time_ops(std::min<uint64_t>(ops, 2000), rd);  // warm-up
    const Measured r = time_ops(ops, rd);
    const Measured w = time_ops(ops, wr);
    const std::string mn = parts[0];
    report->add(bench::Row()
                    .set("transport", "rdma-rc")
                    .set("mn", mn)
                    .set("op", "rread")
                    .set("size", uint64_t{size})
                    .latency(r.ns)
                    .set("ops_per_s", r.ops_per_s)
                    .set("mb_per_s", r.ops_per_s * size / 1e6));
    report->add(bench::Row()
                    .set("transport", "rdma-rc")
                    .set("mn", mn)
                    .set("op", "rwrite")
                    .set("size", uint64_t{size})
                    .latency(w.ns)
                    .set("ops_per_s", w.ops_per_s)
                    .set("mb_per_s", w.ops_per_s * size / 1e6));
  }
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("rw_latency: rread/rwrite latency by size and transport\nOptions");
  bool quick = false;
  std::string mns, sizes_arg;
  uint64_t ops = 0;
  uint64_t page = 0;
  opts.add_options()("help,h", "show this help")("quick", po::bool_switch(&quick),
                                                 "reduced run (under 30 s)")(
      "mn", po::value(&mns)->default_value("inproc,udp"),
      (std::string("comma-separated memory nodes to measure, each: ") + bench::MnTarget::help())
          .c_str())("transport", po::value<std::string>(),
                    "the same as --mn with a transport locator (e.g. udp:host=10.0.0.2,port=7400)")(
      "sizes", po::value(&sizes_arg)->default_value("16,64,256,1024,4096"), "bytes per operation")(
      "ops", po::value(&ops), "operations per size and kind (default 100000, 20000 with --quick)")(
      "page-size", po::value(&page)->default_value(uint64_t{4} << 20), "embedded MN's page size")(
      "no-floor", "skip the floors (the raw UDP and the cache-line ping-pong)")(
      "rdma", po::value<std::string>(),
      "also measure one-sided RDMA READ/WRITE (RC) against clio-rdma-server at "
      "HOST:PORT[,dev=NAME][,gid=N][,ibport=P] (rows with transport rdma-rc; --mn '' for these "
      "alone)");
  po::variables_map vm;
  if (int rc = bench::parse_options("rw_latency", argc, argv, opts, &vm, net::transports_help());
      rc >= 0)
    return rc;
  if (vm.count("transport")) mns = vm["transport"].as<std::string>();
  if (ops == 0) ops = quick ? 20'000 : 100'000;
  std::vector<uint32_t> sizes;
  for (const auto& s : bench::split_list(sizes_arg)) {
    const unsigned long v = std::strtoul(s.c_str(), nullptr, 10);
    if (v == 0 || v > 65536) {
      std::cerr << "rw_latency: --sizes: '" << s << "' is not a size from 1 to 65536\n";
      return 2;
    }
    sizes.push_back(static_cast<uint32_t>(v));
  }
  set_log_level(LogLevel::kWarn);
  const int cpus = bench::usable_cpus();  // before any pinning

  bench::Report report("rw_latency");
  std::map<uint32_t, uint64_t> udp_read_p50, inproc_read_p50;
  bool have_udp = false, have_inproc = false;
  for (const std::string& how : bench::split_targets(mns)) {
    bench::TargetOptions to;
    to.page_bytes = page;
    std::unique_ptr<bench::MnTarget> target;
    try {
      target = std::make_unique<bench::MnTarget>(how, to);
    } catch (const Error& e) {
      std::cerr << "rw_latency: " << e.what() << "\n";
      return 1;
    }
    // Pinned after the target started, so that its threads (the slow path) are not confined here.
    pin_to_cpu(0);
    std::unique_ptr<Client> c;
    if (int rc = Client::open(target->locator(), &c); rc != 0) {
      std::cerr << "rw_latency: cannot open " << target->locator() << ": " << error_string(rc)
                << "\n";
      return 1;
    }
    uint64_t base;
    if (c->ralloc(kRegion, &base) != 0) return 1;
    std::vector<std::byte> buf(65536, std::byte{1});
    for (uint64_t off = 0; off < kRegion; off += std::min<uint64_t>(c->page_bytes(), 4096))
      if (c->rwrite(base + off, buf.data(), 1) != 0) return 1;  // back every page first
    Rng rng(7);
    for (uint32_t size : sizes) {
      std::vector<uint64_t> where(ops);
      for (auto& w : where) w = base + rng.below(kRegion / size) * size;
      auto rd = [&](uint64_t i) { return c->rread(where[i], buf.data(), size) == 0; };
      auto wr = [&](uint64_t i) { return c->rwrite(where[i], buf.data(), size) == 0; };
      time_ops(std::min<uint64_t>(ops, 2000), rd);  // warm-up
      const Measured r = time_ops(ops, rd);
      const Measured w = time_ops(ops, wr);
      const std::string tr = target->transport();
      report.add(bench::Row()
                     .set("transport", tr)
                     .set("mn", how)
                     .set("op", "rread")
                     .set("size", uint64_t{size})
                     .latency(r.ns)
                     .set("ops_per_s", r.ops_per_s)
                     .set("mb_per_s", r.ops_per_s * size / 1e6));
      report.add(bench::Row()
                     .set("transport", tr)
                     .set("mn", how)
                     .set("op", "rwrite")
                     .set("size", uint64_t{size})
                     .latency(w.ns)
                     .set("ops_per_s", w.ops_per_s)
                     .set("mb_per_s", w.ops_per_s * size / 1e6));
      if (tr == "udp" && !have_udp) udp_read_p50[size] = r.ns.percentile(0.5);
      if (tr == "inproc" && !have_inproc) inproc_read_p50[size] = r.ns.percentile(0.5);
    }
    if (target->transport() == "udp") have_udp = true;
    if (target->transport() == "inproc") have_inproc = true;
    std::fprintf(stderr, "%s: %llu retransmissions\n", how.c_str(),
                 static_cast<unsigned long long>(c->counters().retransmissions));
  }
  if (vm.count("rdma")) {
#if CLIO_HAVE_VERBS
    if (int rc = rdma_rows(vm["rdma"].as<std::string>(), sizes, ops, &report); rc != 0) return rc;
#else
    std::cerr << "rw_latency: --rdma needs the verbs backend, which this build lacks "
                 "(apt-get install libibverbs-dev rdma-core, then reconfigure)\n";
    return 2;
#endif
  }
  if (have_inproc && !vm.count("no-floor") && cpus >= 2) {
    const Measured m = cacheline_floor(ops, cpus - 1);
    bench::Row row;
    row.set("transport", "inproc-floor")
        .set("mn", "-")
        .set("op", "pingpong")
        .set("size", uint64_t{64})
        .latency(m.ns)
        .set("ops_per_s", m.ops_per_s);
    if (!inproc_read_p50.empty())
      row.set("inproc_rread_vs_floor_p50",
              static_cast<double>(inproc_read_p50.begin()->second) /
                  static_cast<double>(std::max<uint64_t>(1, m.ns.percentile(0.5))));
    report.add(std::move(row));
  }
  if (have_udp && !vm.count("no-floor")) {
    const auto floor = udp_floor(sizes, ops, cpus - 1);
    for (const auto& [size, m] : floor) {
      bench::Row row;
      row.set("transport", "udp-raw")
          .set("mn", "-")
          .set("op", "pingpong")
          .set("size", uint64_t{size})
          .latency(m.ns)
          .set("ops_per_s", m.ops_per_s);
      if (udp_read_p50.count(size))
        row.set("udp_rread_vs_raw_p50", static_cast<double>(udp_read_p50[size]) /
                                            static_cast<double>(m.ns.percentile(0.5)));
      report.add(std::move(row));
    }
  }
  report.print();
  return 0;
}

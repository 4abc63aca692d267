// SPDX-License-Identifier: Apache-2.0
// kv_anchor: the comparison's anchors, memcached (through libmemcached) and Redis (through
// hiredis), started and stopped here on loopback ports of their own, and measured the way
// rw_latency and rw_async measure Clio:
//   - latency by value size, one synchronous request at a time: memcached GET and SET of one
//     key; Redis GETRANGE and SETRANGE at random offsets of one large string (byte-addressed
//     remote memory, as Clio's);
//   - throughput at a queue depth: memcached multiget of `depth` keys, Redis pipelines of
//     `depth` commands; each batch is timed as a whole.
// memcached runs with --memcached-threads worker threads (set it to the MN's workers); Redis is
// single-threaded, whatever the machine. Both use the kernel's TCP stack on loopback.

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/kv_lib.h"
#include "bench/options.h"
#include "bench/report.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/histogram.h"
#include "common/rng.h"

namespace po = boost::program_options;
using namespace clio;

namespace {

struct Point {
  Histogram ns;  ///< per request (depth 1) or per batch
  double ops_per_s = 0;
};

/// Runs `batches` calls of op (each does `per_call` requests) after a short warm-up.
template <typename F>
Point measure(uint64_t batches, uint64_t per_call, F&& op) {
  for (uint64_t i = 0; i < std::min<uint64_t>(batches / 10 + 1, 1000); ++i) op(i);
  Point p;
  const uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < batches; ++i) {
    const uint64_t t = now_ns();
    op(i);
    p.ns.record(now_ns() - t);
  }
  p.ops_per_s = static_cast<double>(batches * per_call) * 1e9 / static_cast<double>(now_ns() - t0);
  return p;
}

/// One result row: which server and request, at which size and depth, and what it did.
bench::Row row(const char* system, const char* op, uint32_t size, uint32_t depth,
               unsigned server_threads, const Point& p) {
  bench::Row r;
  r.set("system", system)
      .set("op", op)
      .set("size", uint64_t{size})
      .set("depth", uint64_t{depth})
      .set("server_threads", uint64_t{server_threads})
      .latency(p.ns)
      .set("ops_per_s", p.ops_per_s);
  return r;
}

void run_memcached(unsigned threads, const std::vector<uint32_t>& sizes,
                   const std::vector<uint32_t>& depths, uint64_t ops, bench::Report* report) {
  bench::MemcachedServer server(threads);
  bench::MemcachedClient mc(server, 1);
  for (uint32_t size : sizes) {
    mc.load(size);
    const Point get = measure(ops, 1, [&](uint64_t) { mc.get(); });
    const Point set = measure(ops, 1, [&](uint64_t) { mc.set(); });
    for (const auto& [op, p] : {std::pair{"get", &get}, std::pair{"set", &set}})
      report->add(row("memcached", op, size, 1, threads, *p));
    for (uint32_t depth : depths) {
      if (depth <= 1) continue;
      const Point mget = measure(std::max<uint64_t>(ops / depth, 100), depth,
                                 [&](uint64_t) { mc.multiget(depth); });
      report->add(row("memcached", "multiget", size, depth, threads, mget));
    }
  }
}

void run_redis(const std::vector<uint32_t>& sizes, const std::vector<uint32_t>& depths,
               uint64_t ops, bench::Report* report) {
  bench::RedisServer server;
  bench::RedisClient rc(server, 2);
  for (uint32_t size : sizes) {
    rc.prepare(size);
    const Point get = measure(ops, 1, [&](uint64_t) { rc.getrange(); });
    const Point set = measure(ops, 1, [&](uint64_t) { rc.setrange(); });
    for (const auto& [op, p] : {std::pair{"getrange", &get}, std::pair{"setrange", &set}})
      report->add(row("redis", op, size, 1, 1, *p));
    for (uint32_t depth : depths) {
      if (depth <= 1) continue;
      for (const bool write : {false, true}) {
        const Point pipe = measure(std::max<uint64_t>(ops / depth, 100), depth,
                                   [&](uint64_t) { rc.pipeline(depth, write); });
        report->add(row("redis", write ? "setrange" : "getrange", size, depth, 1, pipe));
      }
    }
  }
}

std::vector<uint32_t> parse_list(const std::string& s, const char* what, uint32_t max) {
  std::vector<uint32_t> out;
  for (const auto& part : bench::split_list(s)) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || v < 1 || v > max)
      throw ConfigError(std::string("--") + what + ": '" + part + "' is not a number from 1 to " +
                        std::to_string(max));
    out.push_back(static_cast<uint32_t>(v));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("Options");
  bool quick = false;
  opts.add_options()("help,h", "show this help and exit")("quick", po::bool_switch(&quick),
                                                          "a short run (a few seconds)")(
      "systems", po::value<std::string>()->default_value("memcached,redis"),
      "which anchors: memcached, redis")(
      "sizes", po::value<std::string>()->default_value("16,64,256,1024,4096"), "value bytes")(
      "depths", po::value<std::string>()->default_value("1,32"),
      "queue depths (memcached multiget, Redis pipelines); 1: latency only")(
      "ops", po::value<uint64_t>()->default_value(0),
      "requests per point (default 50000, 2000 with --quick)")(
      "memcached-threads", po::value<unsigned>()->default_value(1),
      "memcached's worker threads (-t): set it to the MN's worker count");
  po::variables_map vm;
  if (const int rc = bench::parse_options("kv_anchor", argc, argv, opts, &vm); rc >= 0) return rc;
  try {
    const auto sizes = parse_list(vm["sizes"].as<std::string>(), "sizes", 1 << 20);
    const auto depths = parse_list(vm["depths"].as<std::string>(), "depths", 4096);
    uint64_t ops = vm["ops"].as<uint64_t>();
    if (ops == 0) ops = quick ? 2000 : 50'000;
    bench::Report report("kv_anchor");
    for (const auto& s : bench::split_list(vm["systems"].as<std::string>())) {
      if (s == "memcached") {
        run_memcached(vm["memcached-threads"].as<unsigned>(), sizes, depths, ops, &report);
      } else if (s == "redis") {
        run_redis(sizes, depths, ops, &report);
      } else {
        throw ConfigError("--systems: '" + s + "' is not memcached or redis");
      }
    }
    report.print();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// The one-sided RDMA anchor: RC READ and WRITE from this process against clio-rdma-server
// (bench/rdma_rc.h), where a verbs device exists (the soft-RoCE VM, an RDMA NIC).
//   experiment 1  latency against size, as Clio's rread and rwrite
//   experiment 2  latency against clients: one RC queue pair per client, as the paper's Fig 4
//   experiment 3  latency against mapped pages: random reads across as much of the server's one
//                 registered region as the point names (Fig 5's RDMA line), up to its size
//   experiment 6  registration cost against size: ibv_reg_mr and ibv_dereg_mr of fresh memory
//                 on this host's device (Fig 12's RDMA line), as clio's ralloc and rfree
//                 and, where the server registered its memory also as regions of 4 KiB
//                 (--regions), reads through as many regions' own rkeys (Fig 5's RDMA-MR)
#include <cstdlib>

#include "bench/compare/compare.h"
#include "bench/floors.h"
#include "bench/options.h"
#include "common/error.h"
#include "common/histogram.h"
#include "common/rng.h"
#if CLIO_HAVE_VERBS
#include <infiniband/verbs.h>
#include <sys/mman.h>

#include "bench/rdma_rc.h"
#include "common/clock.h"
#include "verbs_shim/verbs_device.h"
#endif

namespace clio::compare {

#if CLIO_HAVE_VERBS
namespace {

struct Spec {
  std::string host;
  uint16_t port = 0;
  net::RcClient::Options options;
};

Spec parse(const std::string& spec) {
  const std::vector<std::string> parts = bench::split_list(spec);
  const size_t colon = parts.empty() ? std::string::npos : parts[0].rfind(':');
  if (colon == std::string::npos)
    throw ConfigError("--rdma '" + spec + "': expected HOST:PORT[,dev=NAME][,gid=N][,ibport=P]");
  Spec s;
  s.host = parts[0].substr(0, colon);
  const unsigned long port = std::strtoul(parts[0].c_str() + colon + 1, nullptr, 10);
  if (port == 0 || port > 65535) throw ConfigError("--rdma '" + spec + "': bad port");
  s.port = static_cast<uint16_t>(port);
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t eq = parts[i].find('=');
    const std::string k = parts[i].substr(0, eq);
    const std::string v = eq == std::string::npos ? "" : parts[i].substr(eq + 1);
    if (k == "dev") {
      s.options.device.dev = v;
    } else if (k == "gid") {
      s.options.device.gid = std::atoi(v.c_str());
    } else if (k == "ibport") {
      s.options.device.ibport = static_cast<uint8_t>(std::atoi(v.c_str()));
    } else {
      throw ConfigError("--rdma: unknown key '" + k + "' (dev=, gid=, ibport=)");
    }
  }
  return s;
}

bench::Row rdma_row(int exp, const char* op) {
  bench::Row r;
  r.set("experiment", exp).set("system", "rdma").set("kind", "anchor").set("op", op);
  return r;
}

}  // namespace

void check_rdma_spec(const std::string& spec) { (void)parse(spec); }

void rdma_size_rows(const Options& o, uint64_t size, std::vector<bench::Row>* out) {
  const Spec s = parse(o.rdma);
  auto rc = net::RcClient::connect(s.host, s.port, s.options);
  const uint64_t region = std::min<uint64_t>(uint64_t{64} << 20, rc->remote_bytes());
  std::vector<std::byte> buf(size, std::byte{1});
  Rng rng(size);
  const uint32_t sz = static_cast<uint32_t>(size);
  auto op = [&](bool write) {
    return [&, write](uint64_t) {
      const uint64_t at = rng.below(region / size) * size;
      const int r = write ? rc->write(at, buf.data(), sz) : rc->read(at, buf.data(), sz);
      if (r != 0) throw Error("rdma-rc: " + rc->last_error());
      return true;
    };
  };
  bench::time_ops(o.ops() / 10 + 1, op(false));
  const bench::Measured rd = bench::time_ops(o.ops(), op(false));
  const bench::Measured wr = bench::time_ops(o.ops(), op(true));
  bench::Row r = rdma_row(1, "read");
  out->push_back(r.set("size", size).latency(rd.ns).set("ops_per_s", rd.ops_per_s));
  bench::Row w = rdma_row(1, "write");
  out->push_back(w.set("size", size).latency(wr.ns).set("ops_per_s", wr.ops_per_s));
}

void rdma_clients_rows(const Options& o, uint64_t clients, std::vector<bench::Row>* out) {
  Spec s = parse(o.rdma);
  s.options.max_bytes = 4096;  // each queue pair registers its own bounce buffer
  std::vector<std::unique_ptr<net::RcClient>> qps;
  for (uint64_t i = 0; i < clients; ++i)
    qps.push_back(net::RcClient::connect(s.host, s.port, s.options));
  const uint64_t region = std::min<uint64_t>(uint64_t{64} << 20, qps[0]->remote_bytes());
  Rng rng(clients);
  std::byte buf[64];
  auto rd = [&](uint64_t) {
    net::RcClient& q = *qps[rng.below(clients)];
    if (q.read(rng.below(region / 64) * 64, buf, 64) != 0)
      throw Error("rdma-rc: " + q.last_error());
    return true;
  };
  bench::time_ops(o.ops() / 10 + 1, rd);
  const bench::Measured m = bench::time_ops(o.ops(), rd);
  bench::Row r = rdma_row(2, "read");
  r.set("size", 64).set("clients", clients).latency(m.ns).set("ops_per_s", m.ops_per_s);
  out->push_back(r);
}

bool rdma_pages_rows(const Options& o, uint64_t pages, std::vector<bench::Row>* out) {
  Spec s = parse(o.rdma);
  s.options.max_bytes = 4096;
  auto rc = net::RcClient::connect(s.host, s.port, s.options);
  if (pages * 4096 > rc->remote_bytes()) return false;  // past the server's region
  Rng rng(pages);
  std::byte buf[64];
  auto rd = [&](uint64_t) {
    if (rc->read(rng.below(pages) * 4096 + rng.below(64) * 64, buf, 64) != 0)
      throw Error("rdma-rc: " + rc->last_error());
    return true;
  };
  const uint64_t lg = static_cast<uint64_t>(63 - __builtin_clzll(pages));
  bench::time_ops(o.ops() / 10 + 1, rd);
  const bench::Measured m = bench::time_ops(o.ops(), rd);
  bench::Row r = rdma_row(3, "read");
  r.set("size", 64).set("pages", pages).set("pages_log2", lg);
  out->push_back(r.latency(m.ns).set("ops_per_s", m.ops_per_s));
  // The same pages as as many registered regions (clio-rdma-server --regions), each read
  // through its own rkey: Fig 5's RDMA-MR.
  if (pages > rc->regions() || rc->region_bytes() < 4096) return true;
  auto rd_mr = [&](uint64_t) {
    const uint32_t region = static_cast<uint32_t>(rng.below(pages));
    if (rc->read_region(region, rng.below(64) * 64, buf, 64) != 0)
      throw Error("rdma-rc: " + rc->last_error());
    return true;
  };
  bench::time_ops(o.ops() / 10 + 1, rd_mr);
  const bench::Measured mm = bench::time_ops(o.ops(), rd_mr);
  bench::Row x = rdma_row(3, "read-mr");
  x.set("size", 64).set("pages", pages).set("pages_log2", lg).set("regions", pages);
  out->push_back(x.latency(mm.ns).set("ops_per_s", mm.ops_per_s));
  return true;
}

void rdma_register_rows(const Options& o, uint64_t size, uint64_t reps,
                        std::vector<bench::Row>* out) {
  const Spec s = parse(o.rdma);
  net::VerbsPort port =
      net::VerbsPort::open(s.options.device.dev, s.options.device.ibport, s.options.device.gid);
  net::VerbsPd pd(ibv_alloc_pd(port.context()));
  if (!pd) throw Error("ibv_alloc_pd on " + port.device() + " failed");
  Histogram reg, dereg;
  constexpr int kAccess = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
  for (uint64_t i = 0; i < reps; ++i) {
    // Fresh memory, as a ralloc's: registration pins it, faulting in and zeroing every page.
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw Error("mmap of " + std::to_string(size) + " bytes failed");
    uint64_t t0 = now_ns();
    ibv_mr* mr = ibv_reg_mr(pd.get(), p, size, kAccess);
    const uint64_t t1 = now_ns();
    if (mr == nullptr) {
      munmap(p, size);
      throw Error("ibv_reg_mr of " + std::to_string(size) + " bytes on " + port.device() +
                  " failed (RLIMIT_MEMLOCK?)");
    }
    reg.record(t1 - t0);
    t0 = now_ns();
    const int rc = ibv_dereg_mr(mr);
    dereg.record(now_ns() - t0);
    munmap(p, size);
    if (rc != 0) throw Error("ibv_dereg_mr failed");
  }
  bench::Row a = rdma_row(6, "reg_mr");
  out->push_back(a.set("size", size).latency(reg));
  bench::Row d = rdma_row(6, "dereg_mr");
  out->push_back(d.set("size", size).latency(dereg));
}

#else

void check_rdma_spec(const std::string&) {
  throw ConfigError(
      "--rdma needs the verbs backend, which this build lacks (scripts/setup-deps.sh "
      "installs libibverbs-dev; then reconfigure)");
}
void rdma_size_rows(const Options&, uint64_t, std::vector<bench::Row>*) {
  throw Error("no verbs backend in this build");
}
void rdma_clients_rows(const Options&, uint64_t, std::vector<bench::Row>*) {
  throw Error("no verbs backend in this build");
}
bool rdma_pages_rows(const Options&, uint64_t, std::vector<bench::Row>*) {
  throw Error("no verbs backend in this build");
}
void rdma_register_rows(const Options&, uint64_t, uint64_t, std::vector<bench::Row>*) {
  throw Error("no verbs backend in this build");
}

#endif

}  // namespace clio::compare

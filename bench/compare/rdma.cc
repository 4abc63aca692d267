// The one-sided RDMA anchor: RC READ and WRITE from this process against clio-rdma-server
// (verbs_shim/rdma_rc.h), where a verbs device exists (the soft-RoCE VM, an RDMA NIC).
//   experiment 1  latency against size, as Clio's rread and rwrite
//   experiment 2  latency against clients: one RC queue pair per client, as the paper's Fig 4
// Not here (named in the report): latency against registered regions (Fig 5's RDMA-MR) and
// registration cost against size (Fig 12); rw_latency --rdma and scripts/vm-bench.sh measure
// the RC path too.
#include <cstdlib>

#include "bench/compare/compare.h"
#include "bench/floors.h"
#include "bench/options.h"
#include "common/error.h"
#include "common/rng.h"
#if CLIO_HAVE_VERBS
#include "verbs_shim/rdma_rc.h"
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

#endif

}  // namespace clio::compare

// SPDX-License-Identifier: Apache-2.0
// clio-rdma-server: the server side of the RDMA baseline. Registers a block of memory for remote
// read, write and atomics, and gives each client that connects over TCP its own RC queue pair
// toward it; after that the server takes no part in the data path (one-sided operations).
// Prints "clio-rdma-server: serving dev=...,gid=...,port=...,memory=..." on stdout once it
// accepts clients (with --port 0, the line names the port it got). SIGINT or SIGTERM stop it.
#include <signal.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "bench/options.h"
#include "bench/rdma_rc.h"
#include "common/error.h"
#include "common/log.h"
#include "common/units.h"

namespace po = boost::program_options;
using namespace clio;

namespace {

net::RcServer* g_server = nullptr;

extern "C" void on_stop_signal(int) {
  if (g_server != nullptr) g_server->stop();  // async-signal-safe: one write(2)
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts(
      "clio-rdma-server: memory for one-sided RDMA (RC READ, WRITE, CAS, FAA), the baseline of "
      "bench/rw_latency --rdma\n\nUsage: clio-rdma-server [options]\n\nOptions");
  int gid = -1;
  unsigned ibport = 1;
  uint16_t port = 7500;
  std::string dev, host, memory, level;
  uint32_t regions = 0;
  opts.add_options()("help,h", "show this help and exit")(
      "dev", po::value(&dev)->default_value(""), "RDMA device (default: the first one), e.g. rxe0")(
      "gid", po::value(&gid)->default_value(-1),
      "GID index (default: the first RoCE v2 GID with an IPv4 address; index 0 fails on soft-RoCE "
      "over lo)")("ibport", po::value(&ibport)->default_value(1), "device port")(
      "host", po::value(&host)->default_value("0.0.0.0"), "TCP address for connection set-up")(
      "port", po::value(&port)->default_value(7500),
      "TCP port for connection set-up (0: any free one)")(
      "memory", po::value(&memory)->default_value("64M"),
      "bytes of registered memory, e.g. 64M, 1G")(
      "regions", po::value(&regions)->default_value(0),
      "also register the memory as this many equal regions of their own (multiples of 4K), for "
      "latency against registered regions (clio-compare experiment 3)")(
      "log-level", po::value(&level)->default_value("info"),
      "trace, debug, info, warn, error or off");
  po::variables_map vm;
  if (int rc = bench::parse_options("clio-rdma-server", argc, argv, opts, &vm, ""); rc >= 0)
    return rc;
  LogLevel ll;
  if (!parse_log_level(level, &ll)) {
    std::cerr << "clio-rdma-server: --log-level '" << level
              << "': expected trace, debug, info, warn, error or off\n";
    return 2;
  }
  set_log_level(ll);
  net::RcServer::Options o;
  o.device.dev = dev;
  o.device.gid = gid;
  o.device.ibport = static_cast<uint8_t>(ibport);
  o.host = host;
  o.port = port;
  o.regions = regions;
  if (!parse_size(memory, &o.memory_bytes) || o.memory_bytes < 4096) {
    std::cerr << "clio-rdma-server: --memory '" << memory
              << "': not a size of at least 4K (examples: 64M, 1G)\n";
    return 2;
  }
  try {
    net::RcServer server(o);
    g_server = &server;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::printf("clio-rdma-server: serving %s\n", server.describe().c_str());
    std::fflush(stdout);
    server.run();
    g_server = nullptr;
    CLIO_LOG(INFO, "rdma-rc", "stopping with %zu client(s) connected", server.clients());
  } catch (const Error& e) {
    std::cerr << "clio-rdma-server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

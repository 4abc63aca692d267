// SPDX-License-Identifier: Apache-2.0
// clio-mn: the memory node daemon.
//
// Serves remote memory on one transport until SIGINT or SIGTERM; prints statistics on SIGUSR1
// and at exit. Prints one line "clio-mn: serving <locator>" on stdout once it accepts requests
// (naming the address and port bound: with port=0, the port it got), so that scripts and tests
// can wait for it. Serves 127.0.0.1 unless told otherwise; warns when it serves every interface.
// Exits 1 with the reason if it cannot start, e.g. when another process has its port.
#include <signal.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "common/error.h"
#include "common/log.h"
#include "common/siphash.h"
#include "common/units.h"
#include "mn/memory_node.h"
#include "mn/server.h"
#include "verbs_shim/locator.h"
#include "verbs_shim/registry.h"

namespace po = boost::program_options;
using namespace clio;

namespace {

uint64_t size_option(const po::variables_map& vm, const char* name) {
  const std::string text = vm[name].as<std::string>();
  uint64_t v;
  if (!parse_size(text, &v))
    throw ConfigError(std::string("--") + name + " '" + text +
                      "': not a size (examples: 64G, 512M, 4K, 1073741824)");
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts(
      "clio-mn: a Clio memory node\n\n"
      "Usage: clio-mn [options]\n\nOptions");
  opts.add_options()("help,h", "show this help and exit")("version", "print the version and exit")(
      "list-gids", po::value<std::string>()->implicit_value("")->value_name("DEV"),
      "print the GID table of RDMA device ARG (default: the first) port 1, best first, and exit: "
      "\"index<TAB>GID<TAB>type<TAB>netdev<TAB>IPv4\" per line; the first is what a verbs "
      "locator without gid= uses")(
      "listen", po::value<std::string>()->default_value("udp:host=127.0.0.1,port=7400"),
      "transport locator to serve on (see Transports below). The default is reachable from this "
      "host only: to serve other hosts, pass host= explicitly, an address of this host they can "
      "reach (udp:host=10.0.0.2,port=7400), or host=0.0.0.0 for every interface")(
      "memory", po::value<std::string>()->default_value("1G"),
      "memory pool size; may exceed RAM (pages are taken on first touch)")(
      "page-size", po::value<std::string>()->default_value("4M"),
      "page size: a power of two from 4K to 1G")(
      "design", po::value<std::string>()->default_value("clio"),
      "the memory node's design (docs: DESIGN.md, 'Designs compared'): clio (TLB + "
      "overflow-free hash page table, faults from an async free-page ring, no client state); "
      "server (a CPU-server MN: per-address-space radix table, faults zeroed under the control "
      "path's lock, a session per client); pnic (a programmable-NIC MN: one chained hash "
      "table, faults inline, a session per client)")(
      "max-sessions", po::value<size_t>()->default_value(16384),
      "server and pnic: client sessions per worker (more clients take sessions over)")(
      "session-buffer", po::value<std::string>()->default_value("4K"),
      "server and pnic: each session's receive buffer, as an RC queue pair's")(
      "workers", po::value<unsigned>()->default_value(1), "fast-path worker threads")(
      "overprovision", po::value<double>()->default_value(2.0),
      "page-table slots per physical page")(
      "max-ras", po::value<uint32_t>()->default_value(65536),
      "address spaces that may live at once (more: kTooManyRas, -EMFILE at the caller)")(
      "ras-max-memory", po::value<std::string>()->default_value("0"),
      "bytes one address space may have allocated, e.g. 256M (0: no quota; more: "
      "kQuotaMemory, -EDQUOT at the caller)")(
      "ras-max-slots", po::value<uint64_t>()->default_value(0),
      "page-table slots (one per allocated page) one address space may hold (0: no quota; "
      "more: kQuotaSlots, -ENOBUFS at the caller)")(
      "lease-ms", po::value<uint64_t>()->default_value(30'000),
      "an address space its owner has not renewed for this long (CLib renews every 5 s) is "
      "destroyed and its memory reclaimed: crashed clients and timed-out opens leak nothing "
      "(0: never)")(
      "dedup-entries", po::value<size_t>()->default_value(0),
      "executed requests remembered per worker, so none runs twice (0: sized for 200K recorded "
      "requests/s over the default 5 s deadline plus the packet lifetime)")(
      "max-packet-lifetime-ms",
      po::value<uint64_t>()->default_value(mn::kDefaultMaxPacketLifetimeMs),
      "longest a packet may spend in the network and queues; a write or atomic the MN cannot "
      "prove unexecuted within this margin is refused (kStale, -EIO at the caller)")(
      "auth-file", po::value<std::string>(),
      "file whose first line is the secret clients must prove to create address spaces (mode "
      "0600; clients read it from CLIO_AUTH_FILE or the locator key auth_file=)")(
      "insecure-no-auth", "let anyone who can reach the MN create address spaces (tests only)")(
      "cpus", po::value<std::string>()->default_value(""),
      "pin worker i to the i-th CPU of this comma-separated list (e.g. 2,3)")(
      "log-level", po::value<std::string>()->default_value("info"),
      "trace, debug, info, warn, error or off");

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "clio-mn: " << e.what() << "\nTry 'clio-mn --help'.\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n" << net::transports_help();
    return 0;
  }
  if (vm.count("list-gids")) {
    try {
      std::cout << net::list_gids(vm["list-gids"].as<std::string>());
      return 0;
    } catch (const Error& e) {
      std::cerr << "clio-mn: " << e.what() << "\n";
      return 1;
    }
  }
  if (vm.count("version")) {
    std::cout << "clio-mn " << CLIO_VERSION << "\n";
    return 0;
  }

  LogLevel level;
  if (!parse_log_level(vm["log-level"].as<std::string>(), &level)) {
    std::cerr << "clio-mn: --log-level '" << vm["log-level"].as<std::string>()
              << "': expected trace, debug, info, warn, error or off\n";
    return 2;
  }
  set_log_level(level);

  mn::MnConfig cfg;
  mn::ServerConfig scfg;
  try {
    cfg.pool_bytes = size_option(vm, "memory");
    cfg.page_bytes = size_option(vm, "page-size");
    cfg.overprovision = vm["overprovision"].as<double>();
    cfg.max_ras = vm["max-ras"].as<uint32_t>();
    if (vm["ras-max-memory"].as<std::string>() != "0")
      cfg.ras_max_bytes = size_option(vm, "ras-max-memory");
    cfg.ras_max_slots = vm["ras-max-slots"].as<uint64_t>();
    cfg.lease_ms = vm["lease-ms"].as<uint64_t>();
    cfg.design = vm["design"].as<std::string>();
    scfg.max_sessions = vm["max-sessions"].as<size_t>();
    scfg.session_buffer_bytes = size_option(vm, "session-buffer");
    scfg.listen = vm["listen"].as<std::string>();
    scfg.workers = vm["workers"].as<unsigned>();
    scfg.dedup_entries = vm["dedup-entries"].as<size_t>();
    scfg.max_packet_lifetime_ms = vm["max-packet-lifetime-ms"].as<uint64_t>();
    if (vm.count("auth-file") && vm.count("insecure-no-auth"))
      throw ConfigError("--auth-file and --insecure-no-auth exclude each other");
    if (vm.count("auth-file")) {
      scfg.auth = load_credential(vm["auth-file"].as<std::string>());
    } else if (!vm.count("insecure-no-auth") && scfg.listen.rfind("inproc:", 0) != 0) {
      throw ConfigError(
          "no credential: pass --auth-file FILE (a secret of 16+ characters, mode 0600, which "
          "clients read from CLIO_AUTH_FILE), or --insecure-no-auth to let anyone reachable "
          "create address spaces");
    }
    const std::string cpus = vm["cpus"].as<std::string>();
    for (size_t at = 0; at < cpus.size();) {
      const size_t comma = std::min(cpus.find(',', at), cpus.size());
      const std::string one = cpus.substr(at, comma - at);
      char* end = nullptr;
      const long cpu = std::strtol(one.c_str(), &end, 10);
      if (one.empty() || *end != '\0' || cpu < 0 || cpu > 4095)
        throw ConfigError("--cpus '" + cpus + "': expected CPU numbers separated by commas");
      scfg.cpus.push_back(static_cast<int>(cpu));
      at = comma + 1;
    }
    cfg.max_workers = std::max(16u, scfg.workers);
    cfg.validate();
  } catch (const ConfigError& e) {
    std::cerr << "clio-mn: " << e.what() << "\n";
    return 2;
  }

  // Signals are taken synchronously by this thread alone: block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  try {
    mn::MemoryNode node(cfg);
    {
      mn::MnServer server(node, scfg);
      // Fill the workers' rings of pre-zeroed pages first, so that the first touches do not
      // find them empty and the zeroing does not compete with the first requests.
      node.refill_now();
      // The locator names the address actually bound (a host name given is shown resolved).
      const std::string host = net::Locator::parse(server.locator()).get("host", "");
      if (host == "0.0.0.0" || host == "::")
        CLIO_LOG(WARN, "mn",
                 "%s is reachable from every interface of this host: any host that can reach "
                 "this one can reach the memory node; pass host=<address> to serve one network",
                 server.locator().c_str());
      if (scfg.auth.empty() && scfg.listen.rfind("inproc:", 0) != 0)
        CLIO_LOG(WARN, "mn", "--insecure-no-auth: anyone who reaches %s may create address spaces",
                 server.locator().c_str());
      std::printf("clio-mn: serving %s\n", server.locator().c_str());
      std::fflush(stdout);
      for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0) continue;
        if (sig == SIGUSR1) {
          std::fputs(server.report().c_str(), stderr);
          continue;
        }
        CLIO_LOG(INFO, "mn", "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        std::fputs(server.report().c_str(), stderr);
        break;
      }
    }
  } catch (const ConfigError& e) {
    std::cerr << "clio-mn: " << e.what() << "\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "clio-mn: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

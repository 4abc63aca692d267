// SPDX-License-Identifier: Apache-2.0
// clio-compare: the comparison the project exists for. Runs the paper's experiments (figure
// numbers as in ../shared/PAPER.md) for every memory-node design and every anchor that applies,
// interleaved point by point, and writes results/<date>-<commit>/ (see output.cc).
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "bench/compare/compare.h"
#include "bench/options.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "mn/design.h"

namespace po = boost::program_options;
using namespace clio;

namespace {

std::string run_text(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string commit() {
  const std::string src = CLIO_SOURCE_DIR;
  std::string c = run_text("git -C '" + src + "' rev-parse --short HEAD 2>/dev/null");
  if (c.empty()) return "unknown";
  if (!run_text("git -C '" + src + "' status --porcelain --untracked-files=no 2>/dev/null").empty())
    c += "-dirty";
  return c;
}

const char* const kExperiments =
    "Experiments (figure numbers as in the paper):\n"
    "  1  latency against request size, read and write, 16 B to 4 KiB (Figs 10, 11)\n"
    "  2  latency against client address spaces, 1 to 10,000, each its own endpoint, and the\n"
    "     MN's memory per client (Fig 4)\n"
    "  3  latency against mapped pages of 4 KiB, 2^0 up to what RAM allows (Fig 5)\n"
    "  4  TLB hit, TLB miss and first-touch latency; reads while faults stream in (Fig 6)\n"
    "  5  throughput against client threads and queue depth, sync and async, 1 KiB (Fig 8)\n"
    "  6  ralloc and rfree latency against size, 4 MiB to 1 GiB (Fig 12); ralloc retries\n"
    "     against memory in use, clio only (Fig 13)\n\n"
    "Designs (clio-mn --design): clio, server (a CPU-server MN), pnic (a programmable-NIC MN).\n"
    "Anchors: memcached and redis (Debian's, started and stopped here), floor (the cache-line\n"
    "ping-pong for inproc, the raw UDP ping-pong otherwise).\n\n"
    "Output: DIR/results.jsonl, expN.csv, expN.png (with expN.dat and expN.gp), report.md with a\n"
    "verdict per claim. The memory node's worker runs on the last CPU, the client on CPU 0: with\n"
    "fewer than 2 CPUs (for example under taskset) the two busy pollers would share a core, and\n"
    "clio-compare stops rather than report the collapse.\n";

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts(
      "clio-compare: Clio against server and programmable-NIC memory "
      "nodes, memcached and Redis, in one run\n\nOptions");
  bool quick = false, tiny = false;
  opts.add_options()("help,h", "show this help and exit")("version", "print the version and exit")(
      "quick", po::bool_switch(&quick), "a short run (under 3 minutes on 2 cores)")(
      "tiny", po::bool_switch(&tiny), "a smoke run of a few seconds (CI checks the outputs)")(
      "experiments", po::value<std::string>()->default_value("1,2,3,4,5,6"),
      "which experiments, e.g. 1,4")("designs",
                                     po::value<std::string>()->default_value("clio,server,pnic"),
                                     ("memory-node designs: " + mn::design_names()).c_str())(
      "anchors", po::value<std::string>()->default_value("memcached,redis,floor"),
      "anchors: memcached, redis, floor (none: '')")(
      "transport", po::value<std::string>()->default_value("inproc"),
      "inproc (embedded MNs), udp (clio-mn processes on UDP loopback), or a locator for a "
      "spawned clio-mn to serve (raweth:..., verbs:...)")(
      "out", po::value<std::string>()->default_value(""),
      "results directory (default results/<date>-<commit>)")(
      "rdma", po::value<std::string>()->default_value(""),
      "HOST:PORT[,dev=NAME][,gid=N] of a clio-rdma-server: adds one-sided RDMA rows to "
      "experiments 1, 2, 3 and 6 (needs a verbs device)")(
      "rounds", po::value<unsigned>()->default_value(0),
      "runs of every step, interleaved (round 1 of every step, then round 2, ...); each figure "
      "reported is the median over the rounds (0: 3 for the full run, 1 for --quick and --tiny)")(
      "max-pages-log2", po::value<uint64_t>()->default_value(0),
      "experiment 3's largest point, 2^N pages of 4 KiB (0: what half of RAM holds)")(
      "log-level", po::value<std::string>()->default_value("warn"),
      "the MNs' and CLib's log level");
  po::variables_map vm;
  if (const int rc = bench::parse_options("clio-compare", argc, argv, opts, &vm, kExperiments);
      rc >= 0)
    return rc;
  if (vm.count("version")) {
    std::printf("clio-compare %s\n", CLIO_VERSION);
    return 0;
  }
  LogLevel level;
  if (!parse_log_level(vm["log-level"].as<std::string>(), &level)) {
    std::fprintf(stderr,
                 "clio-compare: --log-level: expected trace, debug, info, warn, error or off\n");
    return 2;
  }
  set_log_level(level);

  compare::Options o;
  try {
    if (quick && tiny) throw ConfigError("--quick and --tiny exclude each other");
    o.scale = tiny ? compare::Scale::kTiny : quick ? compare::Scale::kQuick : compare::Scale::kFull;
    for (const auto& d : bench::split_list(vm["designs"].as<std::string>())) {
      if (mn::find_design(d) == nullptr)
        throw ConfigError("--designs: '" + d + "' is not one of " + mn::design_names());
      o.designs.push_back(d);
    }
    for (const auto& a : bench::split_list(vm["anchors"].as<std::string>())) {
      if (a != "memcached" && a != "redis" && a != "floor")
        throw ConfigError("--anchors: '" + a + "' is not memcached, redis or floor");
      o.anchors.push_back(a);
    }
    for (const auto& e : bench::split_list(vm["experiments"].as<std::string>())) {
      if (e.size() != 1 || e[0] < '1' || e[0] > '6')
        throw ConfigError("--experiments: '" + e + "' is not a number from 1 to 6");
      o.experiments.push_back(e[0] - '0');
    }
    if (o.designs.empty() && o.anchors.empty()) throw ConfigError("nothing to measure");
    o.transport = vm["transport"].as<std::string>();
    if (o.transport != "inproc" && o.transport != "udp" &&
        o.transport.find(':') == std::string::npos)
      throw ConfigError("--transport '" + o.transport + "': expected inproc, udp or a locator");
    o.rdma = vm["rdma"].as<std::string>();
    if (!o.rdma.empty()) compare::check_rdma_spec(o.rdma);
    o.rounds = vm["rounds"].as<unsigned>();
    if (o.rounds == 0) o.rounds = o.scale == compare::Scale::kFull ? 3 : 1;
    if (o.rounds > 25) throw ConfigError("--rounds: at most 25");
    o.max_pages_log2 = vm["max-pages-log2"].as<uint64_t>();
    if (o.max_pages_log2 > 30) throw ConfigError("--max-pages-log2: at most 30");
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "clio-compare: %s\nTry 'clio-compare --help'.\n", e.what());
    return 2;
  }

  o.cpus = bench::usable_cpus();
  if (o.cpus < 2) {
    std::fprintf(stderr,
                 "clio-compare: only %d CPU usable (taskset or a cgroup?): the client's busy "
                 "poller and the memory node's would share it, and every figure would measure the "
                 "scheduler. Give clio-compare 2 CPUs or more.\n",
                 o.cpus);
    return 2;
  }
  o.client_cpu = 0;
  o.mn_cpu = o.cpus - 1;  // where MnTarget pins the MN's worker
  o.ram_bytes = static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  o.progress = ::isatty(2) != 0;
  o.commit = commit();
  o.out = vm["out"].as<std::string>();
  if (o.out.empty()) {
    char day[32];
    const std::time_t t = std::time(nullptr);
    std::strftime(day, sizeof day, "%Y-%m-%d", std::localtime(&t));
    o.out = std::string("results/") + day + "-" + o.commit;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.out, ec);
  if (ec) {
    std::fprintf(stderr, "clio-compare: cannot create %s: %s\n", o.out.c_str(),
                 ec.message().c_str());
    return 1;
  }
  // Experiment 2 opens an endpoint (a socket) per client.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  pin_to_cpu(o.client_cpu);
  // Experiment 2 makes and frees thousands of clients (CLib maps about 8 MiB of mostly untouched
  // state per client thread). With glibc's sliding mmap threshold the later ones would come from
  // the heap and stay mapped after they are freed: tens of GiB of address space, and the next
  // fork() of a memory node or an anchor would be refused. A fixed threshold gives them back.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);

  std::string command = "clio-compare";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];

  std::vector<compare::Step> steps;
  for (int e : o.experiments) {
    auto more = e == 1   ? compare::exp_size(o)
                : e == 2 ? compare::exp_clients(o)
                : e == 3 ? compare::exp_pages(o)
                : e == 4 ? compare::exp_faults(o)
                : e == 5 ? compare::exp_throughput(o)
                         : compare::exp_alloc(o);
    for (auto& s : more) steps.push_back(std::move(s));
  }
  std::fprintf(stderr, "clio-compare: %zu steps x %u rounds over %s; results in %s\n", steps.size(),
               o.rounds, o.transport.c_str(), o.out.c_str());
  compare::Rows rows;
  int failures = 0;
  const uint64_t t0 = now_ns();
  const size_t total = steps.size() * o.rounds;
  for (size_t i = 0; i < total; ++i) {
    const compare::Step& s = steps[i % steps.size()];
    if (o.progress) {
      const double elapsed = static_cast<double>(now_ns() - t0) / 1e9;
      const double left =
          i == 0 ? 0 : elapsed / static_cast<double>(i) * static_cast<double>(total - i);
      std::fprintf(
          stderr, "\r\033[K[%zu/%zu] round %zu, experiment %d: %s  (%.0f s, about %.0f s left)",
          i + 1, total, i / steps.size() + 1, s.experiment, s.label.c_str(), elapsed, left);
    }
    try {
      s.run(&rows.rows);
    } catch (const std::exception& e) {
      ++failures;
      std::fprintf(stderr, "%sclio-compare: experiment %d, %s: %s\n", o.progress ? "\n" : "",
                   s.experiment, s.label.c_str(), e.what());
      bench::Row r;
      r.set("experiment", s.experiment)
          .set("system", s.label)
          .set("op", "error")
          .set("error", e.what());
      rows.rows.push_back(r);
    }
  }
  if (o.progress) std::fprintf(stderr, "\r\033[K");
  rows = compare::median_of_rounds(rows);
  const double elapsed = static_cast<double>(now_ns() - t0) / 1e9;
  const std::string summary = compare::write_outputs(o, rows, command, elapsed);
  std::printf("%s\nreport: %s/report.md (%.0f s%s)\n", summary.c_str(), o.out.c_str(), elapsed,
              failures ? ", with failed steps" : "");
  return failures == 0 ? 0 : 1;
}

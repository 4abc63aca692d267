// SPDX-License-Identifier: Apache-2.0
#include "bench/mn_target.h"

#include <sched.h>

#include "common/error.h"
#include "common/units.h"

namespace clio::bench {

int usable_cpus() {
  // Read once: a thread that pinned itself (and threads it creates) would see fewer.
  static const int kCpus = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return CPU_COUNT(&set);
  }();
  return kCpus;
}

const char* MnTarget::help() {
  return "inproc (embedded, in-process rings), udp (embedded, UDP loopback), spawn-udp (a clio-mn "
         "child process on UDP loopback), spawn:LOCATOR (a clio-mn child process serving "
         "LOCATOR, e.g. spawn:raweth:ifname=veth0), or the locator of a running memory node";
}

MnTarget::MnTarget(const std::string& how, const TargetOptions& o) {
  const int last_cpu = usable_cpus() - 1;
  if (how == "inproc" || how == "udp") {
    mn::MnConfig cfg;
    cfg.pool_bytes = o.pool_bytes;
    cfg.page_bytes = o.page_bytes;
    cfg.design = o.design;
    cfg.max_ras = o.max_ras;
    cfg.lease_ms = o.lease_ms;

    mn::ServerConfig sc;
    sc.listen = how == "inproc" ? "inproc:name=bench-mn" : "udp:host=127.0.0.1,port=0";
    sc.workers = o.workers;
    if (last_cpu > 0) sc.cpus = {last_cpu};
    embedded_ = std::make_unique<testing::EmbeddedMn>(cfg, sc);
    // Pre-zeroing the fault rings would compete with the measurement.
    embedded_->node().refill_now();
    locator_ = embedded_->locator();
  } else if (how == "spawn-udp" || how.rfind("spawn:", 0) == 0) {
    const std::string listen = how == "spawn-udp" ? "udp:host=127.0.0.1,port=0" : how.substr(6);
    std::vector<std::string> args = {"--listen",    listen,
                                     "--memory",    std::to_string(o.pool_bytes),
                                     "--page-size", std::to_string(o.page_bytes),
                                     "--workers",   std::to_string(o.workers),
                                     "--design",    o.design,
                                     "--max-ras",   std::to_string(o.max_ras),
                                     "--lease-ms",  std::to_string(o.lease_ms),
                                     "--log-level", "warn"};
    if (last_cpu > 0) args.insert(args.end(), {"--cpus", std::to_string(last_cpu)});
    try {
      process_ = std::make_unique<testing::MnProcess>(testing::default_mn_binary(), args);
    } catch (const std::runtime_error& e) {
      throw Error(std::string("cannot start clio-mn: ") + e.what());
    }
    locator_ = process_->locator();
  } else if (how.find(':') != std::string::npos) {
    locator_ = how;
  } else {
    throw ConfigError("--mn '" + how + "': expected " + help());
  }
}

MnTarget::~MnTarget() = default;

std::string MnTarget::transport() const { return locator_.substr(0, locator_.find(':')); }

int MnTarget::pid() const { return process_ ? process_->pid() : -1; }

std::string MnTarget::report() const { return embedded_ ? embedded_->server().report() : ""; }

}  // namespace clio::bench

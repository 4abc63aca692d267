// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "bench/compare/compare.h"
#include "common/error.h"

namespace clio::compare {

bool Options::has_anchor(const std::string& a) const {
  for (const auto& x : anchors)
    if (x == a) return true;
  return false;
}

uint64_t Options::ops() const {
  switch (scale) {
    case Scale::kTiny:
      return 200;
    case Scale::kQuick:
      return 3000;
    case Scale::kFull:
      return 20'000;
  }
  return 0;
}

void check(int rc, const char* what) {
  if (rc != 0) throw Error(std::string(what) + " failed: " + std::to_string(rc));
}

DesignMn::DesignMn(const Options& o, const std::string& design, const Shape& s) : design_(design) {
  bench::TargetOptions t;
  t.pool_bytes = s.pool_bytes;
  t.page_bytes = s.page_bytes;
  t.design = design;
  t.max_ras = s.max_ras;
  t.lease_ms = 0;  // the experiments' clients send no keep-alives
  const std::string how = o.transport == "inproc" ? "inproc"
                          : o.transport == "udp"  ? "spawn-udp"
                                                  : "spawn:" + o.transport;
  target_ = std::make_unique<bench::MnTarget>(how, t);
}

DesignMn::~DesignMn() = default;

std::unique_ptr<Client> DesignMn::open(const std::string& extra) const {
  std::unique_ptr<Client> c;
  const int rc = Client::open(target_->locator() + ",keepalive_ms=0" + extra, &c);
  if (rc != 0)
    throw Error("cannot open a client of the " + design_ + " MN at " + target_->locator() + ": " +
                std::to_string(rc));
  return c;
}

const mn::MnStats* DesignMn::embedded_stats(mn::MnStats* out) const {
  if (target_->node() == nullptr) return nullptr;
  *out = target_->node()->stats();
  return out;
}

uint64_t DesignMn::memory_bytes(bool* measured) const {
  if (target_->pid() > 0) {
    std::ifstream f("/proc/" + std::to_string(target_->pid()) + "/statm");
    uint64_t size = 0, resident = 0;
    f >> size >> resident;
    *measured = true;
    return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  }
  *measured = false;
  uint64_t bytes = target_->node()->stats().pt_bytes;
  if (target_->server() != nullptr) bytes += target_->server()->stats().session_bytes;
  return bytes;
}

}  // namespace clio::compare

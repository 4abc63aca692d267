// SPDX-License-Identifier: Apache-2.0
// Where a benchmark's (or the main job's) memory node runs, from one --mn argument:
//   inproc      a memory node in this process, over the inproc fabric (busy-polling)
//   udp         a memory node in this process, over UDP loopback
//   spawn-udp   a clio-mn child process over UDP loopback
//   <locator>   a memory node that is already running, e.g. udp:host=10.0.0.2,port=7400
// Embedded and spawned nodes pin their worker to the last CPU; callers pin themselves to CPU 0.
#pragma once

#include <memory>
#include <string>

#include "mn/memory_node.h"
#include "mn/server.h"
#include "tests/support/embedded_mn.h"
#include "tests/support/mn_process.h"

namespace clio::bench {

struct TargetOptions {
  uint64_t pool_bytes = uint64_t{1} << 30;
  uint64_t page_bytes = uint64_t{4} << 20;
  unsigned workers = 1;
  std::string design = "clio";  ///< the memory node's design (mn/design.h)
  uint32_t max_ras = 1u << 16;
  uint64_t lease_ms = 30'000;
};

class MnTarget {
 public:
  /// Starts (or names) the memory node. Throws clio::Error with the reason.
  MnTarget(const std::string& how, const TargetOptions& o);
  ~MnTarget();

  const std::string& locator() const { return locator_; }
  /// "inproc", "udp", ... : the transport clients use.
  std::string transport() const;
  /// The embedded node's statistics report, or "" for other targets.
  std::string report() const;
  /// The embedded node and server (nullptr for other targets).
  const mn::MemoryNode* node() const { return embedded_ ? &embedded_->node() : nullptr; }
  const mn::MnServer* server() const { return embedded_ ? &embedded_->server() : nullptr; }
  /// The spawned clio-mn's process id, or -1.
  int pid() const;

  static const char* help();

 private:
  std::unique_ptr<testing::EmbeddedMn> embedded_;
  std::unique_ptr<testing::MnProcess> process_;
  std::string locator_;
};

/// Number of CPUs this process may run on, as read on the first call: call it before pinning.
int usable_cpus();

}  // namespace clio::bench

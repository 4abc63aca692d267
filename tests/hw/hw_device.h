// SPDX-License-Identifier: Apache-2.0
// Which RDMA device the hw tests use, and why they skip when there is none.
//   CLIO_RDMA_DEV  device name (e.g. rxe0); default: the first device found
//   CLIO_RDMA_GID  GID index (e.g. 1); default: the one the verbs backend picks
// scripts/rxe-vm.sh sets both inside its soft-RoCE VM.
#pragma once

#include <cstdlib>
#include <string>

#include "verbs_shim/registry.h"

namespace clio::testing {

/// "dev=rxe0,gid=1" (either part absent when its variable is unset), for verbs locators.
inline std::string verbs_keys() {
  std::string k;
  if (const char* d = std::getenv("CLIO_RDMA_DEV"); d != nullptr && *d != 0)
    k += "dev=" + std::string(d);
  if (const char* g = std::getenv("CLIO_RDMA_GID"); g != nullptr && *g != 0)
    k += (k.empty() ? "gid=" : ",gid=") + std::string(g);
  return k;
}

/// A verbs locator with `rest` appended: "verbs:dev=rxe0,gid=1,<rest>".
inline std::string verbs_locator(const std::string& rest) {
  const std::string k = verbs_keys();
  return "verbs:" + k + (k.empty() || rest.empty() ? "" : ",") + rest;
}

/// "" when the verbs backend can run here; else the reason, for GTEST_SKIP (not built with
/// libibverbs; no RDMA device; the device or GID is unusable). Opens and closes one transport.
inline std::string verbs_unavailable() {
  if (net::find_backend("verbs") == nullptr)
    return "the verbs backend is not built in (libibverbs not found at configure time)";
  try {
    (void)net::listen(verbs_locator("host=127.0.0.1,port=0"));
  } catch (const net::TransportError& e) {
    return std::string("no usable RDMA device here (run under scripts/rxe-vm.sh): ") + e.what();
  }
  return "";
}

}  // namespace clio::testing

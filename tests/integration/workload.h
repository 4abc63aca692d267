// SPDX-License-Identifier: Apache-2.0
// A random workload run through CLib and checked, operation by operation, against a local
// shadow copy of remote memory. Shared by the end-to-end tests of every transport.
#pragma once

#include <cstdint>

#include "clio/client.h"

namespace clio::testing {

struct WorkloadOptions {
  uint64_t ops = 100'000;
  uint64_t seed = 1;
  uint64_t max_alloc_bytes = 64 * 1024;  ///< allocations of 1 byte up to this
  uint64_t max_io_bytes = 12'000;        ///< reads and writes up to this (several packets)
  size_t max_live_allocs = 32;
};

struct WorkloadReport {
  uint64_t reads = 0, writes = 0, cas = 0, faa = 0, rallocs = 0, rfrees = 0, stale = 0;
  uint64_t counter_expected = 0;  ///< increments of the dedicated fetch-and-add counter
  uint64_t counter_actual = 0;    ///< its value read back at the end
};

/// Runs the workload; reports mismatches through GoogleTest assertions (ADD_FAILURE), stopping
/// at the first one. Returns what it did.
WorkloadReport run_workload(Client& c, const WorkloadOptions& o);

}  // namespace clio::testing

// SPDX-License-Identifier: Apache-2.0
// What a benchmark's timing loop and its floors share (rw_latency, clio-compare):
//   time_ops         one operation at a time, each timed, and the rate of the whole loop
//   udp_floor        the raw UDP ping-pong with Clio's packet shapes (an 80-byte request, a
//                    reply of header + size bytes), echoed by a busy-polling thread with the
//                    same UDP backend and no Clio protocol: the least a udp request can cost
//   cacheline_floor  a cache-line ping-pong between this thread's core and the MN worker's:
//                    the least an in-process request and its answer can cost
//   window_floor     a window of requests kept in flight to a bare echo: the most requests
//                    per second the transport carries with Clio's packets and batches
//   endpoints_floor  the ping-pong from many client endpoints in turn
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/histogram.h"

namespace clio::bench {

struct Measured {
  Histogram ns;
  double ops_per_s = 0;
};

template <typename F>
Measured time_ops(uint64_t n, F&& op) {
  Measured m;
  const uint64_t t_start = now_ns();
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t t0 = now_ns();
    if (!op(i)) {
      std::fprintf(stderr, "benchmark: an operation failed\n");
      std::exit(1);
    }
    m.ns.record(now_ns() - t0);
  }
  m.ops_per_s = static_cast<double>(n) * 1e9 / static_cast<double>(now_ns() - t_start);
  return m;
}

/// Raw UDP ping-pong by size, n round trips each; the echo thread runs on server_cpu (> 0).
std::map<uint32_t, Measured> udp_floor(const std::vector<uint32_t>& sizes, uint64_t n,
                                       int server_cpu);
/// Throughput floor: a window of `depth` requests (80 bytes) kept in flight for `seconds` to a
/// bare echo on server_cpu over the transport `listen` names, each answered with header + size
/// bytes, reissued as replies come back, at most half a window per burst (so over udp a burst
/// is one datagram each way, as clio's batches are). ops_per_s, and ns per request.
Measured window_floor(const std::string& listen, uint32_t size, uint32_t depth, double seconds,
                      int server_cpu);
/// n cache-line round trips with a thread on peer_cpu (> 0).
Measured cacheline_floor(uint64_t n, int peer_cpu);
/// The floor of many clients: `clients` endpoints of the transport `listen` names (inproc or
/// udp), each round trip from a random one to an echo on server_cpu, with an 80-byte request and
/// a reply of header + size bytes. What the clients' own endpoints cost as they multiply.
Measured endpoints_floor(const std::string& listen, uint64_t clients, uint32_t size, uint64_t n,
                         int server_cpu);

}  // namespace clio::bench

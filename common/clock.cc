// SPDX-License-Identifier: Apache-2.0
#include "common/clock.h"

#include <pthread.h>
#include <sched.h>

#include "common/log.h"

namespace clio {

namespace {

/// Nanoseconds per time-stamp-counter tick, measured against CLOCK_MONOTONIC over `ns`; 0 where
/// there is no TSC.
double calibrate_tsc(uint64_t ns) {
#if defined(__x86_64__)
  const uint64_t t0 = now_ns();
  const uint64_t c0 = __rdtsc();
  uint64_t t1;
  do {
    t1 = now_ns();
  } while (t1 - t0 < ns);
  const uint64_t c1 = __rdtsc();
  return c1 == c0 ? 0.0 : static_cast<double>(t1 - t0) / static_cast<double>(c1 - c0);
#else
  (void)ns;
  return 0.0;
#endif
}

}  // namespace

double Tsc::ns_per_tick() {
  // Benchmarks convert many readings: a longer calibration than fast_now_ns() needs.
  static const double kNsPerTick = [] {
    const double k = calibrate_tsc(50'000'000);
    return k > 0 ? k : 1.0;
  }();
  return kNsPerTick;
}

uint64_t fast_now_ns() {
  static const double kNsPerTick = calibrate_tsc(5'000'000);
#if defined(__x86_64__)
  if (kNsPerTick > 0) [[likely]]
    return static_cast<uint64_t>(static_cast<double>(__rdtsc()) * kNsPerTick);
#endif
  return now_ns();
}

bool pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (rc != 0) CLIO_LOG(WARN, "cpu", "cannot pin to CPU %d (error %d)", cpu, rc);
  return rc == 0;
}

void IdlePoll::idle() {
  if ((rounds_++ & 63) == 0) {
    const uint64_t now = now_ns();
    last_ns_ = now;
    if (idle_since_ == 0) idle_since_ = now;
    yielding_ = now - idle_since_ >= kSpinNs;
  }
  if (yielding_) {
    sched_yield();
  } else {
    cpu_relax();
  }
}

}  // namespace clio

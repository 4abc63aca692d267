// SPDX-License-Identifier: Apache-2.0
// Clocks: a monotonic nanosecond clock for control paths and timeouts, and the CPU's time-stamp
// counter for benchmarks that time single operations.
#pragma once

#include <cstdint>
#include <ctime>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace clio {

/// CLOCK_MONOTONIC in nanoseconds (vDSO, about 20 ns).
inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

/// Nanoseconds from the time-stamp counter: about 2.5x cheaper than now_ns() in a VM (no
/// vDSO clock read), monotonic where the TSC is invariant (constant_tsc, nonstop_tsc). Its zero
/// is not now_ns()'s; compare only its own readings. The first call calibrates (5 ms).
uint64_t fast_now_ns();

/// Time-stamp counter; falls back to now_ns() where there is none.
struct Tsc {
  /// A reading ordered after every earlier instruction (rdtscp waits for them) and before every
  /// later one (lfence).
  static uint64_t now() {
#if defined(__x86_64__)
    unsigned aux;
    uint64_t t = __rdtscp(&aux);
    _mm_lfence();
    return t;
#else
    return now_ns();
#endif
  }
  /// Nanoseconds per tick, measured once against CLOCK_MONOTONIC over about 50 ms.
  static double ns_per_tick();
};

}  // namespace clio

namespace clio {

/// Polling that spins while it pays and then shares the CPU: for the first kSpinNs of an idle
/// stretch it only spins (lowest latency); after that each idle round yields, so that on a
/// machine with fewer cores than busy threads the others (an MN's slow path, a peer) still run.
class IdlePoll {
 public:
  static constexpr uint64_t kSpinNs = 50'000;
  void idle();
  void busy() {
    idle_since_ = 0;
    rounds_ = 0;
    yielding_ = false;
  }
  /// The clock as idle() last read it (it reads on the first idle round after busy(), then
  /// every 64th): a free, slightly old clock for whoever polls with it. 0 before any read.
  uint64_t last_ns() const { return last_ns_; }
  /// True once this idle stretch has lasted kSpinNs: the poller now yields its CPU.
  bool yielding() const { return yielding_; }

 private:
  uint64_t idle_since_ = 0;
  uint64_t last_ns_ = 0;
  uint32_t rounds_ = 0;  ///< the clock is read every 64 rounds only: it costs ~30 ns in a VM
  bool yielding_ = false;
};

/// Pins the calling thread to one CPU. False (and a warning logged) when that fails.
bool pin_to_cpu(int cpu);

/// A hint inside spin loops (x86 `pause`); a no-op elsewhere.
inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

}  // namespace clio

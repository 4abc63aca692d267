#include "common/clock.h"

#include <pthread.h>
#include <sched.h>

#include "common/log.h"

namespace clio {

double Tsc::ns_per_tick() {
  static const double kNsPerTick = [] {
    const uint64_t t0 = now_ns();
    const uint64_t c0 = now();
    uint64_t t1;
    do {
      t1 = now_ns();
    } while (t1 - t0 < 50'000'000);
    const uint64_t c1 = now();
    return c1 == c0 ? 1.0 : static_cast<double>(t1 - t0) / static_cast<double>(c1 - c0);
  }();
  return kNsPerTick;
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

#include "common/clock.h"

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

}  // namespace clio

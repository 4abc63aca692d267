// SPDX-License-Identifier: Apache-2.0
// A wake-up signal for one sleeping thread (the MN's slow path), cheap to ring when nobody
// sleeps: ring() is one load unless the sleeper has announced itself, and then a futex wake.
#pragma once

#include <atomic>
#include <cstdint>

namespace clio {

class Doorbell {
 public:
  /// Any thread. Wakes the sleeper if there is one; never blocks.
  void ring() {
    // seq_cst pairs with the store in wait(): either we see the sleeper, or it sees our work.
    if (sleeping_.load(std::memory_order_seq_cst)) {
      count_.fetch_add(1, std::memory_order_seq_cst);
      wake();
    }
  }

  /// The one sleeper. Sleeps up to timeout_ns unless rung. `has_work` is called after the
  /// sleeper announced itself, so work published before a ring() is never missed.
  template <typename F>
  void wait(uint64_t timeout_ns, F&& has_work) {
    const uint32_t seen = count_.load(std::memory_order_seq_cst);
    sleeping_.store(true, std::memory_order_seq_cst);
    if (!has_work()) sleep(seen, timeout_ns);
    sleeping_.store(false, std::memory_order_relaxed);
  }

 private:
  void wake();
  void sleep(uint32_t seen, uint64_t timeout_ns);

  std::atomic<uint32_t> count_{0};
  std::atomic<bool> sleeping_{false};
};

}  // namespace clio

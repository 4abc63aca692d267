// SPDX-License-Identifier: Apache-2.0
#include "common/doorbell.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>

namespace clio {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word");

void Doorbell::wake() {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&count_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
          0);
}

void Doorbell::sleep(uint32_t seen, uint64_t timeout_ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000u);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000u);
  // Returns at once (EAGAIN) if a ring() changed the count since `seen`.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&count_), FUTEX_WAIT_PRIVATE, seen, &ts, nullptr,
          0);
}

}  // namespace clio

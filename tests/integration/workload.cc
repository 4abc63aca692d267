// SPDX-License-Identifier: Apache-2.0
#include "workload.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/rng.h"

namespace clio::testing {
namespace {

struct Alloc {
  uint64_t addr;
  std::vector<uint8_t> shadow;
};

#define CHECK_RC(call, want)                                                           \
  do {                                                                                 \
    const int rc_ = (call);                                                            \
    if (rc_ != (want)) {                                                               \
      ADD_FAILURE() << #call << " returned " << rc_ << " (" << clio::error_string(rc_) \
                    << "), want " << (want) << " at op " << op;                        \
      return rep;                                                                      \
    }                                                                                  \
  } while (0)

}  // namespace

WorkloadReport run_workload(Client& c, const WorkloadOptions& o) {
  WorkloadReport rep;
  Rng rng(o.seed);
  std::vector<Alloc> live;
  std::vector<uint64_t> freed;
  uint64_t op = 0;
  uint64_t counter_addr = 0;
  CHECK_RC(c.ralloc(8, &counter_addr), 0);
  std::vector<uint8_t> buf(o.max_io_bytes), got(o.max_io_bytes);

  for (op = 0; op < o.ops; ++op) {
    const uint64_t dice = rng.below(100);
    if (live.empty() || (dice < 4 && live.size() < o.max_live_allocs)) {
      Alloc a;
      const uint64_t size = 8 + rng.below(o.max_alloc_bytes - 7);
      CHECK_RC(c.ralloc(size, &a.addr), 0);
      a.shadow.assign(size, 0);
      std::erase_if(freed, [&](uint64_t f) { return f >= a.addr && f < a.addr + size; });
      live.push_back(std::move(a));
      ++rep.rallocs;
      continue;
    }
    Alloc& a = live[rng.below(live.size())];
    const uint64_t size = a.shadow.size();
    if (dice < 7) {  // free it; its address must be dead from now on
      CHECK_RC(c.rfree(a.addr), 0);
      freed.push_back(a.addr);
      a = std::move(live.back());
      live.pop_back();
      ++rep.rfrees;
    } else if (dice < 10 && !freed.empty()) {  // touch freed memory
      uint64_t x;
      CHECK_RC(c.rread(freed[rng.below(freed.size())], &x, 8), -EFAULT);
      ++rep.stale;
    } else if (dice < 40) {
      const uint64_t len = 1 + rng.below(std::min(size, o.max_io_bytes));
      const uint64_t off = rng.below(size - len + 1);
      for (uint64_t i = 0; i < len; ++i) buf[i] = static_cast<uint8_t>(rng.next());
      CHECK_RC(c.rwrite(a.addr + off, buf.data(), len), 0);
      std::memcpy(a.shadow.data() + off, buf.data(), len);
      ++rep.writes;
    } else if (dice < 70) {
      const uint64_t len = 1 + rng.below(std::min(size, o.max_io_bytes));
      const uint64_t off = rng.below(size - len + 1);
      CHECK_RC(c.rread(a.addr + off, got.data(), len), 0);
      if (std::memcmp(got.data(), a.shadow.data() + off, len) != 0) {
        ADD_FAILURE() << "read of " << len << " bytes at +" << off
                      << " differs from the shadow, op " << op;
        return rep;
      }
      ++rep.reads;
    } else if (dice < 80 && size >= 8) {
      const uint64_t off = rng.below(size / 8) * 8;
      uint64_t cur;
      std::memcpy(&cur, a.shadow.data() + off, 8);
      const uint64_t expected = rng.chance(0.5) ? cur : rng.next();
      const uint64_t desired = rng.next();
      uint64_t old;
      CHECK_RC(c.rcas(a.addr + off, expected, desired, &old), 0);
      if (old != cur) {
        ADD_FAILURE() << "cas returned old " << old << ", shadow has " << cur << ", op " << op;
        return rep;
      }
      if (old == expected) std::memcpy(a.shadow.data() + off, &desired, 8);
      ++rep.cas;
    } else if (dice < 90 && size >= 8) {
      const uint64_t off = rng.below(size / 8) * 8;
      uint64_t cur;
      std::memcpy(&cur, a.shadow.data() + off, 8);
      const uint64_t add = rng.below(1000);
      uint64_t old;
      CHECK_RC(c.rfaa(a.addr + off, add, &old), 0);
      if (old != cur) {
        ADD_FAILURE() << "faa returned old " << old << ", shadow has " << cur << ", op " << op;
        return rep;
      }
      cur += add;
      std::memcpy(a.shadow.data() + off, &cur, 8);
      ++rep.faa;
    } else {
      uint64_t old;
      CHECK_RC(c.rfaa(counter_addr, 1, &old), 0);
      if (old != rep.counter_expected) {
        ADD_FAILURE() << "counter was " << old << " before increment " << rep.counter_expected;
        return rep;
      }
      ++rep.counter_expected;
    }
  }
  CHECK_RC(c.rread(counter_addr, &rep.counter_actual, 8), 0);
  for (const Alloc& a : live) {  // everything, one last time
    std::vector<uint8_t> all(a.shadow.size());
    CHECK_RC(c.rread(a.addr, all.data(), all.size()), 0);
    if (all != a.shadow) ADD_FAILURE() << "final contents of an allocation differ";
  }
  return rep;
}

}  // namespace clio::testing

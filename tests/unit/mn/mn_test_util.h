// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the memory-node tests.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "mn/memory_node.h"

namespace clio::mn::testing {

inline MnConfig small_config(uint64_t pool = uint64_t{64} << 20, uint64_t page = 4096) {
  MnConfig c;
  c.pool_bytes = pool;
  c.page_bytes = page;
  c.max_ras = 8192;
  c.seed = 42;
  return c;
}

/// An address space created on `mn`, with its keys.
struct Ras {
  uint32_t pid = 0;
  uint64_t rw = 0;
  uint64_t ro = 0;

  static Ras create(MemoryNode& mn) {
    auto info = mn.create_ras();
    EXPECT_EQ(info.status, Status::kOk);
    return Ras{info.pid, info.key_rw, info.key_ro};
  }
  Target at(uint64_t va) const { return Target{pid, rw, va}; }
  Target ro_at(uint64_t va) const { return Target{pid, ro, va}; }
};

/// Runs one operation in its own batch; on kRetryLater (no pre-zeroed page queued yet) asks the
/// slow path for a refill, outside the batch, and tries again. Deterministic: no sleeping.
template <typename Op>
Status with_retry(MemoryNode& mn, FastPath& w, Op&& op) {
  for (int i = 0; i < 100; ++i) {
    Status s;
    {
      FastPath::Batch b(w);
      s = op();
    }
    if (s != Status::kRetryLater) return s;
    mn.refill_now();
  }
  return Status::kRetryLater;
}

inline Status write_bytes(MemoryNode& mn, FastPath& w, const Target& t,
                          const std::vector<std::byte>& d) {
  return with_retry(mn, w, [&] { return w.write(t, d); });
}

inline Status read_bytes(MemoryNode& mn, FastPath& w, const Target& t, std::vector<std::byte>& d) {
  return with_retry(mn, w, [&] { return w.read(t, d); });
}

inline std::vector<std::byte> pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte{static_cast<uint8_t>(seed + i * 7)};
  return v;
}

inline bool all_zero(const std::vector<std::byte>& v) {
  for (auto b : v)
    if (b != std::byte{0}) return false;
  return true;
}

}  // namespace clio::mn::testing

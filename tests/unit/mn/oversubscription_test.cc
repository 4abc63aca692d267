// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "mn/memory_node.h"
#include "mn_test_util.h"

namespace clio::mn {
namespace {

uint64_t meminfo_kib(const std::string& key) {
  std::ifstream f("/proc/meminfo");
  std::string k;
  uint64_t v;
  std::string unit;
  while (f >> k >> v >> unit)
    if (k == key + ":") return v;
  return 0;
}

uint64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size, resident;
  f >> size >> resident;
  return resident * 4096;
}

TEST(OversubscriptionTest, PoolFourTimesRamWorksWhileLittleIsTouched) {
  std::ifstream oc("/proc/sys/vm/overcommit_memory");
  int mode = 0;
  oc >> mode;
  if (mode == 2) GTEST_SKIP() << "vm.overcommit_memory=2 (strict) forbids a pool larger than RAM";
  const uint64_t ram = meminfo_kib("MemTotal") * 1024;
  ASSERT_GT(ram, 0u);

  MnConfig cfg;
  cfg.page_bytes = uint64_t{2} << 20;
  cfg.pool_bytes = (4 * ram) & ~(cfg.page_bytes - 1);
  cfg.seed = 1;
  const uint64_t rss_before = rss_bytes();
  MemoryNode mn(cfg);
  auto w = mn.add_fast_path();
  mn.refill_now();
  EXPECT_GE(mn.stats().pool_bytes, 4 * ram - cfg.page_bytes);

  testing::Ras r = testing::Ras::create(mn);
  uint64_t va;
  const uint64_t size = (2 * ram) & ~(cfg.page_bytes - 1);
  ASSERT_EQ(mn.ralloc(r.pid, r.rw, size, 0, &va), Status::kOk) << "twice the host's RAM";

  // Touch 64 pages spread over the whole range, at both ends of each.
  const uint64_t pages = size / cfg.page_bytes;
  for (uint64_t i = 0; i < 64; ++i) {
    const uint64_t page_va = va + (i * (pages / 64)) * cfg.page_bytes;
    auto head = testing::pattern(64, static_cast<uint8_t>(i));
    ASSERT_EQ(testing::write_bytes(mn, *w, r.at(page_va), head), Status::kOk);
    ASSERT_EQ(testing::write_bytes(mn, *w, r.at(page_va + cfg.page_bytes - 64), head), Status::kOk);
  }
  for (uint64_t i = 0; i < 64; ++i) {
    const uint64_t page_va = va + (i * (pages / 64)) * cfg.page_bytes;
    std::vector<std::byte> got(64);
    ASSERT_EQ(testing::read_bytes(mn, *w, r.at(page_va + cfg.page_bytes - 64), got), Status::kOk);
    ASSERT_EQ(got, testing::pattern(64, static_cast<uint8_t>(i)));
  }
  EXPECT_EQ(mn.stats().pages_mapped, 64u);
  // Resident: the 64 touched pages and the pre-zeroed ones queued for faults, nowhere near the
  // pool's size.
  const uint64_t grown = rss_bytes() - std::min(rss_before, rss_bytes());
  const uint64_t bound = (64 + cfg.ring_depth() + 8) * cfg.page_bytes;
  EXPECT_LT(grown, bound) << "resident memory grew by " << grown << " bytes";
  RecordProperty("rss_growth_bytes", std::to_string(grown));
}

}  // namespace
}  // namespace clio::mn

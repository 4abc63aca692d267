// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "mn/memory_node.h"
#include "mn_test_util.h"

namespace clio::mn {
namespace {

using testing::all_zero;
using testing::pattern;
using testing::Ras;
using testing::read_bytes;
using testing::small_config;
using testing::write_bytes;

TEST(FaultTest, FirstTouchReadsZerosAndTakesOnePage) {
  MemoryNode mn(small_config());
  auto w = mn.add_fast_path();
  mn.refill_now();
  Ras r = Ras::create(mn);
  uint64_t va;
  ASSERT_EQ(mn.ralloc(r.pid, r.rw, 3 * 4096, 0, &va), Status::kOk);

  std::vector<std::byte> buf(4096, std::byte{0x55});
  ASSERT_EQ(read_bytes(mn, *w, r.at(va + 4096), buf), Status::kOk);
  EXPECT_TRUE(all_zero(buf));
  EXPECT_EQ(w->counters().faults, 1u);
  std::vector<std::byte> some(100);
  ASSERT_EQ(read_bytes(mn, *w, r.at(va + 4096 + 100), some), Status::kOk);
  EXPECT_EQ(w->counters().faults, 1u) << "second touch of the same page is no fault";

  const auto data = pattern(64, 1);
  ASSERT_EQ(write_bytes(mn, *w, r.at(va + 2 * 4096 + 8), data), Status::kOk);
  std::vector<std::byte> back(64);
  ASSERT_EQ(read_bytes(mn, *w, r.at(va + 2 * 4096 + 8), back), Status::kOk);
  EXPECT_EQ(back, data);
  EXPECT_EQ(w->counters().faults, 2u);
}

TEST(FaultTest, EmptyFreePageBufferAnswersRetryLater) {
  auto cfg = small_config();
  cfg.free_ring_depth = 4;
  MemoryNode mn(cfg);
  auto w = mn.add_fast_path();
  mn.set_refill_paused(true);
  mn.refill_now();  // exactly 4 pages queued, and no more until resumed
  Ras r = Ras::create(mn);
  uint64_t va;
  ASSERT_EQ(mn.ralloc(r.pid, r.rw, 8 * 4096, 0, &va), Status::kOk);

  std::vector<std::byte> one(1);
  {
    FastPath::Batch b(*w);
    for (int i = 0; i < 4; ++i) ASSERT_EQ(w->read(r.at(va + i * 4096), one), Status::kOk);
    // The fast path answers at once; it does not wait for the (paused) slow path.
    EXPECT_EQ(w->read(r.at(va + 4 * 4096), one), Status::kRetryLater);
    EXPECT_EQ(w->write(r.at(va + 5 * 4096), one), Status::kRetryLater);
    EXPECT_EQ(w->read(r.at(va), one), Status::kOk) << "backed pages are unaffected";
  }
  EXPECT_EQ(w->counters().retry_later, 2u);
  mn.set_refill_paused(false);
  mn.refill_now();
  FastPath::Batch b(*w);
  EXPECT_EQ(w->read(r.at(va + 4 * 4096), one), Status::kOk);
}

TEST(FaultTest, ExhaustedPoolAnswersNoMemory) {
  auto cfg = small_config(16 * 4096, 4096);  // 16 pages, 32 slots
  cfg.free_ring_depth = 64;
  MemoryNode mn(cfg);
  auto w = mn.add_fast_path();
  mn.refill_now();
  Ras r = Ras::create(mn);
  uint64_t va;
  ASSERT_EQ(mn.ralloc(r.pid, r.rw, 20 * 4096, 0, &va), Status::kOk) << "VA may exceed RAM";
  std::vector<std::byte> one(1);
  FastPath::Batch b(*w);
  for (int i = 0; i < 16; ++i) ASSERT_EQ(w->write(r.at(va + i * 4096), one), Status::kOk);
  EXPECT_EQ(w->write(r.at(va + 16 * 4096), one), Status::kNoMemory);
}

TEST(FaultTest, PageFreedByOnePidReadsZerosForTheNext) {
  // A pool of exactly 32 pages: the second address space must get the first one's pages back.
  auto cfg = small_config(32 * 4096, 4096);
  cfg.free_ring_depth = 8;
  MemoryNode mn(cfg);
  auto w = mn.add_fast_path();
  mn.refill_now();

  Ras a = Ras::create(mn);
  uint64_t va_a;
  ASSERT_EQ(mn.ralloc(a.pid, a.rw, 32 * 4096, 0, &va_a), Status::kOk);
  const auto secret = pattern(4096, 9);
  for (int i = 0; i < 32; ++i)
    ASSERT_EQ(write_bytes(mn, *w, a.at(va_a + i * 4096), secret), Status::kOk);
  EXPECT_EQ(mn.stats().pages_free, 0u);
  EXPECT_EQ(mn.stats().pages_mapped, 32u);
  ASSERT_EQ(mn.rfree(a.pid, a.rw, va_a), Status::kOk);
  EXPECT_EQ(mn.stats().pages_mapped, 0u);
  mn.refill_now();  // settles the rings, so the two figures below are read at rest
  EXPECT_EQ(mn.stats().pages_free + mn.stats().pages_queued, 32u);

  Ras b = Ras::create(mn);
  uint64_t va_b;
  ASSERT_EQ(mn.ralloc(b.pid, b.rw, 32 * 4096, 0, &va_b), Status::kOk);
  std::vector<std::byte> buf(4096);
  for (int i = 0; i < 32; ++i) {
    ASSERT_EQ(read_bytes(mn, *w, b.at(va_b + i * 4096), buf), Status::kOk);
    ASSERT_TRUE(all_zero(buf)) << "page " << i << " leaked data from another address space";
  }
}

TEST(FaultTest, DestroyedAddressSpaceReturnsItsPages) {
  auto cfg = small_config(64 * 4096, 4096);
  MemoryNode mn(cfg);
  auto w = mn.add_fast_path();
  mn.refill_now();
  Ras a = Ras::create(mn);
  uint64_t va;
  ASSERT_EQ(mn.ralloc(a.pid, a.rw, 10 * 4096, 0, &va), Status::kOk);
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(write_bytes(mn, *w, a.at(va + i * 4096), pattern(8, 1)), Status::kOk);
  const uint64_t mapped = mn.stats().pages_mapped;
  EXPECT_EQ(mapped, 10u);
  ASSERT_EQ(mn.destroy_ras(a.pid, a.rw), Status::kOk);
  EXPECT_EQ(mn.stats().pages_mapped, 0u);
  EXPECT_EQ(mn.stats().pt_slots_used, 0u);
  EXPECT_EQ(mn.stats().ras_live, 0u);
}

}  // namespace
}  // namespace clio::mn

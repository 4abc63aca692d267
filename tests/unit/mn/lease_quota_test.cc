// SPDX-License-Identifier: Apache-2.0
// Address spaces as a shared resource: quotas per address space (allocated bytes, page-table
// slots) and per MN (address spaces), leases that reclaim what crashed clients leave behind,
// and rallocs that do bounded work in steps so that nobody waits behind a huge one.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "common/clock.h"
#include "mn/memory_node.h"
#include "mn_test_util.h"

namespace clio::mn {
namespace {

using testing::Ras;
using testing::small_config;
using testing::write_bytes;

constexpr uint64_t kPage = 4096;

/// Polls `cond` (the slow path's doing) for up to 10 s.
template <typename Cond>
bool eventually(Cond&& cond) {
  const uint64_t deadline = now_ns() + 10'000'000'000ull;
  while (!cond()) {
    if (now_ns() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(QuotaTest, MemoryQuotaRefusesWithItsOwnStatusAndFreesMakeRoom) {
  auto cfg = small_config();
  cfg.ras_max_bytes = 64 * kPage;
  MemoryNode mn(cfg);
  Ras a = Ras::create(mn);
  Ras b = Ras::create(mn);
  uint64_t va1, va2, va3;
  ASSERT_EQ(mn.ralloc(a.pid, a.rw, 40 * kPage, 0, &va1), Status::kOk);
  EXPECT_EQ(mn.ralloc(a.pid, a.rw, 25 * kPage, 0, &va2), Status::kQuotaMemory);
  EXPECT_EQ(mn.ralloc(a.pid, a.rw, 24 * kPage - 1, 0, &va2), Status::kOk) << "rounds to 24 pages";
  EXPECT_EQ(mn.ralloc(b.pid, b.rw, 64 * kPage, 0, &va3), Status::kOk) << "quotas are per space";
  EXPECT_EQ(mn.stats().quota_refusals, 1u);
  ASSERT_EQ(mn.rfree(a.pid, a.rw, va1), Status::kOk);
  EXPECT_EQ(mn.ralloc(a.pid, a.rw, 40 * kPage, 0, &va1), Status::kOk) << "rfree gave it back";
}

TEST(QuotaTest, SlotQuotaRefusesWithItsOwnStatus) {
  auto cfg = small_config();
  cfg.ras_max_slots = 16;
  MemoryNode mn(cfg);
  Ras a = Ras::create(mn);
  uint64_t va;
  ASSERT_EQ(mn.ralloc(a.pid, a.rw, 16 * kPage, 0, &va), Status::kOk);
  EXPECT_EQ(mn.ralloc(a.pid, a.rw, 1, 0, &va), Status::kQuotaSlots);
  EXPECT_EQ(mn.stats().pt_slots_used, 16u) << "a refusal reserves nothing";
}

TEST(QuotaTest, AddressSpacesPerMnAreBounded) {
  auto cfg = small_config();
  cfg.max_ras = 3;  // pids 1 and 2
  MemoryNode mn(cfg);
  Ras a = Ras::create(mn);
  Ras b = Ras::create(mn);
  EXPECT_EQ(mn.create_ras().status, Status::kTooManyRas);
  ASSERT_EQ(mn.destroy_ras(a.pid, a.rw), Status::kOk);
  EXPECT_EQ(mn.create_ras().status, Status::kOk) << "a destroyed space's pid is reused";
  (void)b;
}

TEST(LeaseTest, UnrenewedAddressSpaceExpiresAndItsMemoryIsReclaimed) {
  auto cfg = small_config();
  cfg.lease_ms = 200;
  MemoryNode mn(cfg);
  auto w = mn.add_fast_path();
  mn.refill_now();
  Ras gone = Ras::create(mn);
  Ras kept = Ras::create(mn);
  uint64_t va_gone, va_kept;
  ASSERT_EQ(mn.ralloc(gone.pid, gone.rw, 4 * kPage, 0, &va_gone), Status::kOk);
  ASSERT_EQ(mn.ralloc(kept.pid, kept.rw, 4 * kPage, 0, &va_kept), Status::kOk);
  const std::vector<std::byte> data(kPage, std::byte{7});
  ASSERT_EQ(write_bytes(mn, *w, gone.at(va_gone), data), Status::kOk);
  ASSERT_EQ(write_bytes(mn, *w, kept.at(va_kept), data), Status::kOk);
  EXPECT_FALSE(mn.renew(kept.pid, kept.ro)) << "only the owner's key renews";
  EXPECT_FALSE(mn.renew(kept.pid, kept.rw + 1));
  EXPECT_FALSE(mn.renew(0, kept.rw));
  EXPECT_FALSE(mn.renew(1u << 20, kept.rw)) << "a pid past max_ras";

  // `kept` is renewed (as CLib's keep-alive does) far more often than its lease; `gone` never.
  ASSERT_TRUE(eventually([&] {
    EXPECT_TRUE(mn.renew(kept.pid, kept.rw));
    return mn.stats().ras_expired == 1;
  })) << "the unrenewed address space never expired";
  EXPECT_FALSE(mn.renew(gone.pid, gone.rw));
  uint64_t va;
  EXPECT_EQ(mn.ralloc(gone.pid, gone.rw, kPage, 0, &va), Status::kNoSuchRas);
  EXPECT_EQ(mn.ralloc(kept.pid, kept.rw, kPage, 0, &va), Status::kOk) << "renewed: alive";
  const MnStats s = mn.stats();
  EXPECT_EQ(s.ras_live, 1u);
  EXPECT_EQ(s.pages_mapped, 1u) << "the expired space's page went back to the pool";
  EXPECT_EQ(s.pt_slots_used, 5u) << "and its slots to the page table";
  std::vector<std::byte> back(kPage);
  EXPECT_EQ(testing::read_bytes(mn, *w, kept.at(va_kept), back), Status::kOk);
  EXPECT_EQ(back, data);
}

TEST(LeaseTest, ControlRequestsRenewTheLease) {
  auto cfg = small_config();
  cfg.lease_ms = 150;
  MemoryNode mn(cfg);
  Ras a = Ras::create(mn);
  Ras idle = Ras::create(mn);
  uint64_t va;
  ASSERT_TRUE(eventually([&] {
    EXPECT_EQ(mn.ralloc(a.pid, a.rw, kPage, 0, &va), Status::kOk);
    EXPECT_EQ(mn.rfree(a.pid, a.rw, va), Status::kOk);
    return mn.stats().ras_expired == 1;
  }));
  EXPECT_EQ(mn.ralloc(idle.pid, idle.rw, kPage, 0, &va), Status::kNoSuchRas);
  EXPECT_EQ(mn.ralloc(a.pid, a.rw, kPage, 0, &va), Status::kOk);
}

TEST(LeaseTest, ZeroMeansNever) {
  auto cfg = small_config();
  cfg.lease_ms = 0;
  MemoryNode mn(cfg);
  Ras a = Ras::create(mn);
  // The slow path scans leases at most every lease_ms / 8; give it many chances to be wrong.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  uint64_t va;
  EXPECT_EQ(mn.ralloc(a.pid, a.rw, kPage, 0, &va), Status::kOk);
  EXPECT_EQ(mn.stats().ras_expired, 0u);
}

/// A node (4 KiB pages) whose slow path works in steps of `step` slot operations, a worker with
/// a 4-page free-page ring, and another client's 64 pages, allocated and not yet touched.
struct SteppedNode {
  static MnConfig config(uint64_t pool, uint32_t step) {
    MnConfig c = small_config(pool, kPage);
    c.ralloc_step_slots = step;
    c.free_ring_depth = 4;
    return c;
  }
  SteppedNode(uint64_t pool, uint32_t step) : mn(config(pool, step)), w(mn.add_fast_path()) {
    mn.refill_now();
    other = Ras::create(mn);
    EXPECT_EQ(mn.ralloc(other.pid, other.rw, 64 * kPage, 0, &other_va), Status::kOk);
  }
  MemoryNode mn;
  std::unique_ptr<FastPath> w;  // destroyed before mn
  Ras other;
  uint64_t other_va = 0;
};

// One ralloc that can never be placed (every page-table slot, which an overflow-free table
// never fits) is worked on in small steps; while it runs, other clients open address spaces and
// fault in pages (the free-page refill runs between its steps). Other rallocs wait for it (one
// ralloc at a time), and it gives back every slot it tried.
TEST(RallocStepsTest, HugeRallocDelaysNoOpenOrFirstTouchAndGivesEverySlotBack) {
  SteppedNode n(uint64_t{256} << 20, 256);  // 64 Ki pages, 128 Ki slots
  MemoryNode& mn = n.mn;
  auto& w = n.w;
  const Ras& other = n.other;
  const uint64_t other_va = n.other_va;
  Ras big = Ras::create(mn);
  const uint64_t free_slots = mn.stats().pt_slots - 64;
  std::atomic<bool> big_done{false};
  Status big_status = Status::kOk;
  std::thread t([&] {
    uint64_t va;
    big_status = mn.ralloc(big.pid, big.rw, free_slots * kPage, 0, &va);
    big_done.store(true);
  });
  ASSERT_TRUE(eventually([&] { return mn.stats().ralloc_steps > 0; }));
  const std::vector<std::byte> data(64, std::byte{1});
  for (int i = 0; i < 8; ++i) {
    Ras opened = Ras::create(mn);
    EXPECT_NE(opened.pid, 0u);
    for (int p = 0; p < 8; ++p)  // 64 first touches through a 4-page free-page ring
      ASSERT_EQ(write_bytes(mn, *w, other.at(other_va + (8 * i + p) * kPage), data), Status::kOk);
  }
  EXPECT_FALSE(big_done.load()) << "opens and first touches waited for the huge ralloc";
  t.join();
  EXPECT_EQ(big_status, Status::kNoMemory);
  const MnStats s = mn.stats();
  EXPECT_EQ(s.pt_slots_used, 64u) << "the failed candidates' slots all went back";
  EXPECT_GT(s.ralloc_steps, 8u);
  EXPECT_EQ(s.fast.faults, 64u);
  uint64_t va;
  EXPECT_EQ(mn.ralloc(big.pid, big.rw, 8 * kPage, 0, &va), Status::kOk);
}

// Control requests of the same address space keep their order around a ralloc in progress.
TEST(RallocStepsTest, SameSpaceRequestsWaitForTheRallocInProgress) {
  auto cfg = small_config(uint64_t{64} << 20, kPage);  // 16 Ki pages
  cfg.ralloc_step_slots = 64;
  MemoryNode mn(cfg);
  Ras a = Ras::create(mn);
  uint64_t big_va = 0;
  std::thread t([&] { EXPECT_EQ(mn.ralloc(a.pid, a.rw, 8192 * kPage, 0, &big_va), Status::kOk); });
  ASSERT_TRUE(eventually([&] { return mn.stats().ralloc_steps > 0; }));
  // Arrives while the ralloc is in steps: it runs after it, so it finds the allocation.
  const Status destroyed = mn.destroy_ras(a.pid, a.rw);
  t.join();
  EXPECT_EQ(destroyed, Status::kOk);
  EXPECT_NE(big_va, 0u);
  EXPECT_EQ(mn.stats().pt_slots_used, 0u) << "destroyed after the allocation, not during it";
}

// Freeing or destroying a huge allocation is done in steps too.
TEST(RallocStepsTest, HugeDestroyAndRfreeDelayNoOpenOrFirstTouch) {
  SteppedNode n(uint64_t{1} << 30, 4);  // 256 Ki pages; 25,000 steps per unmap, each with its
                                        // grace period
  MemoryNode& mn = n.mn;
  auto& w = n.w;
  const Ras& other = n.other;
  const uint64_t other_va = n.other_va;
  Ras big = Ras::create(mn);
  uint64_t big_va, big_va2;
  ASSERT_EQ(mn.ralloc(big.pid, big.rw, 100000 * kPage, 0, &big_va), Status::kOk);
  ASSERT_EQ(mn.ralloc(big.pid, big.rw, 100000 * kPage, 0, &big_va2), Status::kOk);
  const std::vector<std::byte> data(64, std::byte{1});
  ASSERT_EQ(write_bytes(mn, *w, big.at(big_va + 5 * kPage), data), Status::kOk);

  for (const bool destroy : {false, true}) {
    const uint64_t steps = mn.stats().ralloc_steps;
    std::atomic<bool> done{false};
    Status st = Status::kBadArgument;
    std::thread t([&] {
      st = destroy ? mn.destroy_ras(big.pid, big.rw) : mn.rfree(big.pid, big.rw, big_va);
      done.store(true);
    });
    ASSERT_TRUE(eventually([&] { return mn.stats().ralloc_steps > steps; }));
    for (int p = 0; p < 4; ++p) {  // the free-page ring holds 4: refilled between steps
      const int page = (destroy ? 4 : 0) + p;
      ASSERT_EQ(write_bytes(mn, *w, other.at(other_va + page * kPage), data), Status::kOk);
    }
    EXPECT_NE(Ras::create(mn).pid, 0u);
    EXPECT_FALSE(done.load()) << "first touches and opens waited for the whole unmap";
    t.join();
    EXPECT_EQ(st, Status::kOk);
    EXPECT_GE(mn.stats().ralloc_steps, steps + 100000 / 4 - 1) << "it gave way at every step";
    EXPECT_EQ(mn.stats().pt_slots_used, 64u + (destroy ? 0 : 100000u));
  }
  const MnStats s = mn.stats();
  EXPECT_EQ(s.rfrees, 1u);
  EXPECT_EQ(s.pages_mapped, 8u) << "the big space's touched page went back";
  uint64_t va;
  EXPECT_EQ(mn.ralloc(big.pid, big.rw, kPage, 0, &va), Status::kNoSuchRas);
}

}  // namespace
}  // namespace clio::mn

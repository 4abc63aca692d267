// SPDX-License-Identifier: Apache-2.0
// AddressSpaces on its own: no MemoryNode, no threads.
#include "mn/address_spaces.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

namespace clio::mn {
namespace {

constexpr int kShift = 12;  // 4 KiB pages
constexpr uint64_t kPage = uint64_t{1} << kShift;

struct Fixture {
  explicit Fixture(uint32_t max_ras = 8, uint64_t quota_pages = UINT64_MAX,
                   uint64_t quota_slots = UINT64_MAX)
      : table(4096), spaces(max_ras, kShift, table, /*seed=*/42, quota_pages, quota_slots) {}
  /// Creates an address space; returns its pid (keys in rw/ro).
  uint32_t make(uint64_t now_ms = 0) {
    uint32_t pid = 0;
    EXPECT_EQ(spaces.create(now_ms, &pid, &rw, &ro), Status::kOk);
    return pid;
  }
  PageTable table;
  AddressSpaces spaces;
  uint64_t rw = 0, ro = 0;
};

TEST(AddressSpacesTest, CreateGivesDistinctNonZeroKeysThatFindChecks) {
  Fixture f;
  const uint32_t pid = f.make();
  EXPECT_NE(pid, 0u);
  EXPECT_NE(f.rw, 0u);
  EXPECT_NE(f.ro, 0u);
  EXPECT_NE(f.rw, f.ro);
  EXPECT_EQ(f.spaces.key_rw(pid), f.rw) << "the fast path's key table is published";
  EXPECT_EQ(f.spaces.key_ro(pid), f.ro);
  EXPECT_NE(f.spaces.find(pid, f.rw), nullptr);
  EXPECT_EQ(f.spaces.find(pid, f.ro), nullptr) << "control operations need the read-write key";
  EXPECT_EQ(f.spaces.find(pid, 0), nullptr);
  EXPECT_EQ(f.spaces.find(pid, f.rw + 1), nullptr);
  EXPECT_EQ(f.spaces.find(pid + 1, f.rw), nullptr) << "another pid is not live";
  EXPECT_EQ(f.spaces.live(), 1u);
}

TEST(AddressSpacesTest, PidsRunOutThenComeBackOldestFirst) {
  Fixture f(/*max_ras=*/4);  // pids 1..3
  std::vector<uint32_t> pids;
  for (int i = 0; i < 3; ++i) pids.push_back(f.make());
  EXPECT_EQ(pids, (std::vector<uint32_t>{1, 2, 3}));
  uint32_t pid;
  uint64_t rw, ro;
  EXPECT_EQ(f.spaces.create(0, &pid, &rw, &ro), Status::kTooManyRas);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  f.spaces.revoke(3, &ranges);
  f.spaces.release(3);
  f.spaces.revoke(2, &ranges);
  f.spaces.release(2);
  EXPECT_EQ(f.make(), 3u) << "the pid freed first is reused first";
  EXPECT_EQ(f.make(), 2u);
}

TEST(AddressSpacesTest, RevokeClearsKeysAndHandsBackEveryRange) {
  Fixture f;
  const uint32_t pid = f.make();
  const uint64_t rw = f.rw;
  AddressSpaces::Ras* r = f.spaces.find(pid, rw);
  ASSERT_NE(r, nullptr);
  f.spaces.add(*r, kVaBase, 3, true);
  f.spaces.add(*r, kVaBase + 16 * kPage, 2, false);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  f.spaces.revoke(pid, &ranges);
  EXPECT_EQ(f.spaces.key_rw(pid), 0u);
  EXPECT_EQ(f.spaces.key_ro(pid), 0u);
  EXPECT_FALSE(f.spaces.renew(pid, rw, 1)) << "a revoked key renews nothing";
  const std::vector<std::pair<uint64_t, uint64_t>> want{{kVaBase >> kShift, 3},
                                                        {(kVaBase >> kShift) + 16, 2}};
  EXPECT_EQ(ranges, want);
  EXPECT_TRUE(r->vmas.empty());
  EXPECT_EQ(r->pages, 0u);
  f.spaces.release(pid);
  EXPECT_EQ(f.spaces.find(pid, rw), nullptr);
  EXPECT_EQ(f.spaces.live(), 0u);
}

TEST(AddressSpacesTest, OverlapsSeesEveryByteOfAnAllocation) {
  Fixture f;
  const uint32_t pid = f.make();
  AddressSpaces::Ras& r = *f.spaces.find(pid, f.rw);
  const uint64_t va = kVaBase + 10 * kPage;
  f.spaces.add(r, va, 4, true);  // [va, va + 4 pages)
  EXPECT_TRUE(f.spaces.overlaps(r, va, 1));
  EXPECT_TRUE(f.spaces.overlaps(r, va + 4 * kPage - 1, 1));
  EXPECT_TRUE(f.spaces.overlaps(r, va - kPage, kPage + 1)) << "reaches into its first byte";
  EXPECT_TRUE(f.spaces.overlaps(r, va - kPage, 10 * kPage)) << "covers it whole";
  EXPECT_FALSE(f.spaces.overlaps(r, va - kPage, kPage)) << "ends right where it starts";
  EXPECT_FALSE(f.spaces.overlaps(r, va + 4 * kPage, kPage)) << "starts right where it ends";
}

TEST(AddressSpacesTest, FixedVaIsCheckedForAlignmentBoundsAndOverlap) {
  Fixture f;
  const uint32_t pid = f.make();
  AddressSpaces::Ras& r = *f.spaces.find(pid, f.rw);
  f.spaces.add(r, kVaBase, 2, true);
  EXPECT_EQ(f.spaces.check_fixed(r, kVaBase + 2 * kPage, kPage), Status::kOk);
  EXPECT_EQ(f.spaces.check_fixed(r, kVaBase + kPage, kPage), Status::kVaInUse);
  EXPECT_EQ(f.spaces.check_fixed(r, 0, kPage), Status::kBadArgument);
  EXPECT_EQ(f.spaces.check_fixed(r, kVaBase + 2 * kPage + 1, kPage), Status::kBadArgument);
  EXPECT_EQ(f.spaces.check_fixed(r, kVaLimit, kPage), Status::kBadArgument);
  EXPECT_EQ(f.spaces.check_fixed(r, kVaLimit - kPage, kPage), Status::kOk);
  EXPECT_EQ(f.spaces.check_fixed(r, kVaLimit - kPage, 2 * kPage), Status::kBadArgument)
      << "a range may not reach past kVaLimit";
}

TEST(AddressSpacesTest, QuotasCountPagesOfEveryAllocation) {
  Fixture f(8, /*quota_pages=*/10, /*quota_slots=*/6);
  const uint32_t pid = f.make();
  AddressSpaces::Ras& r = *f.spaces.find(pid, f.rw);
  EXPECT_EQ(f.spaces.check_quota(r, 6), Status::kOk);
  EXPECT_EQ(f.spaces.check_quota(r, 7), Status::kQuotaSlots);
  EXPECT_EQ(f.spaces.check_quota(r, 11), Status::kQuotaMemory) << "memory is checked first";
  f.spaces.add(r, kVaBase, 4, true);
  EXPECT_EQ(f.spaces.check_quota(r, 2), Status::kOk);
  EXPECT_EQ(f.spaces.check_quota(r, 3), Status::kQuotaSlots);
  uint64_t pages = 0;
  ASSERT_EQ(f.spaces.remove(r, kVaBase, &pages), Status::kOk);
  EXPECT_EQ(pages, 4u);
  EXPECT_EQ(f.spaces.check_quota(r, 6), Status::kOk) << "a freed range no longer counts";
}

TEST(AddressSpacesTest, RemoveAndFindVmaTellMisuseFromUnmapped) {
  Fixture f;
  const uint32_t pid = f.make();
  AddressSpaces::Ras& r = *f.spaces.find(pid, f.rw);
  f.spaces.add(r, kVaBase, 4, false);
  Status why = Status::kOk;
  EXPECT_EQ(f.spaces.find_vma(r, kVaBase + kPage, &why), nullptr);
  EXPECT_EQ(why, Status::kBadArgument) << "inside an allocation, not at its start";
  EXPECT_EQ(f.spaces.find_vma(r, kVaBase + 8 * kPage, &why), nullptr);
  EXPECT_EQ(why, Status::kUnmapped);
  const Vma* vma = f.spaces.find_vma(r, kVaBase, &why);
  ASSERT_NE(vma, nullptr);
  EXPECT_EQ(vma->pages, 4u);
  EXPECT_FALSE(vma->writable);
  uint64_t pages = 0;
  EXPECT_EQ(f.spaces.remove(r, kVaBase + kPage, &pages), Status::kBadArgument);
  EXPECT_EQ(f.spaces.remove(r, kVaBase, &pages), Status::kOk);
  EXPECT_EQ(f.spaces.remove(r, kVaBase, &pages), Status::kUnmapped) << "already released";
  EXPECT_FALSE(f.spaces.overlaps(r, kVaBase, 4 * kPage)) << "the range is free again";
  EXPECT_EQ(r.pages, 0u);
}

TEST(AddressSpacesTest, FirstChoiceFollowsThePreviousThenFillsTheLowestGap) {
  Fixture f;
  const uint32_t pid = f.make();
  AddressSpaces::Ras& r = *f.spaces.find(pid, f.rw);
  uint64_t va = 0;
  ASSERT_TRUE(f.spaces.candidate(r, pid, 2 * kPage, 0, &va));
  EXPECT_EQ(va, kVaBase);
  f.spaces.add(r, va, 2, true);
  ASSERT_TRUE(f.spaces.candidate(r, pid, kPage, 0, &va));
  EXPECT_EQ(va, kVaBase + 2 * kPage) << "right after the previous allocation";
  // A hole at the bottom, and next_va pointing at an allocation: the lowest gap that fits.
  f.spaces.add(r, kVaBase + 5 * kPage, 1, true);
  f.spaces.add(r, kVaBase + 10 * kPage, 1, true);
  r.next_va = kVaBase + 5 * kPage;
  uint64_t pages = 0;
  ASSERT_EQ(f.spaces.remove(r, kVaBase, &pages), Status::kOk);
  ASSERT_TRUE(f.spaces.candidate(r, pid, 3 * kPage, 0, &va));
  EXPECT_EQ(va, kVaBase) << "the freed range at the bottom";
  ASSERT_TRUE(f.spaces.candidate(r, pid, 6 * kPage, 0, &va));
  EXPECT_EQ(va, kVaBase + 11 * kPage) << "no gap below is wide enough: after the last one";
}

TEST(AddressSpacesTest, EveryCandidateIsInBoundsAndFree) {
  Fixture f;
  const uint32_t pid = f.make();
  AddressSpaces::Ras& r = *f.spaces.find(pid, f.rw);
  const uint64_t len = 8 * kPage;
  int found = 0;
  for (uint32_t attempt = 0; attempt < 64; ++attempt) {
    uint64_t va = 0;
    if (!f.spaces.candidate(r, pid, len, attempt, &va)) continue;
    ++found;
    EXPECT_GE(va, kVaBase) << "attempt " << attempt;
    EXPECT_LE(va, kVaLimit - len) << "attempt " << attempt;
    EXPECT_EQ(va % kPage, 0u) << "attempt " << attempt;
    EXPECT_FALSE(f.spaces.overlaps(r, va, len)) << "attempt " << attempt;
    f.spaces.add(r, va, len / kPage, true);
  }
  EXPECT_GE(found, 60) << "an empty table and a nearly empty space leave room almost anywhere";
  EXPECT_EQ(r.vmas.size(), static_cast<size_t>(found));
  EXPECT_EQ(r.pages, found * (len / kPage));
}

TEST(AddressSpacesTest, SecondChoiceLandsOnBucketsWithRoom) {
  Fixture f;
  const uint32_t pid = f.make();
  AddressSpaces::Ras& r = *f.spaces.find(pid, f.rw);
  const uint64_t pages = 4;
  uint64_t va = 0;
  ASSERT_TRUE(f.spaces.candidate(r, pid, pages * kPage, 1, &va));
  EXPECT_GE(va, kVaBase);
  // Its pages fall into consecutive buckets (one window), each with a free slot.
  const uint64_t first = f.table.bucket_of(Pte::make_tag(pid, va >> kShift));
  for (uint64_t i = 0; i < pages; ++i) {
    const uint64_t tag = Pte::make_tag(pid, (va >> kShift) + i);
    EXPECT_EQ(f.table.bucket_of(tag), (first + i) % f.table.num_buckets());
    EXPECT_GT(f.table.free_slots(tag), 0);
  }
  // A range wider than the table has no window.
  EXPECT_FALSE(f.spaces.candidate(r, pid, (f.table.num_buckets() + 1) * kPage, 1, &va));
}

TEST(AddressSpacesTest, LeasesExpireUnlessRenewedWithTheReadWriteKey) {
  Fixture f;
  const uint32_t a = f.make(/*now_ms=*/1000);
  const uint64_t a_rw = f.rw, a_ro = f.ro;
  const uint32_t b = f.make(/*now_ms=*/1000);
  EXPECT_FALSE(f.spaces.renew(a, a_ro, 5000)) << "the read-only key renews nothing";
  EXPECT_FALSE(f.spaces.renew(0, a_rw, 5000));
  EXPECT_FALSE(f.spaces.renew(8, a_rw, 5000)) << "pid out of range";
  EXPECT_TRUE(f.spaces.renew(a, a_rw, 5000));
  std::vector<uint32_t> out;
  f.spaces.collect_expired(/*now_ms=*/5500, /*lease_ms=*/1000, &out);
  EXPECT_EQ(out, std::vector<uint32_t>{b});
  EXPECT_TRUE(f.spaces.expired(b, 5500, 1000));
  EXPECT_FALSE(f.spaces.expired(a, 5500, 1000));
  EXPECT_FALSE(f.spaces.expired(b, 2000, 1000)) << "exactly lease_ms is not yet expired";
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  f.spaces.revoke(b, &ranges);
  f.spaces.release(b);
  EXPECT_FALSE(f.spaces.expired(b, 5500, 1000)) << "a released pid is not live";
}

}  // namespace
}  // namespace clio::mn

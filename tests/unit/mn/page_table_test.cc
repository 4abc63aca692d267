// SPDX-License-Identifier: Apache-2.0
#include "mn/page_table.h"

#include <gtest/gtest.h>

#include <unordered_map>
#include <vector>

#include "common/rng.h"
#include "mn/memory_node.h"
#include "mn_test_util.h"

namespace clio::mn {
namespace {

using testing::Ras;
using testing::small_config;

TEST(PageTableTest, ReservePublishFindRetireClear) {
  PageTable pt(1024);
  EXPECT_EQ(pt.num_slots() % kPtesPerBucket, 0u);
  EXPECT_GE(pt.num_slots(), 1024u);
  const uint64_t tag = Pte::make_tag(5, 1234);
  Pte* p = pt.reserve(tag, Pte::kAllocated | Pte::kWritable);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(pt.find(tag), nullptr) << "a pending slot is invisible to lookups";
  pt.publish(p, tag);
  EXPECT_EQ(pt.find(tag), p);
  EXPECT_EQ(pt.used_slots(), 1u);
  const uint64_t old = pt.retire(p);
  EXPECT_EQ(old, Pte::kAllocated | Pte::kWritable);
  EXPECT_EQ(pt.find(tag), nullptr);
  EXPECT_EQ(pt.used_slots(), 1u) << "a tombstone still occupies its slot";
  pt.clear(p);
  EXPECT_EQ(pt.used_slots(), 0u);
}

TEST(PageTableTest, BucketHoldsExactlyItsSlots) {
  PageTable pt(64);
  // Collect tags that share one bucket.
  const uint64_t target = pt.bucket_of(Pte::make_tag(1, 0));
  std::vector<uint64_t> same;
  for (uint64_t vpn = 0; same.size() < kPtesPerBucket + 1; ++vpn)
    if (pt.bucket_of(Pte::make_tag(1, vpn)) == target) same.push_back(Pte::make_tag(1, vpn));
  for (int i = 0; i < kPtesPerBucket; ++i) {
    Pte* p = pt.reserve(same[i], Pte::kAllocated);
    ASSERT_NE(p, nullptr);
    pt.publish(p, same[i]);
  }
  EXPECT_EQ(pt.free_slots(same[0]), 0);
  EXPECT_EQ(pt.reserve(same[kPtesPerBucket], Pte::kAllocated), nullptr) << "no overflow, ever";
  for (int i = 0; i < kPtesPerBucket; ++i) EXPECT_NE(pt.find(same[i]), nullptr);
}

// Random ralloc/rfree churn over thousands of address spaces, checked after every operation
// against an unordered_map oracle of (pid, vpn) -> writable.
TEST(PageTableTest, ChurnAgainstOracleNeverOverflows) {
  auto cfg = small_config(uint64_t{32} << 20, 4096);  // 8192 pages, 16384 slots
  MemoryNode mn(cfg);
  const PageTable& pt = mn.page_table();
  Rng rng(7);

  constexpr int kPids = 3000;
  std::vector<Ras> ras;
  for (int i = 0; i < kPids; ++i) ras.push_back(Ras::create(mn));

  struct Alloc {
    int ras;
    uint64_t va;
    uint64_t pages;
    bool writable;
  };
  std::vector<Alloc> live;
  std::unordered_map<uint64_t, bool> oracle;  // tag -> writable
  uint64_t refused = 0;

  auto check_alloc = [&](const Alloc& a, bool present) {
    for (uint64_t i = 0; i < a.pages; ++i) {
      const uint64_t tag = Pte::make_tag(ras[a.ras].pid, (a.va >> 12) + i);
      const Pte* p = pt.find(tag);
      if (!present) {
        ASSERT_EQ(p, nullptr);
        continue;
      }
      ASSERT_NE(p, nullptr) << "allocated page without a slot";
      const uint64_t w = p->load_word();
      ASSERT_TRUE(w & Pte::kAllocated);
      ASSERT_EQ(static_cast<bool>(w & Pte::kWritable), oracle.at(tag));
    }
  };

  for (int step = 0; step < 20000; ++step) {
    const bool do_alloc = live.empty() || rng.below(100) < 55;
    if (do_alloc) {
      Alloc a{static_cast<int>(rng.below(kPids)), 0, 1 + rng.below(8), rng.chance(0.8)};
      const Status s = mn.ralloc(ras[a.ras].pid, ras[a.ras].rw, a.pages * 4096,
                                 a.writable ? 0 : wire::kFlagReadOnly, &a.va);
      if (s == Status::kNoMemory) {
        // Refusal is only acceptable when the table is genuinely crowded.
        ASSERT_GT(pt.used_slots() + a.pages, pt.num_slots() / 2) << "refused at low fill";
        ++refused;
        continue;
      }
      ASSERT_EQ(s, Status::kOk);
      for (uint64_t i = 0; i < a.pages; ++i) {
        const uint64_t tag = Pte::make_tag(ras[a.ras].pid, (a.va >> 12) + i);
        ASSERT_TRUE(oracle.emplace(tag, a.writable).second) << "page handed out twice";
      }
      live.push_back(a);
      check_alloc(a, true);
    } else {
      const size_t k = rng.below(live.size());
      const Alloc a = live[k];
      live[k] = live.back();
      live.pop_back();
      ASSERT_EQ(mn.rfree(ras[a.ras].pid, ras[a.ras].rw, a.va), Status::kOk);
      for (uint64_t i = 0; i < a.pages; ++i)
        oracle.erase(Pte::make_tag(ras[a.ras].pid, (a.va >> 12) + i));
      check_alloc(a, false);
    }
    ASSERT_EQ(pt.used_slots(), oracle.size());
  }
  // Every live page, once more, and a sample of never-allocated neighbours.
  for (const Alloc& a : live) check_alloc(a, true);
  for (const Alloc& a : live) {
    const uint64_t after = Pte::make_tag(ras[a.ras].pid, (a.va >> 12) + a.pages);
    if (!oracle.count(after)) {
      EXPECT_EQ(pt.find(after), nullptr);
    }
  }
  const MnStats st = mn.stats();
  EXPECT_GT(st.ralloc_retries, 0u) << "churn this dense should hit full buckets";
  RecordProperty("ralloc_retries", static_cast<int>(st.ralloc_retries));
  RecordProperty("refused", static_cast<int>(refused));
}

// A full bucket makes ralloc choose another range, and a fixed-VA ralloc there is refused.
TEST(PageTableTest, FullBucketMakesRallocPickAnotherRange) {
  MemoryNode mn(small_config());
  const PageTable& pt = mn.page_table();
  Ras victim = Ras::create(mn);
  // The first choice for a fresh address space is kVaBase.
  const uint64_t wanted_bucket = pt.bucket_of(Pte::make_tag(victim.pid, kVaBase >> 12));

  // Fill that bucket with fixed-VA pages of other address spaces.
  int filled = 0;
  for (int k = 0; filled < kPtesPerBucket; ++k) {
    Ras other = Ras::create(mn);
    for (uint64_t vpn = kVaBase >> 12; vpn < (kVaBase >> 12) + 200000; ++vpn) {
      if (pt.bucket_of(Pte::make_tag(other.pid, vpn)) != wanted_bucket) continue;
      uint64_t va;
      ASSERT_EQ(mn.ralloc(other.pid, other.rw, 4096, wire::kFlagFixedVa, &va, vpn << 12),
                Status::kOk);
      ++filled;
      break;
    }
    ASSERT_LT(k, 1000);
  }
  ASSERT_EQ(pt.free_slots(Pte::make_tag(victim.pid, kVaBase >> 12)), 0);

  const uint64_t retries_before = mn.stats().ralloc_retries;
  uint64_t got;
  EXPECT_EQ(mn.ralloc(victim.pid, victim.rw, 4096, wire::kFlagFixedVa, &got, kVaBase),
            Status::kFixedVaUnavailable);
  ASSERT_EQ(mn.ralloc(victim.pid, victim.rw, 4096, 0, &got), Status::kOk);
  EXPECT_NE(got, kVaBase);
  EXPECT_GT(mn.stats().ralloc_retries, retries_before);
  EXPECT_NE(pt.find(Pte::make_tag(victim.pid, got >> 12)), nullptr);
}

TEST(PageTableTest, SizeIsASmallShareOfThePool) {
  auto cfg = small_config(uint64_t{1} << 30, uint64_t{4} << 20);
  MemoryNode mn(cfg);
  const MnStats s = mn.stats();
  EXPECT_EQ(s.pt_slots, 512u) << "256 pages x 2 slots";
  EXPECT_EQ(s.pt_bytes, 512u * sizeof(Pte));
  EXPECT_LT(s.pt_share, 0.004) << "the paper: about 0.4% at 4 MiB pages, an upper bound";
}

}  // namespace
}  // namespace clio::mn

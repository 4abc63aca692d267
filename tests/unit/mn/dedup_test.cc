// SPDX-License-Identifier: Apache-2.0
#include "mn/dedup.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "common/rng.h"

namespace clio::mn {
namespace {

DedupEntry entry(uint32_t pid, uint64_t session, uint64_t seq, uint64_t arg0, uint64_t at_ms = 1) {
  DedupEntry e;
  e.session = session;
  e.seq = seq;
  e.pid = pid;
  e.arg0 = arg0;
  e.at_ms = at_ms;
  return e;
}

TEST(DedupTableTest, FindsWhatWasInserted) {
  DedupTable t(16, 8);
  EXPECT_EQ(t.find(1, 5), nullptr);
  t.insert(entry(3, 1, 5, 42));
  ASSERT_NE(t.find(1, 5), nullptr);
  EXPECT_EQ(t.find(1, 5)->arg0, 42u);
  EXPECT_EQ(t.find(2, 5), nullptr) << "same seq, other session";
  EXPECT_EQ(t.find(1, 6), nullptr);
  EXPECT_EQ(t.horizon_ms(3, 100), UINT64_MAX) << "nothing evicted: complete";
}

// One address space: the table is a FIFO of the last `capacity` identities. Random inserts with
// heavy collisions against a model exercise wrap-around and backward-shift deletion.
TEST(DedupTableTest, EvictsOldestFirstAgainstAModel) {
  DedupTable t(64, 4);
  std::deque<std::pair<uint64_t, uint64_t>> fifo;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> model;
  Rng rng(1);
  for (uint64_t i = 1; i <= 200000; ++i) {
    const uint64_t session = rng.below(4) + 1;
    const uint64_t seq = rng.below(1000) + 1;
    if (model.count({session, seq})) continue;  // the MN never inserts an identity twice
    t.insert(entry(2, session, seq, i, i));
    fifo.emplace_back(session, seq);
    model[{session, seq}] = i;
    if (fifo.size() > t.capacity()) {
      model.erase(fifo.front());
      fifo.pop_front();
    }
    if (i % 97 == 0) {
      for (const auto& [k, v] : model) {
        const DedupEntry* e = t.find(k.first, k.second);
        ASSERT_NE(e, nullptr);
        ASSERT_EQ(e->arg0, v);
      }
      for (int probe = 0; probe < 20; ++probe) {
        const uint64_t s = rng.below(4) + 1;
        const uint64_t q = rng.below(1000) + 1;
        ASSERT_EQ(t.find(s, q) != nullptr, model.count({s, q}) == 1);
      }
    }
  }
  EXPECT_EQ(t.size(), t.capacity());
  EXPECT_GT(t.evictions(), 0u);
  EXPECT_EQ(t.unfair_evictions(), 0u);
}

// Partitions: a flood from one address space evicts its own records, not a quiet one's.
TEST(DedupTableTest, FloodEvictsOnlyTheFloodersRecords) {
  DedupTable t(64, 8);
  for (uint64_t s = 1; s <= 8; ++s) t.insert(entry(1, 100, s, s, 10));
  for (uint64_t s = 1; s <= 10000; ++s) t.insert(entry(2, 200, s, s, 10 + s));
  for (uint64_t s = 1; s <= 8; ++s) ASSERT_NE(t.find(100, s), nullptr) << s;
  EXPECT_EQ(t.size(), t.capacity());
  EXPECT_EQ(t.horizon_ms(1, 20'000), UINT64_MAX);
  EXPECT_NE(t.horizon_ms(2, 20'000), UINT64_MAX);
  EXPECT_EQ(t.find(200, 10000 - 56 + 1) != nullptr, true) << "the flooder keeps its newest";
  EXPECT_EQ(t.unfair_evictions(), 0u);
}

// A newcomer below its fair share takes room from whoever holds more than theirs.
TEST(DedupTableTest, NewcomersGetTheirFairShare) {
  DedupTable t(64, 8);
  for (uint64_t s = 1; s <= 64; ++s) t.insert(entry(1, 1, s, 0, s));
  for (uint64_t s = 1; s <= 1000; ++s) t.insert(entry(2, 2, s, 0, 100 + s));
  uint32_t kept1 = 0, kept2 = 0;
  for (uint64_t s = 1; s <= 64; ++s) kept1 += t.find(1, s) != nullptr;
  for (uint64_t s = 1; s <= 1000; ++s) kept2 += t.find(2, s) != nullptr;
  EXPECT_EQ(kept1, 32u);
  EXPECT_EQ(kept2, 32u);
  EXPECT_EQ(kept1 + kept2, t.size());
}

// More address spaces than entries: still consistent, and counted as unfair.
TEST(DedupTableTest, MorePidsThanEntries) {
  DedupTable t(16, 1024);
  for (uint64_t i = 1; i <= 5000; ++i) t.insert(entry(static_cast<uint32_t>(i % 1000), 7, i, i, i));
  EXPECT_EQ(t.size(), 16u);
  EXPECT_GT(t.unfair_evictions(), 0u);
  EXPECT_NE(t.find(7, 5000), nullptr);
  uint32_t found = 0;
  for (uint64_t i = 1; i <= 5000; ++i) found += t.find(7, i) != nullptr;
  EXPECT_EQ(found, 16u);
}

// The rule of docs/protocol.md: "not found" proves "never ran" only when the first transmission
// (now - age - MPL) is after the pid's newest eviction.
TEST(DedupTableTest, MayHaveRunFollowsTheLifetimeRule) {
  DedupTable t(16, 4);
  EXPECT_FALSE(t.may_have_run(1, 1'000'000, 1000, 5000)) << "nothing ever evicted";
  for (uint64_t s = 1; s <= 17; ++s) t.insert(entry(1, 1, s, 0, s));  // evicts the one at 1 ms
  EXPECT_EQ(t.horizon_ms(1, 5000), 4999u);
  EXPECT_FALSE(t.may_have_run(1, 0, 1000, 5000)) << "first sent >= 4000 ms: after the eviction";
  EXPECT_TRUE(t.may_have_run(1, 3999, 1000, 5000));
  EXPECT_TRUE(t.may_have_run(1, 0, 4999, 5000)) << "a transit margin as long as the horizon";
  EXPECT_FALSE(t.may_have_run(2, 1'000'000, 1000, 5000)) << "another pid lost nothing";
}

}  // namespace
}  // namespace clio::mn

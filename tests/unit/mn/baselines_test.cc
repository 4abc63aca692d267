// SPDX-License-Identifier: Apache-2.0
// The baseline designs' tables (mn/baselines.h) and the per-client sessions (mn/sessions.h).
#include "mn/baselines.h"

#include <gtest/gtest.h>

#include "mn/page_table.h"
#include "mn/sessions.h"

namespace clio::mn {
namespace {

template <typename Table>
void maps_unmaps_and_updates(Table& t) {
  const uint64_t w = Pte::kAllocated | Pte::kValid | 77;
  EXPECT_EQ(t.find(1, 5), 0u);
  t.map(1, 5, w);
  t.map(2, 5, w + 1);                        // same vpn, another address space
  t.map(1, (uint64_t{1} << 35) + 5, w + 2);  // far away in the same one
  EXPECT_EQ(t.find(1, 5), w);
  EXPECT_EQ(t.find(2, 5), w + 1);
  EXPECT_EQ(t.find(1, (uint64_t{1} << 35) + 5), w + 2);
  EXPECT_EQ(t.find(1, 6), 0u);
  t.update(1, 5, Pte::kWritable, true);
  EXPECT_EQ(t.find(1, 5), w | Pte::kWritable);
  t.update(1, 5, Pte::kWritable, false);
  EXPECT_EQ(t.unmap(1, 5), w);
  EXPECT_EQ(t.find(1, 5), 0u);
  EXPECT_EQ(t.unmap(1, 5), 0u) << "twice: nothing left";
  EXPECT_EQ(t.find(2, 5), w + 1);
  t.reclaim();
  t.map(1, 5, w + 3);
  EXPECT_EQ(t.find(1, 5), w + 3);
  EXPECT_GT(t.bytes(), 0u);
}

TEST(BaselinesTest, RadixTableMapsPerAddressSpace) {
  RadixPageTable t(12, 16);
  maps_unmaps_and_updates(t);
  EXPECT_EQ(t.find(99, 5), 0u) << "a pid beyond the table is simply unmapped";
}

TEST(BaselinesTest, ChainedTableFollowsChainsAndReusesNodes) {
  ChainedPageTable t(1);  // one chain: every lookup walks it
  maps_unmaps_and_updates(t);
  EXPECT_EQ(t.longest_chain(), 3u);
  const size_t before = t.bytes();
  for (uint64_t v = 100; v < 110; ++v) t.map(3, v, v);
  for (uint64_t v = 100; v < 110; ++v) EXPECT_EQ(t.unmap(3, v), v);
  t.reclaim();
  for (uint64_t v = 200; v < 210; ++v) t.map(3, v, v);
  EXPECT_EQ(t.bytes(), before + 10 * 64) << "unlinked nodes are reused after reclaim";
}

net::Endpoint endpoint(uint8_t n) {
  net::Endpoint e;
  e.bytes[0] = std::byte{n};
  e.bytes[1] = std::byte{1};
  return e;
}

TEST(SessionTableTest, OneSessionPerEndpointWithItsBuffer) {
  SessionTable t(64, 4096);
  wire::Header h{};
  h.session = 7;
  h.seq = 1;
  std::vector<std::byte> packet(1000, std::byte{3});
  for (int round = 0; round < 3; ++round)
    for (uint8_t n = 0; n < 5; ++n)
      t.touch(endpoint(n), net::EndpointHash{}(endpoint(n)), h, packet);
  EXPECT_EQ(t.live(), 5u);
  EXPECT_EQ(t.takeovers(), 0u);
  EXPECT_GE(t.bytes(), 5u * 4096);
}

TEST(SessionTableTest, AFullTableTakesSessionsOverAndStaysBounded) {
  SessionTable t(16, 64);
  wire::Header h{};
  std::vector<std::byte> packet(100);  // longer than the buffer: truncated, not overrun
  for (int n = 0; n < 200; ++n) {
    h.session = static_cast<uint64_t>(n) + 1;
    t.touch(endpoint(static_cast<uint8_t>(n)), static_cast<uint64_t>(n) * 7, h, packet);
  }
  EXPECT_LE(t.live(), 16u);
  EXPECT_GT(t.takeovers(), 0u);
}

}  // namespace
}  // namespace clio::mn

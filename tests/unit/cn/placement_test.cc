// SPDX-License-Identifier: Apache-2.0
// Placement (cn/placement.h): which memory node each policy picks, over hand-made snapshots.
#include "cn/placement.h"

#include <gtest/gtest.h>

#include <vector>

#include "clio/clio.h"

namespace clio::cn {
namespace {

MnSnapshot mn(uint64_t free_bytes, bool skip = false, bool suspect = false) {
  MnSnapshot s;
  s.skip = skip;
  s.suspect = suspect;
  s.free_bytes = free_bytes;
  return s;
}

TEST(PlacementTest, FillFirstTakesTheFirstUsable) {
  std::vector<MnSnapshot> m = {mn(10), mn(20), mn(30)};
  EXPECT_EQ(choose_mn(CLIO_PLACE_FILL_FIRST, m, 2), 0u) << "the rotation plays no part";
  m[0].skip = true;
  EXPECT_EQ(choose_mn(CLIO_PLACE_FILL_FIRST, m, 0), 1u);
  m[1].suspect = true;
  EXPECT_EQ(choose_mn(CLIO_PLACE_FILL_FIRST, m, 0), 2u) << "a suspect one waits";
}

TEST(PlacementTest, LeastUsedTakesTheMostFreeBytesFirstOfEquals) {
  std::vector<MnSnapshot> m = {mn(10), mn(30), mn(20), mn(30)};
  EXPECT_EQ(choose_mn(CLIO_PLACE_LEAST_USED, m, 0), 1u);
  m[1].skip = true;
  EXPECT_EQ(choose_mn(CLIO_PLACE_LEAST_USED, m, 0), 3u);
  m[3].suspect = true;
  EXPECT_EQ(choose_mn(CLIO_PLACE_LEAST_USED, m, 0), 2u) << "healthy beats more free";
  m = {mn(0), mn(0)};
  EXPECT_EQ(choose_mn(CLIO_PLACE_LEAST_USED, m, 0), 0u) << "nothing known: the first";
}

TEST(PlacementTest, SpreadRotatesFromTheStartGiven) {
  std::vector<MnSnapshot> m = {mn(0), mn(0), mn(0)};
  for (uint64_t start = 0; start < 7; ++start)
    EXPECT_EQ(choose_mn(CLIO_PLACE_SPREAD, m, start), start % 3);
  m[1].skip = true;
  EXPECT_EQ(choose_mn(CLIO_PLACE_SPREAD, m, 1), 2u) << "the next one after a skipped one";
  m[2].suspect = true;
  EXPECT_EQ(choose_mn(CLIO_PLACE_SPREAD, m, 1), 0u) << "and past a suspect one";
}

TEST(PlacementTest, SuspectsAreUsedWhenNothingElseIsLeft) {
  for (int policy : {CLIO_PLACE_SPREAD, CLIO_PLACE_FILL_FIRST, CLIO_PLACE_LEAST_USED}) {
    std::vector<MnSnapshot> m = {mn(50, true), mn(10, false, true), mn(20, false, true)};
    const size_t got = choose_mn(policy, m, 0);
    EXPECT_TRUE(got == 1 || got == 2) << policy;
    if (policy == CLIO_PLACE_LEAST_USED) {
      EXPECT_EQ(got, 2u);
    } else {
      EXPECT_EQ(got, 1u) << policy;
    }
  }
}

TEST(PlacementTest, NoneWhenEverythingIsSkipped) {
  for (int policy : {CLIO_PLACE_SPREAD, CLIO_PLACE_FILL_FIRST, CLIO_PLACE_LEAST_USED}) {
    const std::vector<MnSnapshot> m = {mn(5, true), mn(5, true, true)};
    EXPECT_EQ(choose_mn(policy, m, 0), 2u) << policy;
    EXPECT_EQ(choose_mn(policy, std::span<const MnSnapshot>{}, 0), 0u) << policy;
  }
}

}  // namespace
}  // namespace clio::cn

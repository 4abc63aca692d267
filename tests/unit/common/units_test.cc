// SPDX-License-Identifier: Apache-2.0
#include "common/units.h"

#include <gtest/gtest.h>

namespace clio {
namespace {

TEST(UnitsTest, ParsesSizes) {
  uint64_t v;
  ASSERT_TRUE(parse_size("64G", &v));
  EXPECT_EQ(v, uint64_t{64} << 30);
  ASSERT_TRUE(parse_size("4KiB", &v));
  EXPECT_EQ(v, 4096u);
  ASSERT_TRUE(parse_size("4m", &v));
  EXPECT_EQ(v, uint64_t{4} << 20);
  ASSERT_TRUE(parse_size("123", &v));
  EXPECT_EQ(v, 123u);
  ASSERT_TRUE(parse_size("2TB", &v));
  EXPECT_EQ(v, uint64_t{2} << 40);
}

TEST(UnitsTest, RejectsGarbage) {
  uint64_t v;
  EXPECT_FALSE(parse_size("", &v));
  EXPECT_FALSE(parse_size("G", &v));
  EXPECT_FALSE(parse_size("12X", &v));
  EXPECT_FALSE(parse_size("-4K", &v));
  EXPECT_FALSE(parse_size("4 K", &v));
  EXPECT_FALSE(parse_size("99999999999999999999", &v));
  EXPECT_FALSE(parse_size("17179869184T", &v)) << "overflows 64 bits";
}

TEST(UnitsTest, Formats) {
  EXPECT_EQ(format_size(64), "64 B");
  EXPECT_EQ(format_size(4096), "4 KiB");
  EXPECT_EQ(format_size(uint64_t{3} << 29), "1.5 GiB");
}

}  // namespace
}  // namespace clio

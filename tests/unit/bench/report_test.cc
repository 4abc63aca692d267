// SPDX-License-Identifier: Apache-2.0
// Benchmark JSON lines always parse: strings and keys escaped, no bare nan or inf.
#include "bench/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace clio::bench {
namespace {

TEST(ReportJsonTest, EscapesStringsAndKeysAndWritesNonFiniteAsNull) {
  Row r;
  r.set("plain", "udp").set("tricky \"key\"", std::string("a \"quoted\" \\ path\nnext\t\x01"));
  r.set("nan", std::nan("")).set("inf", std::numeric_limits<double>::infinity());
  r.set("count", uint64_t{42}).set("ratio", 1.5);
  EXPECT_EQ(json_line("b\"ench", r),
            "{\"bench\":\"b\\\"ench\",\"plain\":\"udp\",\"tricky \\\"key\\\"\":"
            "\"a \\\"quoted\\\" \\\\ path\\u000anext\\u0009\\u0001\",\"nan\":null,\"inf\":null,"
            "\"count\":42,\"ratio\":1.5}");
}

}  // namespace
}  // namespace clio::bench

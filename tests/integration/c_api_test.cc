// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "mn/memory_node.h"
#include "mn/server.h"
#include "tests/support/embedded_mn.h"

extern "C" int run_c_api_checks(const char* locator, char* why, size_t why_len);

namespace clio {
namespace {

TEST(CApiTest, ProgramsWrittenInCWork) {
  mn::MnConfig cfg;
  cfg.pool_bytes = uint64_t{64} << 20;
  cfg.page_bytes = 4096;
  testing::EmbeddedMn embedded(cfg, "inproc:name=c-api,poll=sleep");
  char why[256] = "";
  EXPECT_EQ(run_c_api_checks(embedded.locator().c_str(), why, sizeof why), 0) << why;
  EXPECT_EQ(embedded.node().stats().ras_live, 0u) << "clio_close destroyed the address space";
}

}  // namespace
}  // namespace clio

// SPDX-License-Identifier: Apache-2.0
// The compute-node side of the network-namespace test: opens the memory node named by
// $CLIO_LOCATOR and runs the checked random workload against it (a GoogleTest binary run by
// netns_test.sh inside a CN's namespace; not a ctest entry of its own).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "clio/client.h"
#include "workload.h"

namespace clio {
namespace {

TEST(NetnsClient, RandomOperationsMatchTheShadow) {
  const char* loc = std::getenv("CLIO_LOCATOR");
  ASSERT_NE(loc, nullptr) << "set CLIO_LOCATOR to the memory node's locator";
  const char* seed = std::getenv("CLIO_SEED");
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(std::string(loc) + ",deadline_ms=30000", &c), 0) << loc;
  testing::WorkloadOptions o;
  o.ops = 20'000;
  o.seed = seed != nullptr ? std::strtoull(seed, nullptr, 10) : 1;
  const testing::WorkloadReport r = testing::run_workload(*c, o);
  EXPECT_EQ(r.counter_actual, r.counter_expected) << "no lost and no doubled increment";
  EXPECT_GT(r.reads + r.writes + r.cas + r.faa, 15'000u);
  const ClientCounters k = c->counters();
  EXPECT_EQ(c->close(), 0) << "retransmissions " << k.retransmissions << " stale " << k.stale
                           << " foreign " << k.foreign << " stray " << k.stray;
}

}  // namespace
}  // namespace clio

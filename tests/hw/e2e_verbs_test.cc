// SPDX-License-Identifier: Apache-2.0
// The whole system over RDMA UD: clio-mn started by the test with --listen verbs:..., CLib in
// this process, the shared correctness workload. Skipped where there is no RDMA device.
#include <gtest/gtest.h>
#include <signal.h>

#include <vector>

#include "clio/client.h"
#include "hw_device.h"
#include "tests/support/mn_process.h"
#include "workload.h"

namespace clio {
namespace {

std::vector<std::string> mn_args(const std::string& workers) {
  return {"--listen",    testing::verbs_locator("port=0"),
          "--memory",    "256M",
          "--page-size", "4K",
          "--workers",   workers,
          "--log-level", "warn"};
}

class EndToEndVerbsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = testing::verbs_unavailable(); !why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(EndToEndVerbsTest, RandomOperationsMatchTheShadow) {
  testing::MnProcess mn(CLIO_MN_BINARY, mn_args("1"));
  ASSERT_EQ(mn.locator().rfind("verbs:", 0), 0u) << mn.locator();
  std::unique_ptr<Client> c;
  // Generous: soft-RoCE in an emulated VM is slow, and retransmissions must not give up.
  ASSERT_EQ(Client::open(mn.locator() + ",deadline_ms=60000", &c), 0) << mn.locator();
  testing::WorkloadOptions o;
  o.ops = 20'000;
  const testing::WorkloadReport r = testing::run_workload(*c, o);
  EXPECT_EQ(r.counter_actual, r.counter_expected) << "no lost and no doubled increment";
  EXPECT_GT(r.reads + r.writes + r.cas + r.faa, 15'000u);
  ASSERT_EQ(c->close(), 0);

  std::string err;
  EXPECT_EQ(mn.signal_and_collect(SIGTERM, &err), 0) << err;
  EXPECT_NE(err.find("faa="), std::string::npos) << err;
}

TEST_F(EndToEndVerbsTest, ClientsSpreadOverWorkersEachWorks) {
  // Two workers share the exchange port (SO_REUSEPORT); each client's hello lands on one of
  // them and it then talks to that worker's QP only.
  testing::MnProcess mn(CLIO_MN_BINARY, mn_args("2"));
  std::vector<std::unique_ptr<Client>> clients(4);
  for (auto& c : clients) ASSERT_EQ(Client::open(mn.locator() + ",deadline_ms=60000", &c), 0);
  for (size_t i = 0; i < clients.size(); ++i) {
    testing::WorkloadOptions o;
    o.ops = 2'000;
    o.seed = 100 + i;
    const testing::WorkloadReport r = testing::run_workload(*clients[i], o);
    EXPECT_EQ(r.counter_actual, r.counter_expected) << "client " << i;
  }
  for (auto& c : clients) EXPECT_EQ(c->close(), 0);
}

}  // namespace
}  // namespace clio

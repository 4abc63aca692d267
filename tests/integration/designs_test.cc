// SPDX-License-Identifier: Apache-2.0
// Every memory-node design (mn/design.h) runs the same end-to-end correctness suite: the
// shadow-checked random workload, over the faulty inproc fabric and over UDP to a clio-mn
// process. Designs differ in speed, never in results.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "clio/client.h"
#include "mn/design.h"
#include "mn/memory_node.h"
#include "mn/server.h"
#include "tests/support/embedded_mn.h"
#include "tests/support/mn_process.h"
#include "workload.h"

namespace clio {
namespace {

constexpr const char* kFaults =
    "drop=0.05,dup=0.05,reorder=0.1,reorder_us=100,corrupt=0.01,delay=0.005,delay_min_us=3000,"
    "delay_max_us=20000,poll=sleep,poison=on";  // poison: a use after release shows

class DesignsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DesignsTest, RandomOperationsUnderFaultsMatchTheShadowInProcess) {
  mn::MnConfig cfg;
  cfg.pool_bytes = uint64_t{256} << 20;
  cfg.page_bytes = 4096;
  cfg.design = GetParam();
  testing::EmbeddedMn embedded(
      cfg, testing::EmbeddedMn::inproc("designs-" + GetParam(), std::string("seed=5,") + kFaults));
  ASSERT_STREQ(embedded.node().design().name, GetParam().c_str());
  std::unique_ptr<Client> c;
  // No keep-alive thread: it would be a second endpoint (a second session).
  ASSERT_EQ(Client::open(embedded.locator() + ",rto_us=200,deadline_ms=60000,keepalive_ms=0", &c),
            0);
  testing::WorkloadOptions o;
  o.ops = 30'000;
  const testing::WorkloadReport r = testing::run_workload(*c, o);
  EXPECT_EQ(r.counter_actual, r.counter_expected) << "no lost and no doubled increment";
  EXPECT_GT(r.rfrees, 100u);
  EXPECT_GT(c->counters().retransmissions, 1000u) << "the faults did happen";

  const mn::MnStats m = embedded.node().stats();
  const mn::ServerStats s = embedded.server().stats();
  EXPECT_GT(m.fast.faults, 0u);
  if (embedded.node().design().sessions) {
    EXPECT_EQ(s.sessions, 1u) << "one client endpoint, one session";
    EXPECT_GE(s.session_bytes, mn::ServerConfig{}.session_buffer_bytes);
    EXPECT_EQ(m.fast.tlb_hits + m.fast.tlb_misses, 0u) << "no TLB in this design";
  } else {
    EXPECT_EQ(s.sessions, 0u) << "clio keeps no per-client state";
    EXPECT_GT(m.fast.tlb_hits, 0u);
  }
  EXPECT_NE(embedded.server().report().find(
                embedded.node().design().name == std::string("clio") ? "page table:" : "design "),
            std::string::npos);
}

TEST_P(DesignsTest, RandomOperationsMatchTheShadowOverUdp) {
  testing::MnProcess mn(
      CLIO_MN_BINARY, {"--listen", "udp:host=127.0.0.1,port=0", "--memory", "256M", "--page-size",
                       "4K", "--design", GetParam(), "--log-level", "warn", "--insecure-no-auth"});
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(mn.locator() + ",deadline_ms=30000", &c), 0) << mn.locator();
  testing::WorkloadOptions o;
  o.ops = 30'000;
  const testing::WorkloadReport r = testing::run_workload(*c, o);
  EXPECT_EQ(r.counter_actual, r.counter_expected);
  EXPECT_GT(r.reads + r.writes, 15'000u);
  ASSERT_EQ(c->close(), 0);
}

TEST_P(DesignsTest, ProtectionAndErrorsAreTheSame) {
  mn::MnConfig cfg;
  cfg.pool_bytes = uint64_t{16} << 20;
  cfg.page_bytes = 4096;
  cfg.design = GetParam();
  testing::EmbeddedMn embedded(cfg, "inproc:name=designs-errors-" + GetParam() + ",poll=sleep");
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(embedded.locator(), &c), 0);
  uint64_t va;
  ASSERT_EQ(c->ralloc(3 * 4096, &va), 0);
  const uint64_t one = 1;
  uint64_t got = 0;
  EXPECT_EQ(c->rread(va + 4096, &got, 8), 0) << "a first read maps a zero page";
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(c->rwrite(va + 3 * 4096, &one, 8), -EFAULT) << "past the allocation";
  EXPECT_EQ(c->rwrite(va + 2 * 4096, &one, 8), 0);
  ASSERT_EQ(c->rfree(va), 0);
  EXPECT_EQ(c->rread(va + 2 * 4096, &got, 8), -EFAULT) << "freed";
  // The pool runs out the same way: 16 MiB, one 20 MiB allocation touched page by page.
  uint64_t big;
  ASSERT_EQ(c->ralloc(uint64_t{20} << 20, &big), 0) << "pages are taken on first touch";
  int last = 0;
  for (uint64_t p = 0; p < 5120 && last == 0; ++p) last = c->rwrite(big + p * 4096, &one, 8);
  EXPECT_EQ(last, -ENOMEM);
  ASSERT_EQ(c->rfree(big), 0);
  EXPECT_EQ(c->ralloc(4096, &va), 0);
  EXPECT_EQ(c->rwrite(va, &one, 8), 0) << "freed pages come back";
}

INSTANTIATE_TEST_SUITE_P(AllDesigns, DesignsTest, ::testing::Values("clio", "server", "pnic"),
                         [](const auto& p) { return p.param; });

TEST(DesignRegistryTest, NamesAndRefusals) {
  EXPECT_EQ(mn::design_names(), "clio|server|pnic");
  ASSERT_NE(mn::find_design("server"), nullptr);
  EXPECT_TRUE(mn::find_design("server")->sessions);
  EXPECT_FALSE(mn::find_design("clio")->sessions);
  EXPECT_EQ(mn::find_design("Clio"), nullptr);
  mn::MnConfig cfg;
  cfg.design = "fpga";
  try {
    cfg.validate();
    ADD_FAILURE() << "an unknown design was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("clio|server|pnic"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clio

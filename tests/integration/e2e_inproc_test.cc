// The whole system in one process over the inproc fabric with faults injected both ways:
// 10% drop, 5% duplication, reordering, 1% corruption, and 1% of packets delayed far beyond the
// retransmission timeout (so that late originals arrive after their retries ran).
#include <gtest/gtest.h>

#include "clio/client.h"
#include "mn/memory_node.h"
#include "mn/server.h"
#include "workload.h"

namespace clio {
namespace {

constexpr const char* kFaults =
    "drop=0.1,dup=0.05,reorder=0.1,reorder_us=100,corrupt=0.01,delay=0.01,delay_min_us=3000,"
    "delay_max_us=20000,poll=sleep";

mn::MnConfig small_mn() {
  mn::MnConfig c;
  c.pool_bytes = uint64_t{256} << 20;
  c.page_bytes = 4096;  // small pages: reads and writes cross page boundaries
  return c;
}

TEST(EndToEndInProcTest, RandomOperationsUnderFaultsMatchTheShadow) {
  mn::MemoryNode node(small_mn());
  mn::ServerConfig sc;
  sc.listen = std::string("inproc:name=e2e-faulty,seed=11,") + kFaults;
  mn::MnServer server(node, sc);

  std::unique_ptr<Client> c;
  // rto 200 us: far below the 3-20 ms delays. A generous deadline: faults, not a dead MN.
  ASSERT_EQ(Client::open(server.locator() + ",rto_us=200,deadline_ms=60000", &c), 0);
  testing::WorkloadOptions o;
  o.ops = 100'000;
  const testing::WorkloadReport r = testing::run_workload(*c, o);
  EXPECT_EQ(r.counter_actual, r.counter_expected) << "no lost and no doubled increment";
  EXPECT_GT(r.counter_expected, 5000u);
  EXPECT_GT(r.reads + r.writes + r.cas + r.faa, 80'000u);

  const ClientCounters& k = c->counters();
  const mn::ServerStats s = server.stats();
  EXPECT_GT(k.retransmissions, 10'000u) << "the faults did happen";
  EXPECT_GT(k.nacks, 0u) << "corrupted requests were answered with NACKs";
  EXPECT_GT(s.dedup_hits, 1000u) << "retransmissions of executed requests were answered from memory";
  EXPECT_GT(s.dropped[static_cast<uint8_t>(Status::kBadChecksum) - 32], 0u);
  RecordProperty("retransmissions", static_cast<int>(k.retransmissions));
  RecordProperty("dedup_hits", static_cast<int>(s.dedup_hits));
}

TEST(EndToEndInProcTest, CleanFabricNeedsNoRetransmission) {
  mn::MemoryNode node(small_mn());
  mn::ServerConfig sc;
  sc.listen = "inproc:name=e2e-clean,poll=sleep";
  mn::MnServer server(node, sc);
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(server.locator() + ",rto_us=200000", &c), 0);
  testing::WorkloadOptions o;
  o.ops = 20'000;
  const testing::WorkloadReport r = testing::run_workload(*c, o);
  EXPECT_EQ(r.counter_actual, r.counter_expected);
  EXPECT_EQ(c->counters().retransmissions, 0u);
  EXPECT_EQ(c->counters().stray, 0u);
}

TEST(EndToEndInProcTest, ErrorsReachTheCaller) {
  mn::MemoryNode node(small_mn());
  mn::ServerConfig sc;
  sc.listen = "inproc:name=e2e-errors,poll=sleep";
  mn::MnServer server(node, sc);
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(server.locator(), &c), 0);
  EXPECT_EQ(c->page_bytes(), 4096u);
  uint64_t a, old;
  char b[16] = {};
  ASSERT_EQ(c->ralloc(10000, &a), 0);
  EXPECT_EQ(c->rread(a + 3 * 4096, b, 8), -EFAULT) << "past the last page";
  EXPECT_EQ(c->rcas(a + 4, 0, 1, &old), -EINVAL) << "misaligned";
  EXPECT_EQ(c->rfaa(a + 1, 1, &old), -EINVAL);
  EXPECT_EQ(c->rread(a, nullptr, 8), -EINVAL);
  EXPECT_EQ(c->rread(a, b, 0), 0) << "nothing to do";
  EXPECT_EQ(c->rread((uint64_t{1} << 48) - 4, b, 8), -EINVAL) << "runs past the address space";
  EXPECT_EQ(c->rread(UINT64_MAX - 4, b, 8), -EFAULT) << "names a memory node there is not";
  EXPECT_EQ(c->ralloc(0, &a), -EINVAL);
  EXPECT_EQ(c->ralloc(uint64_t{1} << 50, &a), -ENOMEM);
  EXPECT_EQ(c->rfree(a + 4096), -EINVAL) << "not the start of the allocation";
  EXPECT_EQ(c->rfree(a), 0);
  EXPECT_EQ(c->rfree(a), -EFAULT) << "double free";
  EXPECT_EQ(c->close(), 0);
  EXPECT_EQ(c->ralloc(8, &a), -EACCES) << "the address space is gone";
  EXPECT_STRNE(error_string(-EFAULT), error_string(-EACCES));

  std::unique_ptr<Client> d;
  EXPECT_EQ(Client::open("inproc:name=nobody-here", &d), -ECONNREFUSED);
  EXPECT_EQ(Client::open("no-such-transport:x=1", &d), -EINVAL);
  EXPECT_EQ(Client::open("inproc:name=e2e-errors,deadline_ms=abc", &d), -EINVAL);
}

}  // namespace
}  // namespace clio

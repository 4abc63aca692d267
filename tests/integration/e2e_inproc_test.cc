// SPDX-License-Identifier: Apache-2.0
// The whole system in one process over the inproc fabric with faults injected both ways:
// 10% drop, 5% duplication, reordering, 1% corruption, and 1% of packets delayed far beyond the
// retransmission timeout (so that late originals arrive after their retries ran).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "clio/client.h"
#include "common/clock.h"
#include "mn/memory_node.h"
#include "mn/server.h"
#include "tests/support/embedded_mn.h"
#include "workload.h"

namespace clio {
namespace {

constexpr const char* kFaults =
    "drop=0.1,dup=0.05,reorder=0.1,reorder_us=100,corrupt=0.01,delay=0.01,delay_min_us=3000,"
    "delay_max_us=20000,poll=sleep,poison=on";  // poison: a use after release shows

// Small pages: reads and writes cross page boundaries.
mn::MnConfig small_mn() { return testing::EmbeddedMn::small_node(uint64_t{256} << 20, 4096); }

TEST(EndToEndInProcTest, RandomOperationsUnderFaultsMatchTheShadow) {
  testing::EmbeddedMn embedded(small_mn(),
                               std::string("inproc:name=e2e-faulty,seed=11,") + kFaults);

  std::unique_ptr<Client> c;
  // rto 200 us: far below the 3-20 ms delays. A generous deadline: faults, not a dead MN.
  ASSERT_EQ(Client::open(embedded.locator() + ",rto_us=200,deadline_ms=60000", &c), 0);
  testing::WorkloadOptions o;
  o.ops = 100'000;
  const testing::WorkloadReport r = testing::run_workload(*c, o);
  EXPECT_EQ(r.counter_actual, r.counter_expected) << "no lost and no doubled increment";
  EXPECT_GT(r.counter_expected, 5000u);
  EXPECT_GT(r.reads + r.writes + r.cas + r.faa, 80'000u);

  const ClientCounters& k = c->counters();
  const mn::ServerStats s = embedded.server().stats();
  EXPECT_GT(k.retransmissions, 10'000u) << "the faults did happen";
  EXPECT_GT(k.nacks, 0u) << "corrupted requests were answered with NACKs";
  EXPECT_GT(s.dedup_hits, 1000u)
      << "retransmissions of executed requests were answered from memory";
  EXPECT_GT(s.dropped[static_cast<uint8_t>(Status::kBadChecksum) - 32], 0u);
  RecordProperty("retransmissions", static_cast<int>(k.retransmissions));
  RecordProperty("dedup_hits", static_cast<int>(s.dedup_hits));
}

TEST(EndToEndInProcTest, CleanFabricNeedsNoRetransmission) {
  testing::EmbeddedMn embedded(small_mn(), "inproc:name=e2e-clean,poll=sleep");
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(embedded.locator() + ",rto_us=200000", &c), 0);
  testing::WorkloadOptions o;
  o.ops = 20'000;
  const testing::WorkloadReport r = testing::run_workload(*c, o);
  EXPECT_EQ(r.counter_actual, r.counter_expected);
  EXPECT_EQ(c->counters().retransmissions, 0u);
  EXPECT_EQ(c->counters().stray, 0u);
}

// A few faults leave the free-page ring above its low water, so no doorbell rings for them;
// the worker asks for the top-up itself once its network goes quiet (FastPath::top_up_when_idle),
// and the slow path, which otherwise looks only every 100 ms, refills the ring in that gap
// rather than during the next burst of faults.
TEST(EndToEndInProcTest, QuietWorkerHasItsFreePageRingToppedUp) {
  mn::MnConfig mc = small_mn();
  mc.free_ring_depth = 64;
  testing::EmbeddedMn embedded(mc, "inproc:name=e2e-topup");
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(embedded.locator() + ",keepalive_ms=0", &c), 0);  // no control traffic
  uint64_t va;
  ASSERT_EQ(c->ralloc(16 * 4096, &va), 0);
  const uint64_t one = 1;
  ASSERT_EQ(c->rwrite(va, &one, 8), 0);  // the worker's first fault; the ralloc is long done
  uint64_t full = 0;
  for (const uint64_t until = now_ns() + 5'000'000'000ull; now_ns() < until;) {
    full = embedded.node()
               .stats()
               .pages_queued;  // settles once the slow path's pass after ralloc ends
    if (full == 64) break;
  }
  ASSERT_EQ(full, 64u);
  // 8 faults: the ring stays above its low water of 32, so only the idle top-up refills it.
  for (uint64_t p = 1; p <= 8; ++p) ASSERT_EQ(c->rwrite(va + p * 4096, &one, 8), 0);
  const uint64_t t0 = now_ns();
  uint64_t queued = 0;
  while (now_ns() - t0 < 40'000'000 && (queued = embedded.node().stats().pages_queued) != 64) {
  }
  EXPECT_EQ(queued, 64u) << "the ring was not topped up within 40 ms of the worker going quiet";
  EXPECT_EQ(embedded.node().stats().fast.faults, 9u);
}

TEST(EndToEndInProcTest, ErrorsReachTheCaller) {
  testing::EmbeddedMn embedded(small_mn(), "inproc:name=e2e-errors,poll=sleep");
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(embedded.locator(), &c), 0);
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

// Leases: CLib's keep-alive (kStats every keepalive_ms) holds an idle owner's address space;
// one whose owner went silent (a crash, a timed-out open) expires and its memory is reclaimed.
TEST(EndToEndInProcTest, KeepAliveHoldsTheLeaseAndSilenceLosesIt) {
  mn::MnConfig cfg = small_mn();
  cfg.lease_ms = 300;
  testing::EmbeddedMn embedded(cfg, "inproc:name=e2e-lease,poll=sleep");
  std::unique_ptr<Client> kept, silent;
  ASSERT_EQ(Client::open(embedded.locator() + ",keepalive_ms=50", &kept), 0);
  ASSERT_EQ(Client::open(embedded.locator() + ",keepalive_ms=0", &silent), 0);
  uint64_t a = 0, b = 0;
  ASSERT_EQ(kept->ralloc(1 << 20, &a), 0);
  ASSERT_EQ(silent->ralloc(1 << 20, &b), 0);
  const uint64_t v = 0x1234'5678'9abc'def0ull;
  ASSERT_EQ(kept->rwrite(a, &v, 8), 0);
  ASSERT_EQ(silent->rwrite(b, &v, 8), 0);
  // Idle for several leases: the keep-alive thread alone speaks for `kept`.
  const uint64_t until = now_ns() + 4 * cfg.lease_ms * 1'000'000;
  while (now_ns() < until || embedded.node().stats().ras_expired == 0) {
    ASSERT_LT(now_ns(), until + 10'000'000'000ull) << "the silent client's space never expired";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(embedded.node().stats().ras_expired, 1u);
  uint64_t back = 0;
  EXPECT_EQ(kept->rread(a, &back, 8), 0);
  EXPECT_EQ(back, v);
  EXPECT_EQ(silent->rread(b, &back, 8), -EACCES) << "expired";
  EXPECT_EQ(embedded.node().stats().pages_mapped, 1u) << "the expired space's page was reclaimed";
}

// Quotas reach the caller as their own errors.
TEST(EndToEndInProcTest, QuotaRefusalsAreDocumentedErrors) {
  mn::MnConfig cfg = small_mn();
  cfg.ras_max_bytes = 1 << 20;
  cfg.ras_max_slots = 128;  // 512 KiB of 4 KiB pages: binds before the 1 MiB
  cfg.max_ras = 3;          // two address spaces
  testing::EmbeddedMn embedded(cfg, "inproc:name=e2e-quota,poll=sleep");
  std::unique_ptr<Client> c, d, e;
  ASSERT_EQ(Client::open(embedded.locator(), &c), 0);
  uint64_t a;
  EXPECT_EQ(c->ralloc(2 << 20, &a), -EDQUOT) << "past the memory quota";
  EXPECT_EQ(c->ralloc(768 << 10, &a), -ENOBUFS) << "past the slot quota";
  EXPECT_EQ(c->ralloc(512 << 10, &a), 0);
  EXPECT_EQ(c->ralloc(4096, &a), -ENOBUFS);
  ASSERT_EQ(Client::open(embedded.locator(), &d), 0);
  EXPECT_EQ(Client::open(embedded.locator(), &e), -EMFILE) << "the MN's address spaces";
  EXPECT_STRNE(error_string(-EDQUOT), error_string(-ENOBUFS));
}

}  // namespace
}  // namespace clio

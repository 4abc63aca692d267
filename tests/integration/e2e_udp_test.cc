// SPDX-License-Identifier: Apache-2.0
// The whole system across processes: clio-mn started by the test, CLib over UDP loopback.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "clio/client.h"
#include "common/clock.h"
#include "common/rng.h"
#include "tests/support/mn_process.h"
#include "workload.h"

namespace clio {
namespace {

std::vector<std::string> mn_args() {
  return {"--listen",    "udp:host=127.0.0.1,port=0",
          "--memory",    "256M",
          "--page-size", "4K",
          "--log-level", "warn"};
}

TEST(EndToEndUdpTest, RandomOperationsMatchTheShadow) {
  testing::MnProcess mn(CLIO_MN_BINARY, mn_args());
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(mn.locator() + ",deadline_ms=30000", &c), 0) << mn.locator();
  testing::WorkloadOptions o;
  o.ops = 100'000;
  const testing::WorkloadReport r = testing::run_workload(*c, o);
  EXPECT_EQ(r.counter_actual, r.counter_expected) << "no lost and no doubled increment";
  EXPECT_GT(r.reads + r.writes + r.cas + r.faa, 80'000u);
  ASSERT_EQ(c->close(), 0);

  // Statistics on SIGUSR1 while running, and at exit on SIGTERM with status 0.
  std::string err;
  EXPECT_TRUE(mn.signal_and_expect(SIGUSR1, "clio-mn statistics", &err)) << err;
  EXPECT_EQ(mn.signal_and_collect(SIGTERM, &err), 0) << err;
  EXPECT_NE(err.find("requests:"), std::string::npos) << err;
  EXPECT_NE(err.find("faa="), std::string::npos) << err;
}

// Batches of 32 reads and of 32 writes of 1 KiB: runs of equal packets, which the udp transport
// sends as one datagram each way (UDP_SEGMENT, UDP_GRO); every byte comes back as written.
TEST(EndToEndUdpTest, BatchedRequestsTravelAsRunsAndLoseNothing) {
  testing::MnProcess mn(CLIO_MN_BINARY, mn_args());
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(mn.locator() + ",deadline_ms=30000", &c), 0) << mn.locator();
  constexpr size_t kQd = 32, kSize = 1024, kSlots = 512;
  uint64_t a;
  ASSERT_EQ(c->ralloc(kSlots * kSize, &a), 0);
  std::vector<std::byte> model(kSlots * kSize, std::byte{0});
  std::vector<std::byte> bufs(kQd * kSize);
  Rng rng(7);
  for (int round = 0; round < 200; ++round) {
    const bool write = round % 2 == 0;
    std::vector<Handle> hs(kQd);
    std::vector<uint64_t> slot(kQd);
    ASSERT_EQ(c->rbatch_begin(), 0);
    for (size_t i = 0; i < kQd; ++i) {
      slot[i] = rng.below(kSlots);
      std::byte* b = bufs.data() + i * kSize;
      if (write) {
        for (size_t k = 0; k < kSize; ++k) b[k] = static_cast<std::byte>(rng.next());
        ASSERT_EQ(c->rwrite_async(a + slot[i] * kSize, b, kSize, &hs[i]), 0);
      } else {
        ASSERT_EQ(c->rread_async(a + slot[i] * kSize, b, kSize, &hs[i]), 0);
      }
    }
    ASSERT_EQ(c->rbatch_end(), 0);
    for (size_t i = 0; i < kQd; ++i) ASSERT_EQ(c->rwait(std::move(hs[i])), 0);
    for (size_t i = 0; i < kQd; ++i) {
      std::byte* b = bufs.data() + i * kSize;
      std::byte* m = model.data() + slot[i] * kSize;
      if (write) {
        std::memcpy(m, b, kSize);  // the later of two writes to one slot wins: both in order
      } else {
        ASSERT_EQ(std::memcmp(m, b, kSize), 0) << "round " << round << " slot " << slot[i];
      }
    }
  }
  std::vector<std::byte> all(model.size());
  ASSERT_EQ(c->rread(a, all.data(), all.size()), 0);
  EXPECT_EQ(all, model);
  ASSERT_EQ(c->close(), 0);
}

TEST(EndToEndUdpTest, KilledMemoryNodeGivesTimedOutWithinTheDeadline) {
  testing::MnProcess mn(CLIO_MN_BINARY, mn_args());
  std::unique_ptr<Client> c;
  constexpr uint64_t kDeadlineMs = 1000;
  ASSERT_EQ(Client::open(mn.locator() + ",deadline_ms=" + std::to_string(kDeadlineMs), &c), 0);
  uint64_t a;
  ASSERT_EQ(c->ralloc(1 << 20, &a), 0);

  std::atomic<uint64_t> done_ops{0};
  std::thread killer([&] {
    while (done_ops.load() < 2000) std::this_thread::yield();
    mn.kill_now();
  });
  // Keep working until the MN dies under us; the first failure must be -ETIMEDOUT, on time.
  std::vector<uint8_t> buf(3000, 7);
  int rc = 0;
  uint64_t took_ns = 0;
  for (uint64_t i = 0; rc == 0; ++i) {
    const uint64_t t0 = now_ns();
    rc = (i & 1) ? c->rwrite(a + (i % 200) * 4096, buf.data(), buf.size())
                 : c->rread(a + (i % 200) * 4096, buf.data(), buf.size());
    took_ns = now_ns() - t0;
    done_ops.fetch_add(1);
    ASSERT_LT(i, 10'000'000u) << "the MN never went away";
  }
  killer.join();
  EXPECT_EQ(rc, -ETIMEDOUT) << error_string(rc);
  EXPECT_LE(took_ns, (kDeadlineMs + 500) * 1'000'000) << "gave up late";
  EXPECT_GE(took_ns, kDeadlineMs * 1'000'000 / 2) << "gave up before the deadline";
  // And every call after it too, without hanging.
  const uint64_t t0 = now_ns();
  uint64_t old;
  EXPECT_EQ(c->rfaa(a, 1, &old), -ETIMEDOUT);
  EXPECT_LE(now_ns() - t0, (kDeadlineMs + 500) * 1'000'000);
}

TEST(EndToEndUdpTest, BadCommandLinesAreRefusedWithAReason) {
  EXPECT_THROW(testing::MnProcess(CLIO_MN_BINARY, {"--memory", "12X"}), std::runtime_error);
  try {
    testing::MnProcess p(CLIO_MN_BINARY, {"--page-size", "3K"});
    FAIL() << "started anyway";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("power of two"), std::string::npos) << e.what();
  }
  try {
    testing::MnProcess p(CLIO_MN_BINARY, {"--listen", "carrier-pigeon:x=1"});
    FAIL() << "started anyway";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown transport"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clio

// SPDX-License-Identifier: Apache-2.0
// The asynchronous API, release ordering, fences, threads, atomics and locks, over the inproc
// fabric with faults injected both ways.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <thread>
#include <vector>

#include "clio/client.h"
#include "common/clock.h"
#include "common/rng.h"
#include "mn/memory_node.h"
#include "mn/server.h"
#include "tests/support/embedded_mn.h"

namespace clio {
namespace {

constexpr const char* kFaults = "drop=0.1,dup=0.05,reorder=0.2,reorder_us=200,poll=sleep,poison=on";

class AsyncTest : public ::testing::Test {
 protected:
  void start(const std::string& faults) {
    mn_ =
        std::make_unique<testing::EmbeddedMn>(testing::EmbeddedMn::small_node(uint64_t{256} << 20),
                                              testing::EmbeddedMn::inproc("async", faults));
  }
  std::unique_ptr<Client> open(const std::string& extra = ",rto_us=300,deadline_ms=60000") {
    std::unique_ptr<Client> c;
    EXPECT_EQ(Client::open(mn_->locator() + extra, &c), 0);
    return c;
  }

  std::unique_ptr<testing::EmbeddedMn> mn_;
};

// Random programs of overlapping asynchronous reads and writes, from several threads sharing one
// client, under drop, duplication and reordering. The ordering rules say that a request waits
// for every earlier overlapping one of its thread where either writes, and that nothing else is
// ordered; so the result must equal running each thread's program sequentially: every read sees
// exactly the bytes its thread's earlier writes left, and the final memory is the model's.
TEST_F(AsyncTest, RandomProgramsMatchTheOrderingModel) {
  start(kFaults);
  auto c = open();
  constexpr int kThreads = 3;
  constexpr int kOps = 2500;
  constexpr uint64_t kRegion = 3 * 4096;  // three pages: packets are split at page boundaries
  std::atomic<int> failures{0};
  std::atomic<uint64_t> held{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      uint64_t base;
      if (c->ralloc(kRegion, &base) != 0) {
        ++failures;
        return;
      }
      Rng rng(1000 + t);
      std::vector<uint8_t> model(kRegion, 0);
      struct Pending {
        Handle h;
        bool read;
        std::vector<uint8_t> buf;       // written data, or where the read lands
        std::vector<uint8_t> expected;  // a read's bytes per the model, at issue time
      };
      std::deque<Pending> pending;
      int batches = 0;  // open rbatch_begin()s
      auto complete_oldest = [&] {
        Pending& p = pending.front();
        if (c->rwait(std::move(p.h)) != 0) ++failures;
        if (p.read && p.buf != p.expected) ++failures;
        pending.pop_front();
      };
      for (int i = 0; i < kOps; ++i) {
        const uint64_t dice = rng.below(100);
        if (dice < 2) {
          if (c->rfence() != 0) ++failures;
          continue;
        }
        if (dice < 3) {
          if (c->rrelease() != 0) ++failures;
          continue;
        }
        if (dice < 6) {  // batches open and close at random, nested up to 3 deep
          if (batches < 3 && (batches == 0 || rng.chance(0.5))) {
            if (c->rbatch_begin() != 0) ++failures;
            ++batches;
          } else if (batches > 0) {
            if (c->rbatch_end() != 0) ++failures;
            --batches;
          }
          continue;
        }
        const uint64_t len = 1 + rng.below(700);
        const uint64_t off = rng.below(kRegion - len + 1);
        Pending p;
        p.read = rng.chance(0.5);
        p.buf.resize(len);
        int rc;
        if (p.read) {
          p.expected.assign(model.begin() + static_cast<long>(off),
                            model.begin() + static_cast<long>(off + len));
          rc = c->rread_async(base + off, p.buf.data(), len, &p.h);
        } else {
          for (auto& b : p.buf) b = static_cast<uint8_t>(rng.next());
          std::memcpy(model.data() + off, p.buf.data(), len);
          rc = c->rwrite_async(base + off, p.buf.data(), len, &p.h);
        }
        if (rc != 0) {
          ++failures;
          break;
        }
        pending.push_back(std::move(p));
        // Keep 1 to 24 requests outstanding, completed oldest first or, sometimes, by polling.
        while (pending.size() > 1 + rng.below(24)) complete_oldest();
      }
      for (; batches > 0; --batches)
        if (c->rbatch_end() != 0) ++failures;
      while (!pending.empty()) complete_oldest();
      std::vector<uint8_t> all(kRegion);
      if (c->rread(base, all.data(), kRegion) != 0 || all != model) ++failures;
      held += c->counters().held_back;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(held.load(), 100u) << "overlapping requests were really held back";
}

TEST_F(AsyncTest, HandlesAreUsedOnce) {
  start("poll=sleep");
  auto c = open("");
  uint64_t a;
  ASSERT_EQ(c->ralloc(8192, &a), 0);
  char buf[64] = {};
  Handle h;
  ASSERT_EQ(c->rwrite_async(a, "hello", 5, &h), 0);
  const uint64_t id = h.id();
  EXPECT_EQ(c->rwait(std::move(h)), 0);
  EXPECT_FALSE(h.valid()) << "moved into rwait";
  EXPECT_EQ(c->rwait(Handle::from_id(id)), -EINVAL) << "the same request, waited again";
  EXPECT_EQ(c->rwait(Handle()), -EINVAL);

  // rpoll: results for every handle, completed ones consumed.
  std::vector<Handle> hs(3);
  ASSERT_EQ(c->rread_async(a, buf, 5, &hs[0]), 0);
  ASSERT_EQ(c->rread_async(a + 4096, buf + 8, 8, &hs[1]), 0);
  ASSERT_EQ(c->rread_async(a + 100000, buf + 16, 8, &hs[2]), 0) << "the error comes later";
  int results[3];
  int done = 0;
  while (done < 3) {
    const int n = c->rpoll(hs, results);
    ASSERT_GE(n, 0);
    done += n;
    for (int i = 0; i < 3; ++i) {
      if (!hs[i].valid() && results[i] != CLIO_PENDING) {
        EXPECT_EQ(results[i], i == 2 ? -EFAULT : 0);
      }
    }
  }
  EXPECT_EQ(std::memcmp(buf, "hello", 5), 0);

  // A handle belongs to the thread that issued it.
  Handle mine;
  ASSERT_EQ(c->rread_async(a, buf, 8, &mine), 0);
  int other = 0;
  std::thread([&] { other = c->rwait(Handle::from_id(mine.id())); }).join();
  EXPECT_EQ(other, -EINVAL);
  EXPECT_EQ(c->rwait(std::move(mine)), 0);
}

TEST_F(AsyncTest, TooManyUnfinishedHandlesIsRefusedNotFatal) {
  start("poll=sleep");
  auto c = open(",deadline_ms=120000");  // thousands queued: slow builds (TSAN) need the time
  uint64_t a;
  ASSERT_EQ(c->ralloc(4096, &a), 0);
  std::vector<Handle> hs;
  std::vector<char> buf(8);
  int rc = 0;
  while (rc == 0 && hs.size() < 100000) {
    Handle h;
    rc = c->rread_async(a, buf.data(), 8, &h);
    if (rc == 0) hs.push_back(std::move(h));
  }
  EXPECT_EQ(rc, -EAGAIN);
  EXPECT_GE(hs.size(), 1000u);
  for (auto& h : hs) EXPECT_EQ(c->rwait(std::move(h)), 0);
  Handle again;
  EXPECT_EQ(c->rread_async(a, buf.data(), 8, &again), 0) << "room again once they are finished";
  EXPECT_EQ(c->rwait(std::move(again)), 0);
}

TEST_F(AsyncTest, FenceHoldsLaterRequestsAndReleaseWaits) {
  start("poll=sleep");
  auto c = open("");
  uint64_t a;
  ASSERT_EQ(c->ralloc(2 * 4096, &a), 0);
  // Disjoint writes around a fence: they do not overlap, yet the one after the fence must not
  // start before the one before completes. Observable: after rrelease both are there, and the
  // fence made the second wait (held back).
  std::vector<Handle> hs(2);
  uint64_t one = 1, two = 2;
  ASSERT_EQ(c->rwrite_async(a, &one, 8, &hs[0]), 0);
  ASSERT_EQ(c->rfence(), 0);
  ASSERT_EQ(c->rwrite_async(a + 4096, &two, 8, &hs[1]), 0);
  ASSERT_EQ(c->rrelease(), 0);
  int results[2];
  EXPECT_EQ(c->rpoll(hs, results), 2) << "release returned: everything before it is complete";
  uint64_t x = 0, y = 0;
  ASSERT_EQ(c->rread(a, &x, 8), 0);
  ASSERT_EQ(c->rread(a + 4096, &y, 8), 0);
  EXPECT_EQ(x, 1u);
  EXPECT_EQ(y, 2u);
}

// A batch holds what its thread issues until its outermost end: another thread of the same
// client (its own requests, not ordered after these) reads the old bytes until then. A wait or a
// synchronous call inside a batch sends what is held, so it never deadlocks.
TEST_F(AsyncTest, ABatchHoldsRequestsUntilItsOutermostEnd) {
  start("poll=sleep");
  auto c = open("");
  uint64_t a;
  ASSERT_EQ(c->ralloc(4096, &a), 0);
  auto other_thread_reads = [&] {
    uint64_t v = 99;
    std::thread t([&] { EXPECT_EQ(c->rread(a, &v, 8), 0); });
    t.join();
    return v;
  };
  EXPECT_EQ(c->rbatch_end(), -EINVAL) << "an end without a begin";
  const uint64_t seven = 7;
  Handle h;
  ASSERT_EQ(c->rbatch_begin(), 0);
  ASSERT_EQ(c->rbatch_begin(), 0);
  ASSERT_EQ(c->rwrite_async(a, &seven, 8, &h), 0);
  EXPECT_EQ(other_thread_reads(), 0u) << "held by the batch";
  ASSERT_EQ(c->rbatch_end(), 0);
  EXPECT_EQ(other_thread_reads(), 0u) << "still held: the outer batch is open";
  ASSERT_EQ(c->rbatch_end(), 0);
  ASSERT_EQ(c->rwait(std::move(h)), 0);
  EXPECT_EQ(other_thread_reads(), 7u) << "sent at the outermost end";

  const uint64_t eight = 8;
  ASSERT_EQ(c->rbatch_begin(), 0);
  ASSERT_EQ(c->rwrite_async(a, &eight, 8, &h), 0);
  ASSERT_EQ(c->rwait(std::move(h)), 0) << "a wait inside a batch sends what is held";
  uint64_t v = 0;
  ASSERT_EQ(c->rread(a, &v, 8), 0) << "so does a synchronous call";
  EXPECT_EQ(v, 8u);
  ASSERT_EQ(c->rbatch_end(), 0);
  EXPECT_EQ(c->rbatch_end(), -EINVAL);

  // More than a burst in one batch: the first 32 leave as they fill, the rest at the end; all
  // complete, polled together.
  std::vector<uint64_t> vals(100);
  std::vector<Handle> hs(vals.size());
  ASSERT_EQ(c->rbatch_begin(), 0);
  for (size_t i = 0; i < vals.size(); ++i) {
    vals[i] = 1000 + i;
    ASSERT_EQ(c->rwrite_async(a + 8 * (i % 400), &vals[i], 8, &hs[i]), 0);
  }
  ASSERT_EQ(c->rbatch_end(), 0);
  std::vector<int> results(hs.size(), 1);
  size_t done = 0;
  for (uint64_t until = now_ns() + 10'000'000'000ull; done < hs.size() && now_ns() < until;)
    done += static_cast<size_t>(c->rpoll(hs, results));
  EXPECT_EQ(done, hs.size());
  for (const int r : results) EXPECT_EQ(r, 0);
  std::vector<uint64_t> back(vals.size());
  ASSERT_EQ(c->rread(a, back.data(), 8 * back.size()), 0);
  EXPECT_EQ(back, vals);
}

// N threads x M increments through fetch-and-add, and through a lock around read-modify-write,
// under faults: each ends exactly at N*M (no lost, no doubled increment; mutual exclusion).
TEST_F(AsyncTest, AtomicsAndLocksUnderFaultsCountExactly) {
  start(kFaults);
  auto c = open();
  uint64_t area;
  ASSERT_EQ(c->ralloc(4096, &area), 0);
  const uint64_t faa_counter = area, lock = area + 64, locked_counter = area + 128;
  constexpr int kThreads = 4, kIncrements = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        uint64_t old;
        if (c->rfaa(faa_counter, 1, &old) != 0) ++failures;
        if (c->rlock(lock) != 0) {
          ++failures;
          continue;
        }
        uint64_t v = 0;
        if (c->rread(locked_counter, &v, 8) != 0) ++failures;
        ++v;
        if (c->rwrite(locked_counter, &v, 8) != 0) ++failures;
        if (c->runlock(lock) != 0) ++failures;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  uint64_t faa = 0, locked = 0, word = 1;
  ASSERT_EQ(c->rread(faa_counter, &faa, 8), 0);
  ASSERT_EQ(c->rread(locked_counter, &locked, 8), 0);
  ASSERT_EQ(c->rread(lock, &word, 8), 0);
  EXPECT_EQ(faa, uint64_t{kThreads} * kIncrements);
  EXPECT_EQ(locked, uint64_t{kThreads} * kIncrements);
  EXPECT_EQ(word, 0u) << "free at the end";
  EXPECT_EQ(c->runlock(lock), -EPERM) << "not held by this thread";
  ASSERT_EQ(c->rlock(lock), 0);
  EXPECT_EQ(c->rlock(lock), -EDEADLK);
  EXPECT_EQ(c->runlock(lock), 0);
}

TEST_F(AsyncTest, CongestionControlOffAndOnBothComplete) {
  start("poll=sleep");
  for (const char* cc : {",cc=off", ",cc=on,window=8"}) {
    auto c = open(cc);
    uint64_t a;
    ASSERT_EQ(c->ralloc(1 << 20, &a), 0);
    std::vector<Handle> hs(256);
    std::vector<char> buf(256 * 64);
    for (size_t i = 0; i < hs.size(); ++i)
      ASSERT_EQ(c->rread_async(a + i * 4096, buf.data() + i * 64, 64, &hs[i]), 0);
    for (auto& h : hs) EXPECT_EQ(c->rwait(std::move(h)), 0);
    if (std::string(cc).find("window=8") != std::string::npos) {
      EXPECT_GT(c->counters().window_waits, 0u) << "a window of 8 held the other 248 back";
    }
  }
}

}  // namespace
}  // namespace clio

// SPDX-License-Identifier: Apache-2.0
// Fast-path workers reading and writing while the slow path allocates, frees and protects.
// Built and run under ThreadSanitizer as well (ctest label `tsan`).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/rng.h"
#include "mn/memory_node.h"
#include "mn_test_util.h"

namespace clio::mn {
namespace {

using testing::pattern;
using testing::Ras;

MnConfig concurrency_config(const std::string& design) {
  auto c = testing::small_config(uint64_t{64} << 20, 4096);
  c.free_ring_depth = 32;
  c.design = design;
  return c;
}

// Every design (mn/design.h) keeps the same guarantees under concurrency: only speed differs.
class ConcurrencyTest : public ::testing::TestWithParam<std::string> {};

/// Retries kRetryLater by leaving the batch (so the slow path's grace periods progress) and
/// yielding; the slow path refills on its own.
template <typename Op>
Status retrying(FastPath& w, Op&& op) {
  for (;;) {
    Status s;
    {
      FastPath::Batch b(w);
      s = op();
    }
    if (s != Status::kRetryLater) return s;
    std::this_thread::yield();
  }
}

TEST_P(ConcurrencyTest, WorkersAndSlowPathChurnWithoutCorruption) {
  MemoryNode mn(concurrency_config(GetParam()));
  constexpr int kThreads = 2;
  constexpr int kRounds = 400;

  // A region owned by the main thread that workers read while it is freed and reallocated: a
  // successful read must only ever see zeros (its pages are never written), never another
  // address space's data, even when the pages are recycled under the reader.
  Ras shared = Ras::create(mn);
  std::atomic<uint64_t> shared_va{0};
  uint64_t va0;
  ASSERT_EQ(mn.ralloc(shared.pid, shared.rw, 16 * 4096, 0, &va0), Status::kOk);
  shared_va.store(va0);

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto w = mn.add_fast_path();
      Ras own = Ras::create(mn);
      Rng rng(100 + t);
      struct Region {
        uint64_t va;
        uint64_t pages;
        uint8_t seed;
      };
      std::vector<Region> live;
      for (int round = 0; round < kRounds; ++round) {
        Region reg{0, 1 + rng.below(8), static_cast<uint8_t>(rng.next())};
        if (mn.ralloc(own.pid, own.rw, reg.pages * 4096, 0, &reg.va) != Status::kOk) {
          ++failures;
          break;
        }
        for (uint64_t p = 0; p < reg.pages; ++p) {
          auto data = pattern(512, static_cast<uint8_t>(reg.seed + p));
          if (retrying(*w, [&] { return w->write(own.at(reg.va + p * 4096 + 64), data); }) !=
              Status::kOk)
            ++failures;
        }
        live.push_back(reg);
        // Verify every live region, and peek at the shared one.
        for (const Region& r : live) {
          for (uint64_t p = 0; p < r.pages; ++p) {
            std::vector<std::byte> got(512);
            if (retrying(*w, [&] { return w->read(own.at(r.va + p * 4096 + 64), got); }) !=
                    Status::kOk ||
                got != pattern(512, static_cast<uint8_t>(r.seed + p)))
              ++failures;
          }
        }
        std::vector<std::byte> peek(4096);
        const Status s = retrying(*w, [&] {
          return w->read(Target{shared.pid, shared.rw, shared_va.load() + rng.below(16) * 4096},
                         peek);
        });
        if (s == Status::kOk && !testing::all_zero(peek)) ++failures;
        if (s != Status::kOk && s != Status::kUnmapped) ++failures;
        if (live.size() > 6) {
          const size_t k = rng.below(live.size());
          if (mn.rfree(own.pid, own.rw, live[k].va) != Status::kOk) ++failures;
          live.erase(live.begin() + static_cast<long>(k));
        }
      }
      EXPECT_EQ(mn.destroy_ras(own.pid, own.rw), Status::kOk);
    });
  }

  // Meanwhile: churn the shared region and a scratch address space on the slow path.
  Ras scratch = Ras::create(mn);
  std::thread churn([&] {
    Rng rng(9);
    while (!done.load()) {
      const uint64_t old = shared_va.load();
      uint64_t fresh;
      if (mn.ralloc(shared.pid, shared.rw, 16 * 4096, 0, &fresh) != Status::kOk) ++failures;
      shared_va.store(fresh);
      if (mn.rfree(shared.pid, shared.rw, old) != Status::kOk) ++failures;
      uint64_t va;
      if (mn.ralloc(scratch.pid, scratch.rw, (1 + rng.below(4)) * 4096, 0, &va) == Status::kOk) {
        if (mn.protect(scratch.pid, scratch.rw, va, true) != Status::kOk) ++failures;
        if (mn.rfree(scratch.pid, scratch.rw, va) != Status::kOk) ++failures;
      }
    }
  });
  for (auto& t : threads) t.join();
  done.store(true);
  churn.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(mn.stats().grace_periods, 100u);
}

TEST_P(ConcurrencyTest, RacingFaultsOnOnePageAreCoalesced) {
  MemoryNode mn(concurrency_config(GetParam()));
  Ras r = Ras::create(mn);
  constexpr uint64_t kPages = 64;
  for (int round = 0; round < 5; ++round) {
    uint64_t va;
    ASSERT_EQ(mn.ralloc(r.pid, r.rw, kPages * 4096, 0, &va), Status::kOk);
    std::atomic<int> ready{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 2; ++t) {
      ts.emplace_back([&, t] {
        auto w = mn.add_fast_path();
        mn.refill_now();
        ready.fetch_add(1);
        while (ready.load() < 2) {
        }
        const uint64_t v = 0x1111111111111111ull * static_cast<uint64_t>(t + 1);
        for (uint64_t p = 0; p < kPages; ++p) {
          uint64_t old;
          // Both threads fault every page at about the same time; each adds its own word.
          ASSERT_EQ(retrying(*w, [&] { return w->faa(r.at(va + p * 4096 + 8 * t), v, &old); }),
                    Status::kOk);
        }
      });
    }
    for (auto& t : ts) t.join();
    auto w = mn.add_fast_path();
    mn.refill_now();
    for (uint64_t p = 0; p < kPages; ++p) {
      std::vector<std::byte> got(16);
      ASSERT_EQ(retrying(*w, [&] { return w->read(r.at(va + p * 4096), got); }), Status::kOk);
      uint64_t a, b;
      std::memcpy(&a, got.data(), 8);
      std::memcpy(&b, got.data() + 8, 8);
      ASSERT_EQ(a, 0x1111111111111111ull) << "page " << p << ": a fault lost a write";
      ASSERT_EQ(b, 0x2222222222222222ull) << "page " << p << ": a fault lost a write";
    }
    EXPECT_EQ(mn.stats().pages_mapped, kPages) << "exactly one physical page per virtual page";
    w.reset();
    ASSERT_EQ(mn.rfree(r.pid, r.rw, va), Status::kOk);
  }
}

}  // namespace
}  // namespace clio::mn

namespace clio::mn {
namespace {

// The grace period, attacked directly: a reader keeps long batches open on pages that the slow
// path frees and hands to another address space, which writes them at once. Within a batch the
// reader may still reach a freed page through its TLB, but the page must not have been scrubbed
// or reused yet: every successful read sees the first owner's bytes.
TEST_P(ConcurrencyTest, FreedPagesAreNotReusedUnderAnInFlightBatch) {
  auto cfg = testing::small_config(32 * 4096, 4096);
  cfg.free_ring_depth = 2;
  cfg.design = GetParam();
  MemoryNode mn(cfg);
  constexpr uint64_t kPages = 8;
  Ras a = Ras::create(mn);
  Ras b = Ras::create(mn);
  std::atomic<uint64_t> a_va{0};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> bad{0}, good{0};

  std::thread reader([&] {
    auto w = mn.add_fast_path();
    Rng rng(5);
    std::vector<std::byte> got(256);
    while (!done.load()) {
      FastPath::Batch batch(*w);
      for (int k = 0; k < 200; ++k) {
        const uint64_t va = a_va.load();
        if (va == 0) continue;
        const Status s = w->read(a.at(va + rng.below(kPages) * 4096), got);
        if (s != Status::kOk) continue;  // unmapped or no page ready: fine
        for (auto byte : got)
          if (byte != std::byte{0xAA}) {
            ++bad;
            break;
          }
        ++good;
      }
    }
  });

  auto w = mn.add_fast_path();
  const std::vector<std::byte> aa(4096, std::byte{0xAA}), bb(4096, std::byte{0xBB});
  for (int round = 0; round < 300; ++round) {
    uint64_t va;
    ASSERT_EQ(mn.ralloc(a.pid, a.rw, kPages * 4096, 0, &va), Status::kOk);
    for (uint64_t p = 0; p < kPages; ++p)
      ASSERT_EQ(retrying(*w, [&] { return w->write(a.at(va + p * 4096), aa); }), Status::kOk);
    a_va.store(va);
    // Let the reader catch this region in a batch, without sleeping: wait for reads to land.
    const uint64_t before = good.load();
    while (good.load() < before + 50) std::this_thread::yield();
    ASSERT_EQ(mn.rfree(a.pid, a.rw, va), Status::kOk);
    // The same physical pages, now b's, overwritten at once.
    uint64_t vb;
    ASSERT_EQ(mn.ralloc(b.pid, b.rw, kPages * 4096, 0, &vb), Status::kOk);
    for (uint64_t p = 0; p < kPages; ++p)
      ASSERT_EQ(retrying(*w, [&] { return w->write(b.at(vb + p * 4096), bb); }), Status::kOk);
    ASSERT_EQ(mn.rfree(b.pid, b.rw, vb), Status::kOk);
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(bad.load(), 0u) << "a reader saw a page after it changed hands";
  EXPECT_GT(good.load(), 300u * 50);
}

}  // namespace
}  // namespace clio::mn

namespace clio::mn {
namespace {
INSTANTIATE_TEST_SUITE_P(Designs, ConcurrencyTest, ::testing::Values("clio", "server", "pnic"),
                         [](const auto& p) { return p.param; });
}  // namespace
}  // namespace clio::mn

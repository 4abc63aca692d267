// SPDX-License-Identifier: Apache-2.0
// Every limit of the exactly-once argument (docs/protocol.md) at once, shrunk so that it is
// reached within seconds: a 3-bit sequence counter (sessions rotate every few requests), a
// 256-entry record table (records turn over constantly, the horizon is short), a 20 ms packet
// lifetime, and a fabric that drops, duplicates, reorders, corrupts and delays packets far
// beyond the retransmission timeout, while a stranger floods the MN with keyless and forged
// requests. A shadow-checked workload must see no lost acknowledged write, no atomic run twice,
// and no failure but -EIO (outcome unknown, documented).
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "clio/client.h"
#include "common/clock.h"
#include "common/rng.h"
#include "common/wire.h"
#include "mn/memory_node.h"
#include "mn/server.h"
#include "tests/support/embedded_mn.h"
#include "verbs_shim/registry.h"

namespace clio {
namespace {

constexpr const char* kFaults =
    "drop=0.05,dup=0.05,reorder=0.05,reorder_us=200,corrupt=0.01,delay=0.01,"
    "delay_min_us=2000,delay_max_us=30000,poll=sleep,poison=on";

/// Sends requests that fail authentication as fast as the MN takes them: writes and atomics
/// with made-up pids and keys, keyless kStats, and retransmission-looking copies of them.
class Flooder {
 public:
  explicit Flooder(const std::string& locator) : t_(net::connect(locator, &mn_)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Flooder() {
    stop_.store(true);
    thread_.join();
  }
  uint64_t sent() const { return sent_.load(); }

 private:
  void run() {
    Rng rng(7);
    uint64_t seq = 1;
    net::PacketView v[32];
    while (!stop_.load(std::memory_order_relaxed)) {
      const uint64_t kind = rng.below(3);
      wire::Header h = wire::make_header(kind == 0   ? wire::Opcode::kWrite
                                         : kind == 1 ? wire::Opcode::kFaa
                                                     : wire::Opcode::kStats);
      h.session = rng.next() | 1;
      h.seq = seq++;
      h.pid = 1 + static_cast<uint32_t>(rng.below(4));  // the honest client's pid is among them
      h.key = rng.next();
      h.va = uint64_t{1} << 32;
      h.attempt = static_cast<uint16_t>(rng.below(3));
      h.age_ms = static_cast<uint32_t>(rng.below(100));
      uint64_t payload = rng.next();
      std::span<const std::byte> p;
      if (kind == 0) {
        h.length = 8;
        p = std::as_bytes(std::span(&payload, 1));
      } else if (kind == 1) {
        h.length = 8;
      }
      wire::seal(h, p);
      const net::TxItem it{mn_, std::as_bytes(std::span(&h, 1)), p};
      if (t_->tx_burst(std::span(&it, 1)) == 1) {
        sent_.fetch_add(1, std::memory_order_relaxed);
      } else {
        std::this_thread::yield();
      }
      while (size_t n = t_->rx_burst(v)) t_->release(std::span(v, n));
    }
  }

  net::Endpoint mn_;
  std::unique_ptr<net::Transport> t_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0};
  std::thread thread_;
};

/// An MN on the faulty fabric, and clients with a 3-bit sequence counter (a new session every
/// few requests) and a retransmission timeout far below the fabric's delays.
struct Rig {
  static mn::ServerConfig server_config(const char* name, int seed, size_t dedup_entries,
                                        uint64_t mpl_ms) {
    mn::ServerConfig sc = testing::EmbeddedMn::serving(
        testing::EmbeddedMn::inproc(name, "seed=" + std::to_string(seed) + "," + kFaults));
    sc.dedup_entries = dedup_entries;
    sc.max_packet_lifetime_ms = mpl_ms;
    return sc;
  }
  Rig(const char* name, int seed, size_t dedup_entries, uint64_t mpl_ms)
      : mn(testing::EmbeddedMn::small_node(), server_config(name, seed, dedup_entries, mpl_ms)),
        node(mn.node()),
        server(mn.server()) {}
  int open(std::unique_ptr<Client>* out) const {
    ClientOptions o;
    o.seq_bits = 3;
    o.rto_us = 500;
    o.deadline_ms = 20'000;
    return Client::open(server.locator(), o, out);
  }
  testing::EmbeddedMn mn;
  mn::MemoryNode& node;
  mn::MnServer& server;
};

TEST(ChaosTest, ShadowHoldsAcrossWrapTurnoverExpiryFaultsAndAFlood) {
  Rig rig("chaos", 5, /*dedup_entries=*/256, /*mpl_ms=*/20);
  mn::MnServer& server = rig.server;
  std::unique_ptr<Client> cl;
  ASSERT_EQ(rig.open(&cl), 0);
  constexpr uint64_t kWords = 64, kCounters = 8;
  uint64_t data, ctr;
  ASSERT_EQ(cl->ralloc(kWords * 8, &data), 0);
  ASSERT_EQ(cl->ralloc(kCounters * 8, &ctr), 0);

  Flooder flood(server.locator());
  std::vector<uint64_t> shadow(kWords, 0), expect(kCounters, 0);
  std::vector<bool> known(kWords, true), counter_known(kCounters, true);
  uint64_t eio = 0, lost = 0, doubled = 0, ops = 0;
  Rng rng(3);
  for (uint64_t i = 0; i < 20'000; ++i, ++ops) {
    const uint64_t dice = rng.below(10);
    if (dice < 4) {
      const uint64_t w = rng.below(kWords);
      const uint64_t v = rng.next();
      const int rc = cl->rwrite(data + 8 * w, &v, 8);
      ASSERT_TRUE(rc == 0 || rc == -EIO) << error_string(rc);
      shadow[w] = v;
      known[w] = rc == 0;
      eio += rc == -EIO;
    } else if (dice < 7) {
      const uint64_t w = rng.below(kWords);
      uint64_t v = 0;
      const int rc = cl->rread(data + 8 * w, &v, 8);
      ASSERT_EQ(rc, 0) << error_string(rc) << ": reads are never refused as unprovable";
      if (known[w] && v != shadow[w]) ++lost;
      if (!known[w]) {  // learned again
        shadow[w] = v;
        known[w] = true;
      }
    } else {
      const uint64_t k = rng.below(kCounters);
      uint64_t old = 0;
      const int rc = cl->rfaa(ctr + 8 * k, 1, &old);
      ASSERT_TRUE(rc == 0 || rc == -EIO) << error_string(rc);
      if (rc == -EIO) {
        ++eio;
        counter_known[k] = false;
        continue;
      }
      if (counter_known[k] && old != expect[k]) old > expect[k] ? ++doubled : ++lost;
      expect[k] = old + 1;
      counter_known[k] = true;
    }
  }
  EXPECT_EQ(lost, 0u) << "acknowledged writes or increments lost";
  EXPECT_EQ(doubled, 0u) << "atomics run twice";
  // Everything read back once more, after the faults have had time to deliver late packets.
  for (uint64_t w = 0; w < kWords; ++w) {
    uint64_t v = 0;
    ASSERT_EQ(cl->rread(data + 8 * w, &v, 8), 0);
    if (known[w]) {
      EXPECT_EQ(v, shadow[w]) << "word " << w;
    }
  }

  const mn::ServerStats s = server.stats();
  const ClientCounters& k = cl->counters();
  RecordProperty("eio", static_cast<int>(eio));
  RecordProperty("flood", static_cast<int>(flood.sent()));
  EXPECT_GT(k.retransmissions, 500u) << "the faults happened";
  EXPECT_GT(k.sessions, 1000u) << "sessions rotated (the counter wrapped)";
  EXPECT_GT(s.dedup_evictions, 1000u) << "records turned over";
  EXPECT_GT(flood.sent(), 10'000u) << "the flood ran";
  EXPECT_GT(s.unauthenticated, 1000u) << "and was refused";
  EXPECT_LT(eio, ops / 20) << "unprovable outcomes stay rare";
  std::printf(
      "chaos: %llu ops, %llu -EIO, %llu retransmissions, %llu flood packets, %llu "
      "evictions, %llu stale\n",
      static_cast<unsigned long long>(ops), static_cast<unsigned long long>(eio),
      static_cast<unsigned long long>(k.retransmissions),
      static_cast<unsigned long long>(flood.sent()),
      static_cast<unsigned long long>(s.dedup_evictions), static_cast<unsigned long long>(s.stale));
}

// Locks under the same faults, with two threads of one client (each its own sessions, rotating
// every few requests): a counter incremented by plain read and write inside the critical
// section ends exactly at the number of increments, so no lock was granted twice and no
// acknowledged write was lost.
TEST(ChaosTest, LockedIncrementsUnderFaultsAreExact) {
  Rig rig("chaos-lock", 9, /*dedup_entries=*/1 << 12, /*mpl_ms=*/50);
  mn::MnServer& server = rig.server;
  std::unique_ptr<Client> cl;
  ASSERT_EQ(rig.open(&cl), 0);
  uint64_t lock, word;
  ASSERT_EQ(cl->ralloc(64, &lock), 0);
  ASSERT_EQ(cl->ralloc(64, &word), 0);
  Flooder flood(server.locator());
  constexpr int kThreads = 2, kEach = 300;
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        uint64_t v = 0;
        if (cl->rlock(lock) != 0 || cl->rread(word, &v, 8) != 0) {
          ++failures;
          return;
        }
        ++v;
        if (cl->rwrite(word, &v, 8) != 0 || cl->runlock(lock) != 0) {
          ++failures;
          return;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_EQ(failures.load(), 0);
  uint64_t v = 0, l = 1;
  ASSERT_EQ(cl->rread(word, &v, 8), 0);
  ASSERT_EQ(cl->rread(lock, &l, 8), 0);
  EXPECT_EQ(v, uint64_t{kThreads} * kEach);
  EXPECT_EQ(l, 0u) << "the lock is free at the end";
  EXPECT_GT(server.stats().dedup_hits, 0u) << "retransmissions were answered from records";
}

}  // namespace
}  // namespace clio

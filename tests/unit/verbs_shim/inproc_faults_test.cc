// SPDX-License-Identifier: Apache-2.0
// The in-process fabric's fault injector and its corner cases.
#include <gtest/gtest.h>

#include <map>

#include "common/clock.h"
#include "verbs_shim/inproc_transport.h"
#include "verbs_shim/registry.h"

namespace clio::net {
namespace {

struct Counts {
  size_t packets = 0, distinct = 0, corrupted = 0;
  bool reordered = false;
};

/// Sends `n` packets numbered 0..n-1 through a faulty client and counts what the server sees.
Counts run(const std::string& faults, size_t n) {
  static int k = 0;
  const std::string name = "faults" + std::to_string(k++);
  auto server = listen("inproc:name=" + name);
  Endpoint ep;
  auto client = connect("inproc:name=" + name + "," + faults, &ep);
  Counts c;
  std::map<uint32_t, int> seen;
  uint32_t last = 0;
  auto drain = [&] {
    PacketView v[32];
    size_t got;
    while ((got = server->rx_burst(v)) != 0) {
      for (size_t i = 0; i < got; ++i) {
        uint32_t id;
        std::memcpy(&id, v[i].data.data(), 4);
        uint32_t check;
        std::memcpy(&check, v[i].data.data() + 4, 4);
        if (check != ~id) {
          ++c.corrupted;
          continue;
        }
        if (id < last) c.reordered = true;
        last = id;
        ++c.packets;
        if (seen[id]++ == 0) ++c.distinct;
      }
      server->release(std::span(v, got));
    }
  };
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t msg[2] = {i, ~i};
    TxItem t{ep, std::as_bytes(std::span(msg)), {}};
    while (client->tx_burst(std::span(&t, 1)) != 1) drain();
    drain();
  }
  // Let held packets go: keep the client polling until their time has come.
  const uint64_t until = now_ns() + 50'000'000;
  while (now_ns() < until) {
    PacketView v;
    client->rx_burst(std::span(&v, 1));
    drain();
  }
  return c;
}

TEST(InProcFaultsTest, NoFaultsDeliversEverythingInOrder) {
  const Counts c = run("seed=1", 10000);
  EXPECT_EQ(c.packets, 10000u);
  EXPECT_EQ(c.distinct, 10000u);
  EXPECT_FALSE(c.reordered);
}

TEST(InProcFaultsTest, DropRateIsRoughlyRight) {
  const Counts c = run("drop=0.1,seed=3", 20000);
  EXPECT_NEAR(static_cast<double>(c.distinct), 18000.0, 600.0);
  EXPECT_EQ(c.packets, c.distinct) << "drop only: no duplicates";
}

TEST(InProcFaultsTest, DuplicatesCorruptionAndReordering) {
  const Counts c = run("dup=0.05,corrupt=0.02,reorder=0.1,reorder_us=50,seed=4", 20000);
  EXPECT_GT(c.packets, c.distinct) << "some arrived twice";
  EXPECT_NEAR(static_cast<double>(c.packets - c.distinct), 1000.0, 300.0);
  EXPECT_GT(c.corrupted, 200u);
  EXPECT_TRUE(c.reordered);
}

TEST(InProcFaultsTest, DelayedPacketsArriveLater) {
  const Counts c = run("delay=0.2,delay_min_us=1000,delay_max_us=5000,seed=5", 2000);
  EXPECT_EQ(c.distinct, 2000u) << "delayed, not lost";
  EXPECT_TRUE(c.reordered);
}

TEST(InProcFaultsTest, BadLocatorsAreRefused) {
  Endpoint ep;
  EXPECT_THROW(listen("inproc:poll=busy"), ConfigError) << "name is required";
  EXPECT_THROW(listen("inproc:name=x,drop=2"), ConfigError);
  EXPECT_THROW(listen("inproc:name=x,bogus=1"), ConfigError);
  EXPECT_THROW(listen("nosuch:name=x"), ConfigError);
  EXPECT_THROW(connect("inproc:name=nobody-listens", &ep), TransportError);
  auto a = listen("inproc:name=taken");
  EXPECT_THROW(listen("inproc:name=taken"), TransportError);
}

TEST(InProcFaultsTest, StaleEndpointsReachNothing) {
  Endpoint ep;
  auto server = listen("inproc:name=stale");
  auto client = connect("inproc:name=stale", &ep);
  server.reset();  // the port is recycled
  auto again = listen("inproc:name=stale2");
  const std::byte b[8] = {};
  TxItem t{ep, b, {}};
  EXPECT_EQ(client->tx_burst(std::span(&t, 1)), 1u) << "accepted, and lost";
  PacketView v;
  EXPECT_EQ(again->rx_burst(std::span(&v, 1)), 0u) << "never lands at the port's next owner";
}

}  // namespace
}  // namespace clio::net

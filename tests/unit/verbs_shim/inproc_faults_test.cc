// SPDX-License-Identifier: Apache-2.0
// The in-process fabric's fault injector and its corner cases.
#include <gtest/gtest.h>

#include <cerrno>
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

// poison=on: a released view's bytes are overwritten, so a use after release reads 0xdb; and
// the transport counts what it handed out and what came back.
TEST(InProcFaultsTest, ReleasedViewsArePoisonedAndCounted) {
  Endpoint ep;
  auto server = listen("inproc:name=poisoned,poison=on");
  auto client = connect("inproc:name=poisoned", &ep);
  auto& in = dynamic_cast<InProcTransport&>(*server);
  const uint64_t released_before = in.views_released();
  std::vector<std::byte> payload(100, std::byte{0x11});
  for (int i = 0; i < 3; ++i) {
    TxItem t{ep, payload, {}};
    ASSERT_EQ(client->tx_burst(std::span(&t, 1)), 1u);
  }
  PacketView v[3];
  size_t got = 0;
  while (got < 3) got += server->rx_burst(std::span(v + got, 3 - got));
  EXPECT_EQ(in.views_held(), 3u);
  const std::byte* first = v[0].data.data();
  ASSERT_EQ(first[0], std::byte{0x11});
  server->release(std::span(v, 1));
  EXPECT_EQ(in.views_held(), 2u);
  EXPECT_EQ(in.views_released(), released_before + 1);
  for (size_t i = 0; i < 100; ++i) ASSERT_EQ(first[i], std::byte{0xdb}) << "byte " << i;
  EXPECT_EQ(v[1].data[0], std::byte{0x11}) << "views still held keep their bytes";
  server->release(std::span(v + 1, 2));
  EXPECT_EQ(in.views_held(), 0u);
  EXPECT_THROW(listen("inproc:name=poisoned2,poison=maybe"), ConfigError);
}

// Callers switch on the kind, never on the message (CLib: kNoServer is -ECONNREFUSED).
TEST(InProcFaultsTest, SetUpErrorsCarryAKindAndAnErrno) {
  Endpoint ep;
  try {
    connect("inproc:name=nobody-listens", &ep);
    ADD_FAILURE() << "connected to nothing";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::kNoServer) << e.what();
  }
  auto a = listen("inproc:name=taken-twice");
  try {
    listen("inproc:name=taken-twice");
    ADD_FAILURE() << "two servers on one name";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::kSystem) << e.what();
    EXPECT_EQ(e.err(), EADDRINUSE) << e.what();
  }
  // A failed system call: its errno decides the kind, and the message names call and errno.
  const TransportError refused = sys_error("udp client", "connect", ECONNREFUSED);
  EXPECT_EQ(refused.kind(), TransportError::Kind::kNoServer);
  EXPECT_EQ(refused.err(), ECONNREFUSED);
  EXPECT_NE(std::string(refused.what()).find("udp client: connect: "), std::string::npos);
  EXPECT_NE(std::string(refused.what()).find("(errno " + std::to_string(ECONNREFUSED) + ")"),
            std::string::npos);
  EXPECT_EQ(sys_error("raweth", "socket", EPERM, "needs root").kind(),
            TransportError::Kind::kPermission);
  EXPECT_NE(
      std::string(sys_error("raweth", "socket", EPERM, "needs root").what()).find("; needs root"),
      std::string::npos);
  EXPECT_EQ(sys_error("verbs", "ibv_open_device", ENODEV).kind(), TransportError::Kind::kNoDevice);
  EXPECT_EQ(sys_error("verbs", "endpoint", ETIMEDOUT).kind(), TransportError::Kind::kTimeout);
  EXPECT_EQ(sys_error("udp", "sendmmsg", ENOMEM).kind(), TransportError::Kind::kSystem);
  EXPECT_NE(std::string(sys_error("verbs", "ibv_post_send", 0).what()).find("errno not set"),
            std::string::npos);
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

// SPDX-License-Identifier: Apache-2.0
// raweth beyond the conformance suite: frames that lie are dropped and counted, and an MN's
// workers split clients between them while each client stays with one worker. Runs on the
// loopback interface; skips where raw sockets are not allowed (no root / CAP_NET_RAW).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "common/clock.h"
#include "verbs_shim/raweth_transport.h"
#include "verbs_shim/registry.h"

namespace clio::net {
namespace {

uint16_t test_port(int salt) {
  return static_cast<uint16_t>(40000 + (static_cast<unsigned>(getpid()) * 13 + salt) % 20000);
}

class RawEthTest : public ::testing::Test {
 protected:
  std::unique_ptr<Transport> listen_or_skip(const std::string& loc, unsigned member = 0,
                                            unsigned members = 1) {
    try {
      return listen(loc, member, members);
    } catch (const TransportError& e) {
      skipped_ = e.what();
      return nullptr;
    }
  }
  std::string skipped_;
};

/// Sends one hand-made frame on lo.
void send_frame(const std::vector<uint8_t>& frame) {
  const int fd = socket(AF_PACKET, SOCK_RAW, 0);
  ASSERT_GE(fd, 0);
  sockaddr_ll a{};
  a.sll_family = AF_PACKET;
  a.sll_ifindex = static_cast<int>(if_nametoindex("lo"));
  a.sll_halen = 6;
  ASSERT_EQ(sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a),
            static_cast<ssize_t>(frame.size()));
  close(fd);
}

std::vector<uint8_t> frame_for(uint16_t port, uint16_t claimed_len, size_t payload,
                               uint16_t ethertype = kClioEtherType) {
  std::vector<uint8_t> f(sizeof(RawEthFrameHeader) + payload, 0xab);
  RawEthFrameHeader h{};
  h.ethertype_be = htons(ethertype);
  h.dst_port_be = htons(port);
  h.src_port_be = htons(1234);
  h.len_be = htons(claimed_len);
  std::memcpy(f.data(), &h, sizeof h);
  return f;
}

TEST_F(RawEthTest, LyingOrForeignFramesAreDroppedAndCounted) {
  const uint16_t port = test_port(1);
  auto t = listen_or_skip("raweth:if=lo,port=" + std::to_string(port));
  if (!t) GTEST_SKIP() << "raweth cannot run here: " << skipped_;
  auto* raw = static_cast<RawEthTransport*>(t.get());
  send_frame(frame_for(port, 500, 100));     // claims more than it carries
  send_frame(frame_for(port, 60000, 100));   // claims more than any MTU
  send_frame(frame_for(port + 1, 10, 100));  // another port: the socket filter keeps it out
  send_frame(frame_for(port, 10, 100));      // a good one: 10 bytes, then padding
  PacketView v[4];
  size_t got = 0;
  const uint64_t deadline = now_ns() + 5'000'000'000ull;
  while (got == 0 && now_ns() < deadline) {
    got = t->rx_burst(v);
    if (got == 0) t->wait(1'000'000);
  }
  ASSERT_EQ(got, 1u) << "only the honest frame arrives";
  EXPECT_EQ(v[0].data.size(), 10u) << "the length field, not the padded frame, decides";
  EXPECT_EQ(raw->dropped_frames(), 2u);
  t->release(std::span(v, got));
}

TEST_F(RawEthTest, WorkersShareClientsAndEachClientStaysWithOne) {
  const uint16_t port = test_port(2);
  const std::string loc = "raweth:if=lo,port=" + std::to_string(port);
  auto w0 = listen_or_skip(loc, 0, 2);
  if (!w0) GTEST_SKIP() << "raweth cannot run here: " << skipped_;
  auto w1 = listen(w0->member_locator(), 1, 2);
  std::vector<std::unique_ptr<Transport>> clients;
  std::vector<Endpoint> servers(16);
  for (int i = 0; i < 16; ++i) clients.push_back(connect(w0->locator(), &servers[i]));
  const std::byte msg[8] = {};
  constexpr int kEach = 8;
  for (int r = 0; r < kEach; ++r)
    for (int i = 0; i < 16; ++i) {
      TxItem it{servers[i], msg, {}};
      ASSERT_EQ(clients[i]->tx_burst(std::span(&it, 1)), 1u);
    }
  std::map<Endpoint, std::set<int>, bool (*)(const Endpoint&, const Endpoint&)> seen_by(
      [](const Endpoint& a, const Endpoint& b) { return a.bytes < b.bytes; });
  size_t total = 0;
  int per_worker[2] = {0, 0};
  const uint64_t deadline = now_ns() + 5'000'000'000ull;
  while (total < 16 * kEach && now_ns() < deadline) {
    Transport* ws[2] = {w0.get(), w1.get()};
    for (int w = 0; w < 2; ++w) {
      PacketView v[32];
      const size_t n = ws[w]->rx_burst(v);
      for (size_t k = 0; k < n; ++k) seen_by[v[k].from].insert(w);
      per_worker[w] += static_cast<int>(n);
      total += n;
      ws[w]->release(std::span(v, n));
    }
  }
  ASSERT_EQ(total, 16u * kEach);
  EXPECT_EQ(seen_by.size(), 16u);
  for (const auto& [from, workers] : seen_by)
    EXPECT_EQ(workers.size(), 1u) << "a client met two workers";
  EXPECT_GT(per_worker[0], 0) << "worker 1 took every client";
  EXPECT_GT(per_worker[1], 0) << "worker 0 took every client";
}

TEST_F(RawEthTest, BadLocatorsAreRefusedWithAReason) {
  EXPECT_THROW(listen("raweth:port=7400"), ConfigError);  // no if=
  EXPECT_THROW(listen("raweth:if=no-such-if0"), ConfigError);
  EXPECT_THROW(listen("raweth:if=lo,ring=v9"), ConfigError);
  EXPECT_THROW(connect("raweth:if=lo,mac=zz:00:00:00:00:00", nullptr), ConfigError);
  try {
    Endpoint e;
    connect("raweth:if=lo,bogus=1", &e);
    ADD_FAILURE() << "an unknown key was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bogus"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clio::net

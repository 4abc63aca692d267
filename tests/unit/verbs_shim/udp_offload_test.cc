// SPDX-License-Identifier: Apache-2.0
// udp offload (UDP_SEGMENT, UDP_GRO): runs of equal packets to one peer leave as one datagram and
// may arrive as one, and still reach the layer above as the packets that were sent: each its own
// view, in order, with its sender, whatever the size of the view array; runs never mix peers;
// receive buffers come back once every view cut from them is released; offload=off sends packet
// by packet. Skips (saying why) where the kernel has no UDP_GRO.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "verbs_shim/registry.h"
#include "verbs_shim/udp_transport.h"

namespace clio::net {
namespace {

/// Packet i of a test: `len` bytes, the first 4 its number, the rest a pattern of it.
std::vector<std::byte> packet(uint32_t i, size_t len) {
  std::vector<std::byte> p(len);
  for (size_t b = 0; b < len; ++b) p[b] = static_cast<std::byte>((i * 131 + b) & 0xff);
  std::memcpy(p.data(), &i, sizeof i);
  return p;
}

struct Pair {
  std::unique_ptr<Transport> server, client;
  Endpoint server_ep;
  explicit Pair(const std::string& keys = "") {
    server = listen("udp:host=127.0.0.1,port=0" + keys);
    client = connect(server->locator() + keys, &server_ep);
  }
  UdpTransport& s() { return static_cast<UdpTransport&>(*server); }
  UdpTransport& c() { return static_cast<UdpTransport&>(*client); }
};

void send_all(Transport& t, const std::vector<TxItem>& items) {
  size_t sent = 0;
  const uint64_t deadline = now_ns() + 5'000'000'000ull;
  while (sent < items.size() && now_ns() < deadline)
    sent += t.tx_burst(std::span(items).subspan(sent));
  ASSERT_EQ(sent, items.size());
}

/// Receives `want` packets through views arrays of `views` entries, checking each against
/// packet(its number, its length) and its order (numbers ascending from `first`), releasing as it
/// goes; returns the senders seen.
std::vector<Endpoint> receive_in_order(Transport& t, uint32_t first, size_t want, size_t views,
                                       const std::vector<size_t>& lens) {
  std::vector<Endpoint> from;
  std::vector<PacketView> v(views);
  const uint64_t until = now_ns() + 5'000'000'000ull;
  uint32_t next = first;
  while (from.size() < want && now_ns() < until) {
    const size_t n = t.rx_burst(v);
    for (size_t i = 0; i < n; ++i) {
      uint32_t num;
      EXPECT_GE(v[i].data.size(), sizeof num);
      if (v[i].data.size() < sizeof num) continue;
      std::memcpy(&num, v[i].data.data(), sizeof num);
      EXPECT_EQ(num, next) << "packets in the order sent";
      EXPECT_EQ(v[i].data.size(), lens[num - first]) << "packet " << num;
      const auto want_bytes = packet(num, v[i].data.size());
      EXPECT_TRUE(std::equal(want_bytes.begin(), want_bytes.end(), v[i].data.begin()))
          << "packet " << num;
      next = num + 1;
      from.push_back(v[i].from);
    }
    t.release(std::span(v.data(), n));
    if (n == 0) t.wait(1'000'000);
  }
  EXPECT_EQ(from.size(), want);
  return from;
}

bool has_gro(Pair& p) {
  return p.s().offload_stats().gro && p.s().offload_stats().gso && p.c().offload_stats().gso;
}

TEST(UdpOffloadTest, ARunOfEqualPacketsIsOneDatagramAndArrivesAsItsPackets) {
  Pair p;
  if (!has_gro(p)) GTEST_SKIP() << "this kernel refuses UDP_SEGMENT or UDP_GRO";
  // 31 packets of 1064 bytes and a shorter 32nd (a tx_burst's chunk): one run. Received through
  // arrays of 1, 5 and 64 views, so that a run is cut across calls.
  std::vector<size_t> lens(UdpTransport::kBurst, 1064);
  lens.back() = 100;
  for (const size_t views : {size_t{1}, size_t{5}, size_t{64}}) {
    std::vector<std::vector<std::byte>> payloads;
    std::vector<TxItem> items;
    for (uint32_t i = 0; i < lens.size(); ++i) payloads.push_back(packet(i, lens[i]));
    for (const auto& b : payloads) items.push_back(TxItem{p.server_ep, b, {}});
    const auto before = p.s().offload_stats();
    send_all(*p.client, items);
    const auto from = receive_in_order(*p.server, 0, lens.size(), views, lens);
    for (const Endpoint& e : from) EXPECT_EQ(e, p.client->local_endpoint());
    const auto& after = p.s().offload_stats();
    EXPECT_EQ(after.gro_datagrams - before.gro_datagrams, 1u) << "one datagram, " << views;
    EXPECT_EQ(after.gro_packets - before.gro_packets, lens.size());
  }
  EXPECT_EQ(p.c().offload_stats().gso_sends, 3u);
  EXPECT_EQ(p.c().offload_stats().gso_packets, 3 * UdpTransport::kBurst);
}

TEST(UdpOffloadTest, RunsEndAtALongerPacketAndAfterAShorterOne) {
  Pair p;
  if (!has_gro(p)) GTEST_SKIP() << "this kernel refuses UDP_SEGMENT or UDP_GRO";
  const std::vector<size_t> lens = {200, 200, 200, 50, 300, 300, 300, 8, 8, 4096, 64};
  std::vector<std::vector<std::byte>> payloads;
  std::vector<TxItem> items;
  for (uint32_t i = 0; i < lens.size(); ++i) payloads.push_back(packet(i + 1000, lens[i]));
  // Headers and payloads split at different places: a packet is whatever the two make.
  for (const auto& b : payloads) {
    const size_t cut = b.size() / 3;
    items.push_back(TxItem{p.server_ep, std::span(b).first(cut), std::span(b).subspan(cut)});
  }
  send_all(*p.client, items);
  receive_in_order(*p.server, 1000, lens.size(), 3, lens);
  // Datagrams: [200 200 200 50] [300 300 300 8] [8] [4096 64]: a longer packet starts a run, a
  // shorter one ends it; 4 datagrams, 3 of them runs.
  EXPECT_EQ(p.c().offload_stats().gso_sends, 3u);
  EXPECT_EQ(p.c().offload_stats().gso_packets, 10u);
}

TEST(UdpOffloadTest, RunsNeverMixPeers) {
  Pair a;
  if (!has_gro(a)) GTEST_SKIP() << "this kernel refuses UDP_SEGMENT or UDP_GRO";
  Endpoint ignored;
  std::unique_ptr<Transport> b = connect(a.server->locator(), &ignored);
  // Each client says hello so that the server has its address.
  std::vector<std::byte> hello = packet(0, 16);
  for (Transport* c : {a.client.get(), b.get()}) send_all(*c, {TxItem{a.server_ep, hello, {}}});
  std::vector<Endpoint> peers;
  std::vector<PacketView> v(8);
  for (uint64_t until = now_ns() + 5'000'000'000ull; peers.size() < 2 && now_ns() < until;) {
    const size_t n = a.server->rx_burst(v);
    for (size_t i = 0; i < n; ++i) peers.push_back(v[i].from);
    a.server->release(std::span(v.data(), n));
  }
  ASSERT_EQ(peers.size(), 2u);
  Transport* to[2] = {peers[0] == a.client->local_endpoint() ? a.client.get() : b.get(), nullptr};
  to[1] = to[0] == a.client.get() ? b.get() : a.client.get();
  // A A B B A A: three datagrams, none holding the other client's packets.
  const int order[] = {0, 0, 1, 1, 0, 0};
  std::vector<std::vector<std::byte>> payloads;
  std::vector<TxItem> items;
  uint32_t num[2] = {0, 100};
  for (const int who : order) payloads.push_back(packet(num[who]++, 500));
  for (size_t i = 0; i < payloads.size(); ++i)
    items.push_back(TxItem{peers[static_cast<size_t>(order[i])], payloads[i], {}});
  send_all(*a.server, items);
  receive_in_order(*to[0], 0, 4, 4, std::vector<size_t>(4, 500));
  receive_in_order(*to[1], 100, 2, 4, std::vector<size_t>(2, 500));
  EXPECT_EQ(a.s().offload_stats().gso_sends, 3u);
}

TEST(UdpOffloadTest, BuffersComeBackWhenEveryViewIsReleased) {
  Pair p;
  if (!has_gro(p)) GTEST_SKIP() << "this kernel refuses UDP_SEGMENT or UDP_GRO";
  // Far more runs than the socket has buffers: a buffer whose views were all released but which
  // was not freed would run the receiver dry.
  const std::vector<size_t> lens(16, 256);
  for (uint32_t round = 0; round < 4 * UdpTransport::kRxBuffers; ++round) {
    std::vector<std::vector<std::byte>> payloads;
    std::vector<TxItem> items;
    for (uint32_t i = 0; i < lens.size(); ++i) payloads.push_back(packet(round * 16 + i, 256));
    for (const auto& b : payloads) items.push_back(TxItem{p.server_ep, b, {}});
    send_all(*p.client, items);
    receive_in_order(*p.server, round * 16, lens.size(), 7, lens);
    if (HasFailure()) return;
  }
}

TEST(UdpOffloadTest, OffloadOffSendsPacketByPacket) {
  Pair p(",offload=off");
  EXPECT_FALSE(p.s().offload_stats().gro);
  EXPECT_FALSE(p.c().offload_stats().gso);
  const std::vector<size_t> lens(20, 700);
  std::vector<std::vector<std::byte>> payloads;
  std::vector<TxItem> items;
  for (uint32_t i = 0; i < lens.size(); ++i) payloads.push_back(packet(i, 700));
  for (const auto& b : payloads) items.push_back(TxItem{p.server_ep, b, {}});
  send_all(*p.client, items);
  receive_in_order(*p.server, 0, lens.size(), 32, lens);
  EXPECT_EQ(p.c().offload_stats().gso_sends, 0u);
  EXPECT_EQ(p.s().offload_stats().gro_datagrams, 0u);
}

TEST(UdpOffloadTest, ABadOffloadValueIsAConfigError) {
  EXPECT_THROW(listen("udp:host=127.0.0.1,port=0,offload=maybe"), ConfigError);
}

}  // namespace
}  // namespace clio::net

// SPDX-License-Identifier: Apache-2.0
// The verbs backend beyond the shared conformance suite: every byte of every size survives, in
// both directions, while the send ring wraps several times (inline and gathered sends alike),
// and one address handle serves each peer host.
#include "verbs_shim/verbs_transport.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "common/clock.h"
#include "common/rng.h"
#include "hw_device.h"
#include "verbs_shim/registry.h"
#include "verbs_shim/verbs_device.h"

namespace clio::net {
namespace {

class VerbsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = testing::verbs_unavailable(); !why.empty()) GTEST_SKIP() << why;
    server_ = listen(testing::verbs_locator("host=127.0.0.1,port=0"));
    client_ = connect(server_->locator(), &server_ep_);
  }

  /// Sends `payloads` from `from` to `to` (window of 64 in flight) and checks that each arrives
  /// once, byte for byte, at `at`; returns the sender address seen.
  Endpoint exchange(Transport& from, Transport& at, const Endpoint& to,
                    const std::vector<std::vector<std::byte>>& payloads) {
    Endpoint seen;
    std::vector<bool> arrived(payloads.size());
    size_t sent = 0, got = 0;
    const uint64_t deadline = now_ns() + 60'000'000'000ull;
    PacketView rx[32];
    while (got < payloads.size() && now_ns() < deadline) {
      while (sent < payloads.size() && sent - got < 64) {
        // The first 4 bytes say which packet this is; the rest is the pattern.
        TxItem t{to, std::span(payloads[sent]).first(4), std::span(payloads[sent]).subspan(4)};
        if (from.tx_burst(std::span(&t, 1)) != 1) break;
        ++sent;
      }
      const size_t n = at.rx_burst(rx);
      for (size_t i = 0; i < n; ++i) {
        uint32_t idx;
        std::memcpy(&idx, rx[i].data.data(), 4);
        if (idx < payloads.size()) {
          EXPECT_FALSE(arrived[idx]) << "packet " << idx << " twice";
          arrived[idx] = true;
          const auto& want = payloads[idx];
          EXPECT_TRUE(rx[i].data.size() == want.size() &&
                      std::equal(want.begin(), want.end(), rx[i].data.begin()))
              << "packet " << idx << " of " << want.size() << " bytes arrived damaged ("
              << rx[i].data.size() << " bytes)";
        }
        seen = rx[i].from;
        ++got;
      }
      at.release(std::span(rx, n));
    }
    EXPECT_EQ(got, payloads.size()) << "lost packets";
    return seen;
  }

  std::vector<std::vector<std::byte>> make(size_t count, uint32_t max, uint64_t seed) {
    Rng rng(seed);
    std::vector<std::vector<std::byte>> v(count);
    const uint32_t edges[] = {4, 5, 255, 256, 257, 1000, max - 1, max};
    for (size_t i = 0; i < count; ++i) {
      const uint32_t size =
          i < std::size(edges) ? edges[i] : 4 + static_cast<uint32_t>(rng.below(max - 3));
      v[i].resize(size);
      for (uint32_t b = 0; b < size; ++b) v[i][b] = std::byte{static_cast<uint8_t>(b * 13 + i)};
      const auto idx = static_cast<uint32_t>(i);
      std::memcpy(v[i].data(), &idx, 4);
    }
    return v;
  }

  std::unique_ptr<Transport> server_, client_;
  Endpoint server_ep_;
};

TEST_F(VerbsTransportTest, EveryByteOfEverySizeArrivesBothWays) {
  const uint32_t mtu = std::min(server_->mtu(), client_->mtu());
  const Endpoint client_seen = exchange(*client_, *server_, server_ep_, make(1000, mtu, 1));
  EXPECT_EQ(client_seen, client_->local_endpoint());
  const Endpoint server_seen = exchange(*server_, *client_, client_seen, make(1000, mtu, 2));
  EXPECT_EQ(server_seen, server_ep_);
  auto& s = dynamic_cast<VerbsTransport&>(*server_);
  auto& c = dynamic_cast<VerbsTransport&>(*client_);
  EXPECT_EQ(s.stats().ah_created, 1u) << "one handle toward the client's host, made once";
  EXPECT_EQ(c.stats().ah_created, 1u);
  EXPECT_EQ(s.stats().send_errors + c.stats().send_errors, 0u);
  EXPECT_EQ(s.stats().recv_errors + c.stats().recv_errors, 0u);
  EXPECT_GE(s.hellos(), 1u);
}

TEST_F(VerbsTransportTest, WithoutInlineToo) {
  Endpoint ep;
  auto plain = connect(server_->locator() + ",inline=0", &ep);
  EXPECT_EQ(dynamic_cast<VerbsTransport&>(*plain).max_inline(), 0u);
  exchange(*plain, *server_, ep, make(300, std::min(server_->mtu(), plain->mtu()), 3));
}

// The GID ranking scripts read (clio-mn --list-gids) starts with the GID the backend picks when a
// locator names none: the choice is made in one place.
TEST(VerbsGidChoiceTest, ListGidsPutsTheDefaultChoiceFirst) {
  if (const std::string why = testing::verbs_unavailable(); !why.empty()) GTEST_SKIP() << why;
  const char* d = std::getenv("CLIO_RDMA_DEV");
  const std::string dev = d != nullptr ? d : "";
  const VerbsPort picked = VerbsPort::open(dev, 1, -1);
  const std::string table = list_gids(dev);
  ASSERT_FALSE(table.empty());
  EXPECT_EQ(table.substr(0, table.find('\t')), std::to_string(picked.gid_index())) << table;
  EXPECT_NE(table.find(gid_text(picked.gid())), std::string::npos) << table;
  const std::vector<GidEntry> ranked = ranked_gids(dev, 1);
  for (size_t i = 1; i < ranked.size(); ++i) EXPECT_LE(ranked[i - 1].rank, ranked[i].rank);
}

}  // namespace
}  // namespace clio::net

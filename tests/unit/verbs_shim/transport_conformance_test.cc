// SPDX-License-Identifier: Apache-2.0
// One suite for every transport backend: each must deliver, gather, respect its MTU, keep views
// valid until release, never block, and answer to the address it reports. A backend that is not
// built here, or cannot run here, is skipped with the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <set>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "verbs_shim/inproc_transport.h"
#include "verbs_shim/registry.h"
#include "verbs_shim/udp_transport.h"

namespace clio::net {
namespace {

std::atomic<int> g_counter{0};

/// The backend a test parameter names: "raweth_v3" is raweth with its v3 ring.
std::string backend_of(const std::string& param) { return param.substr(0, param.find('_')); }

/// A listen locator for `param` with a sleeping poll mode, or "" when it is not built here.
std::string listen_locator(const std::string& param) {
  const std::string backend = backend_of(param);
  if (find_backend(backend) == nullptr) return "";
  if (backend == "inproc")
    return "inproc:name=conformance" + std::to_string(g_counter++) + ",poll=sleep,poison=on";
  if (backend == "udp") return "udp:host=127.0.0.1,port=0,poll=epoll";
  if (backend == "raweth") {
    // Loopback carries raw frames too; a port no other test process picks at the same time.
    const int port =
        20000 + static_cast<int>((static_cast<unsigned>(getpid()) * 7 + g_counter++) % 20000);
    return "raweth:if=lo,port=" + std::to_string(port) + ",poll=sleep" +
           (param == "raweth_v3" ? ",ring=v3" : "");
  }
  if (backend == "verbs") {
    // The device and GID from CLIO_RDMA_DEV / CLIO_RDMA_GID (scripts/rxe-vm.sh sets them), else
    // the first device with the GID the backend picks. With no device at all, listen() throws
    // "no RDMA device found" and the test is skipped with that reason.
    std::string l = "verbs:port=0,poll=event";
    if (const char* dev = std::getenv("CLIO_RDMA_DEV"); dev != nullptr && *dev != 0)
      l += ",dev=" + std::string(dev);
    if (const char* gid = std::getenv("CLIO_RDMA_GID"); gid != nullptr && *gid != 0)
      l += ",gid=" + std::string(gid);
    return l;
  }
  return "";
}

std::vector<std::byte> bytes(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte{static_cast<uint8_t>(seed * 31 + i)};
  return v;
}

/// Polls until `want` packets arrived or 5 s passed; never sleeps blindly.
size_t receive(Transport& t, std::vector<PacketView>& got, size_t want) {
  const uint64_t deadline = now_ns() + 5'000'000'000ull;
  PacketView burst[32];
  while (got.size() < want && now_ns() < deadline) {
    const size_t n = t.rx_burst(std::span(burst, std::min<size_t>(32, want - got.size())));
    got.insert(got.end(), burst, burst + n);
    if (n == 0) t.wait(1'000'000);
  }
  return got.size();
}

class TransportConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string loc = listen_locator(GetParam());
    if (loc.empty())
      GTEST_SKIP() << "transport '" << GetParam() << "' is not built into this binary";
    try {
      server_ = listen(loc);
      client_ = connect(server_->locator(), &server_ep_);
    } catch (const TransportError& e) {
      GTEST_SKIP() << "transport '" << GetParam() << "' cannot run here: " << e.what();
    }
  }

  std::unique_ptr<Transport> server_, client_;
  Endpoint server_ep_;
};

TEST_P(TransportConformanceTest, RoundTripAnswersTheSender) {
  EXPECT_EQ(server_->name(), backend_of(GetParam()));
  const auto h = bytes(72, 1), p = bytes(100, 2);
  TxItem tx{server_ep_, h, p};
  ASSERT_EQ(client_->tx_burst(std::span(&tx, 1)), 1u);
  std::vector<PacketView> got;
  ASSERT_EQ(receive(*server_, got, 1), 1u);
  ASSERT_EQ(got[0].data.size(), 172u);
  EXPECT_TRUE(std::equal(h.begin(), h.end(), got[0].data.begin())) << "header first";
  EXPECT_TRUE(std::equal(p.begin(), p.end(), got[0].data.begin() + 72)) << "then payload";
  EXPECT_EQ(got[0].from, client_->local_endpoint());

  // The reply goes to the address the packet came from.
  const auto r = bytes(64, 3);
  TxItem back{got[0].from, r, {}};
  server_->release(got);
  ASSERT_EQ(server_->tx_burst(std::span(&back, 1)), 1u);
  std::vector<PacketView> reply;
  ASSERT_EQ(receive(*client_, reply, 1), 1u);
  EXPECT_TRUE(std::equal(r.begin(), r.end(), reply[0].data.begin()));
  EXPECT_EQ(reply[0].data.size(), 64u);
  client_->release(reply);
}

TEST_P(TransportConformanceTest, BurstsArriveWhole) {
  constexpr size_t kN = 100;
  std::vector<std::vector<std::byte>> payloads;
  std::vector<TxItem> items;
  for (size_t i = 0; i < kN; ++i) payloads.push_back(bytes(8 + i, static_cast<uint8_t>(i)));
  for (size_t i = 0; i < kN; ++i) items.push_back(TxItem{server_ep_, payloads[i], {}});
  size_t sent = 0;
  const uint64_t deadline = now_ns() + 5'000'000'000ull;
  while (sent < kN && now_ns() < deadline)
    sent += client_->tx_burst(std::span(items).subspan(sent));
  ASSERT_EQ(sent, kN);
  std::vector<PacketView> got;
  std::set<size_t> sizes;
  // Release as we go (oldest first) so that small rings never fill.
  const uint64_t until = now_ns() + 5'000'000'000ull;
  PacketView burst[16];
  while (sizes.size() < kN && now_ns() < until) {
    const size_t n = server_->rx_burst(burst);
    for (size_t i = 0; i < n; ++i) {
      const size_t len = burst[i].data.size();
      ASSERT_GE(len, 8u);
      const auto want = bytes(len, static_cast<uint8_t>(len - 8));
      ASSERT_TRUE(std::equal(want.begin(), want.end(), burst[i].data.begin())) << "size " << len;
      sizes.insert(len);
    }
    server_->release(std::span(burst, n));
    if (n == 0) server_->wait(1'000'000);
  }
  EXPECT_EQ(sizes.size(), kN) << "every packet, once";
}

TEST_P(TransportConformanceTest, MtuIsHonoured) {
  const uint32_t mtu = client_->mtu();
  EXPECT_GE(mtu, 1024u);
  const auto big = bytes(std::min(server_->mtu(), mtu), 5);
  const auto too_big = bytes(mtu + 1, 6);
  TxItem items[2] = {{server_ep_, too_big, {}}, {server_ep_, big, {}}};
  ASSERT_EQ(client_->tx_burst(items), 2u) << "an oversized packet is accepted and dropped";
  std::vector<PacketView> got;
  ASSERT_EQ(receive(*server_, got, 1), 1u);
  EXPECT_EQ(got[0].data.size(), big.size());
  server_->release(got);
  PacketView extra;
  EXPECT_EQ(server_->rx_burst(std::span(&extra, 1)), 0u) << "the oversized one never arrives";
}

TEST_P(TransportConformanceTest, ViewsStayValidUntilReleased) {
  // Eight packets of bytes 0..7, held; then eight of bytes 100..107 (different contents, so that
  // a held view overwritten by a later packet shows), then the first eight checked whole.
  auto send_all = [&](uint8_t base) {
    for (int i = 0; i < 8; ++i) {
      const auto d = bytes(200, static_cast<uint8_t>(base + i));
      TxItem t{server_ep_, d, {}};
      ASSERT_EQ(client_->tx_burst(std::span(&t, 1)), 1u);
    }
  };
  auto check = [](const std::vector<PacketView>& views, uint8_t base, const char* what) {
    std::set<int> seen;  // which of the eight payloads each view holds, whole
    for (const PacketView& v : views) {
      int which = -1;
      for (int i = 0; i < 8; ++i) {
        const auto want = bytes(200, static_cast<uint8_t>(base + i));
        if (v.data.size() == want.size() && std::equal(want.begin(), want.end(), v.data.begin()))
          which = i;
      }
      EXPECT_GE(which, 0) << what << ": a view holds none of its payloads (overwritten?)";
      seen.insert(which);
    }
    EXPECT_EQ(seen.size(), 8u) << what;
  };
  send_all(0);
  std::vector<PacketView> got;
  ASSERT_EQ(receive(*server_, got, 8), 8u);
  send_all(100);
  std::vector<PacketView> more;
  ASSERT_EQ(receive(*server_, more, 8), 8u);
  check(got, 0, "held views");
  check(more, 100, "later views");
  server_->release(got);
  server_->release(more);
}

TEST_P(TransportConformanceTest, NothingBlocks) {
  PacketView v[4];
  const uint64_t t0 = now_ns();
  EXPECT_EQ(server_->rx_burst(v), 0u);
  EXPECT_EQ(client_->rx_burst(v), 0u);
  EXPECT_LT(now_ns() - t0, 100'000'000u);
  // wait() returns by its timeout when nothing comes.
  server_->wait(20'000'000);
  EXPECT_LT(now_ns() - t0, 2'000'000'000u);
}

TEST_P(TransportConformanceTest, WaitWakesWhenAPacketArrives) {
  std::thread sender([&] {
    const auto p = bytes(32, 9);
    TxItem t{server_ep_, p, {}};
    while (client_->tx_burst(std::span(&t, 1)) != 1) {
    }
  });
  std::vector<PacketView> got;
  EXPECT_EQ(receive(*server_, got, 1), 1u);
  sender.join();
  server_->release(got);
}

TEST_P(TransportConformanceTest, ClientsHaveTheirOwnAddresses) {
  Endpoint s2;
  auto other = connect(server_->locator(), &s2);
  EXPECT_FALSE(other->local_endpoint() == client_->local_endpoint());
  const auto a = bytes(10, 1), b = bytes(11, 2);
  TxItem ta{server_ep_, a, {}}, tb{s2, b, {}};
  ASSERT_EQ(client_->tx_burst(std::span(&ta, 1)), 1u);
  ASSERT_EQ(other->tx_burst(std::span(&tb, 1)), 1u);
  std::vector<PacketView> got;
  ASSERT_EQ(receive(*server_, got, 2), 2u);
  for (const auto& v : got) {
    const Endpoint& want =
        v.data.size() == 10 ? client_->local_endpoint() : other->local_endpoint();
    EXPECT_EQ(v.from, want);
  }
  server_->release(got);
}

// tests/hw compiles this file a second time with CLIO_CONFORMANCE_HW: backends that need an RDMA
// device run there, under the ctest label hw.
#ifdef CLIO_CONFORMANCE_HW
#define CLIO_CONFORMANCE_BACKENDS "verbs"
#else
#define CLIO_CONFORMANCE_BACKENDS "inproc", "udp", "raweth", "raweth_v3"
#endif
INSTANTIATE_TEST_SUITE_P(AllBackends, TransportConformanceTest,
                         ::testing::Values(CLIO_CONFORMANCE_BACKENDS),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace clio::net

namespace clio::net {
namespace {

// Help that cannot drift: --help lists exactly each backend's key table, and the parser accepts
// every key of it and nothing else.
TEST(RegistryTest, HelpAndParserShareEachBackendsKeyTable) {
  const std::string help = transports_help();
  for (const Backend& b : backends()) {
    ASSERT_FALSE(b.keys().empty()) << b.name;
    EXPECT_NE(help.find("  " + std::string(b.name) + "\t"), std::string::npos) << b.name;
    EXPECT_NE(help.find(keys_help(b.keys())), std::string::npos) << b.name;
    Locator l;
    l.backend = b.name;
    for (const LocatorKey& k : b.keys()) {
      EXPECT_NE(help.find(std::string(k.key) + "=" + k.values), std::string::npos)
          << b.name << ": " << k.key;
      l.params[k.key] = "1";
    }
    EXPECT_NO_THROW(l.check_keys(b.keys())) << b.name;
    l.params["no_such_key"] = "1";
    EXPECT_THROW(l.check_keys(b.keys()), ConfigError) << b.name;
  }
  EXPECT_NE(help.find("mode=packet|xdp"), std::string::npos) << "raweth's AF_XDP mode";
  EXPECT_NE(help.find("queue="), std::string::npos);
  EXPECT_NE(help.find("poison=on|off"), std::string::npos);
  // A key that takes one of its table's values refuses others, naming them.
  Locator l = Locator::parse("inproc:name=x,poll=nope");
  try {
    l.get_choice("poll", "busy", InProcTransport::locator_keys());
    ADD_FAILURE() << "poll=nope accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("inproc locator: poll=nope (expected busy or sleep)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(
      Locator::parse("inproc:name=x").get_choice("poll", "busy", InProcTransport::locator_keys()),
      "busy");
  EXPECT_EQ(
      Locator::parse("udp:offload=off").get_choice("offload", "on", UdpTransport::locator_keys()),
      "off");
}

}  // namespace
}  // namespace clio::net

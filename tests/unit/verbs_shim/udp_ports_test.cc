// SPDX-License-Identifier: Apache-2.0
// udp: a served port belongs to one server. A second listen on it is refused with EADDRINUSE, a
// foreign socket that joins its SO_REUSEPORT group receives nothing, the workers of one server
// still share it with each client kept on one worker, and a client learns (peer_error) when
// nothing listens on the server's port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "verbs_shim/registry.h"
#include "verbs_shim/udp_transport.h"

namespace clio::net {
namespace {

using Workers = std::vector<std::unique_ptr<Transport>>;

/// `n` workers of one server on `host`, port chosen by the kernel, made the way MnServer
/// makes them (worker 0 first, the others on its member_locator()).
Workers listen_workers(const std::string& host, unsigned n) {
  Workers w;
  w.push_back(listen("udp:host=" + host + ",port=0", 0, n));
  for (unsigned i = 1; i < n; ++i) w.push_back(listen(w[0]->member_locator(), i, n));
  return w;
}

uint16_t port_of(const Transport& t) {
  const UdpAddress a = t.local_endpoint().as<UdpAddress>();
  return ntohs(a.sa.sa_family == AF_INET6 ? a.v6.sin6_port : a.v4.sin_port);
}

/// A plain socket of "another process": bound to host:port, with SO_REUSEPORT if asked. Returns
/// the fd, or -1 with errno from bind.
int foreign_socket(const std::string& host, uint16_t port, bool reuseport) {
  UdpAddress a{};
  if (host.find(':') != std::string::npos) {
    a.v6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, host.c_str(), &a.v6.sin6_addr);
    a.v6.sin6_port = htons(port);
  } else {
    a.v4.sin_family = AF_INET;
    inet_pton(AF_INET, host.c_str(), &a.v4.sin_addr);
    a.v4.sin_port = htons(port);
  }
  const int fd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  const int one = 1;
  if (reuseport) {
    EXPECT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
  }
  if (bind(fd, &a.sa, a.len()) != 0) {
    const int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/// The message listen() throws, or "" if it did not.
std::string listen_error(const std::string& locator, unsigned member, unsigned members) {
  try {
    auto t = listen(locator, member, members);
  } catch (const TransportError& e) {
    return e.what();
  }
  return "";
}

bool less(const Endpoint& a, const Endpoint& b) { return a.bytes < b.bytes; }

struct Delivery {
  size_t total = 0;
  std::vector<size_t> per_worker;
  std::map<Endpoint, std::set<size_t>, bool (*)(const Endpoint&, const Endpoint&)> workers_of{
      &less};
};

/// `clients` clients each send `each` packets to the server; polls every worker (never sleeps
/// blindly) until all arrived or 5 s passed.
Delivery send_and_collect(Workers& w, const std::string& locator, int clients, int each) {
  std::vector<std::unique_ptr<Transport>> c;
  std::vector<Endpoint> to(static_cast<size_t>(clients));
  for (int i = 0; i < clients; ++i) c.push_back(connect(locator, &to[static_cast<size_t>(i)]));
  const std::byte msg[16] = {};
  for (int r = 0; r < each; ++r)
    for (int i = 0; i < clients; ++i) {
      TxItem it{to[static_cast<size_t>(i)], msg, {}};
      EXPECT_EQ(c[static_cast<size_t>(i)]->tx_burst(std::span(&it, 1)), 1u);
    }
  Delivery d;
  d.per_worker.resize(w.size());
  const size_t want = static_cast<size_t>(clients) * static_cast<size_t>(each);
  const uint64_t deadline = now_ns() + 5'000'000'000ull;
  while (d.total < want && now_ns() < deadline) {
    for (size_t k = 0; k < w.size(); ++k) {
      PacketView v[32];
      const size_t n = w[k]->rx_burst(v);
      for (size_t j = 0; j < n; ++j) d.workers_of[v[j].from].insert(k);
      d.per_worker[k] += n;
      d.total += n;
      w[k]->release(std::span(v, n));
    }
  }
  return d;
}

size_t drain(int fd) {
  size_t n = 0;
  char buf[64];
  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0) ++n;
  return n;
}

bool have_ipv6_loopback() {
  const int fd = foreign_socket("::1", 0, false);
  if (fd < 0) return false;
  close(fd);
  return true;
}

TEST(UdpPortsTest, ASecondServerOnABoundPortIsRefusedWithEaddrinuse) {
  for (unsigned members : {1u, 3u}) {
    Workers w = listen_workers("127.0.0.1", members);
    const std::string again = w[0]->locator();
    for (unsigned second : {1u, 2u}) {
      const std::string msg = listen_error(again, 0, second);
      EXPECT_NE(msg.find("EADDRINUSE"), std::string::npos)
          << members << " worker(s) serve " << again << "; a second server of " << second
          << " worker(s) got: " << (msg.empty() ? "no error" : msg);
      EXPECT_NE(msg.find("already in use"), std::string::npos) << msg;
      try {  // and as data, for callers: the errno, not a sentence to search
        auto t = listen(again, 0, second);
        ADD_FAILURE() << "a second server on " << again;
      } catch (const TransportError& e) {
        EXPECT_EQ(e.err(), EADDRINUSE) << e.what();
      }
      EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(port_of(*w[0]))), std::string::npos) << msg;
    }
  }
  // Whoever holds the port, however they bound it.
  for (bool reuseport : {false, true}) {
    const int fd = foreign_socket("127.0.0.1", 0, reuseport);
    ASSERT_GE(fd, 0);
    UdpAddress a{};
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(fd, &a.sa, &len), 0);
    const std::string loc = "udp:host=127.0.0.1,port=" + std::to_string(ntohs(a.v4.sin_port));
    for (unsigned members : {1u, 2u}) {
      const std::string msg = listen_error(loc, 0, members);
      EXPECT_NE(msg.find("EADDRINUSE"), std::string::npos)
          << "a socket " << (reuseport ? "with" : "without") << " SO_REUSEPORT holds " << loc
          << "; listen with " << members << " member(s) got: " << (msg.empty() ? "no error" : msg);
    }
    close(fd);
  }
}

TEST(UdpPortsTest, AForeignSocketThatJoinsTheGroupLateReceivesNothing) {
  std::vector<std::string> hosts = {"127.0.0.1"};
  if (have_ipv6_loopback()) hosts.push_back("::1");
  for (const std::string& host : hosts) {
    for (unsigned n : {2u, 3u}) {
      Workers w = listen_workers(host, n);
      // Same user, SO_REUSEPORT, same address and port: the kernel lets it into the group.
      const int foreign = foreign_socket(host, port_of(*w[0]), true);
      ASSERT_GE(foreign, 0) << host << ": " << std::strerror(errno);
      constexpr int kClients = 64, kEach = 4;
      const Delivery d = send_and_collect(w, w[0]->locator(), kClients, kEach);
      EXPECT_EQ(d.total, static_cast<size_t>(kClients * kEach))
          << host << ", " << n << " workers: the workers lost packets";
      EXPECT_EQ(drain(foreign), 0u) << host << ", " << n << " workers: the foreign socket got some";
      close(foreign);
    }
  }
  // One worker shares with nobody: the foreign bind itself fails.
  Workers one = listen_workers("127.0.0.1", 1);
  EXPECT_EQ(foreign_socket("127.0.0.1", port_of(*one[0]), true), -1);
  EXPECT_EQ(errno, EADDRINUSE);
}

TEST(UdpPortsTest, AForeignSocketThatJoinsWhileTheWorkersStartStopsTheStart) {
  // It takes index 1 of the group, so worker 1 would be index 2, out of the steering's reach.
  auto w0 = listen("udp:host=127.0.0.1,port=0", 0, 2);
  const int foreign = foreign_socket("127.0.0.1", port_of(*w0), true);
  ASSERT_GE(foreign, 0) << std::strerror(errno);
  const std::string msg = listen_error(w0->member_locator(), 1, 2);
  EXPECT_NE(msg.find("another process joined"), std::string::npos)
      << (msg.empty() ? "no error" : msg);
  close(foreign);
}

TEST(UdpPortsTest, WorkersShareThePortAndEachClientSticksToOne) {
  std::vector<std::string> hosts = {"127.0.0.1", "0.0.0.0"};
  if (have_ipv6_loopback()) hosts.push_back("::1");
  for (const std::string& host : hosts) {
    for (unsigned n : {2u, 4u}) {
      Workers w = listen_workers(host, n);
      EXPECT_NE(w[0]->locator().find("host=" + host + ",port="), std::string::npos)
          << w[0]->locator();
      constexpr int kClients = 64, kEach = 6;
      const Delivery d = send_and_collect(w, w[0]->locator(), kClients, kEach);
      ASSERT_EQ(d.total, static_cast<size_t>(kClients * kEach)) << host << ", " << n << " workers";
      EXPECT_EQ(d.workers_of.size(), static_cast<size_t>(kClients));
      for (const auto& [from, workers] : d.workers_of)
        EXPECT_EQ(workers.size(), 1u) << host << ": a client met " << workers.size() << " workers";
      for (size_t k = 0; k < n; ++k)
        EXPECT_GT(d.per_worker[k], 0u) << host << ": worker " << k << " of " << n << " got nothing";
    }
  }
}

TEST(UdpPortsTest, MembersKeepTheServersOtherKeys) {
  auto w0 = listen("udp:host=127.0.0.1,port=0,poll=epoll,mtu=1400", 0, 2);
  const std::string m = w0->member_locator();
  EXPECT_NE(m.find("poll=epoll"), std::string::npos) << m;
  EXPECT_NE(m.find("mtu=1400"), std::string::npos) << m;
  EXPECT_NE(m.find("port=" + std::to_string(port_of(*w0))), std::string::npos) << m;
  auto w1 = listen(m, 1, 2);
  EXPECT_EQ(w1->mtu(), 1400u);
  EXPECT_EQ(w0->locator(), w1->locator());
  EXPECT_EQ(w0->locator().find("poll"), std::string::npos) << "clients dial only host and port";
}

/// A port on 127.0.0.1 where nothing listens (just released by a socket of ours).
uint16_t closed_port() {
  const int fd = foreign_socket("127.0.0.1", 0, false);
  EXPECT_GE(fd, 0);
  UdpAddress a{};
  socklen_t len = sizeof a;
  EXPECT_EQ(getsockname(fd, &a.sa, &len), 0);
  close(fd);
  return ntohs(a.v4.sin_port);
}

/// Polls `t` (rx_burst, then wait) until peer_error() is `want` or 2 s passed.
bool peer_error_becomes(Transport& t, int want) {
  const uint64_t deadline = now_ns() + 2'000'000'000ull;
  PacketView v[8];
  while (t.peer_error() != want && now_ns() < deadline) {
    const size_t n = t.rx_burst(v);
    t.release(std::span(v, n));
    if (n == 0 && t.peer_error() != want) t.wait(10'000'000);
  }
  return t.peer_error() == want;
}

TEST(UdpPortsTest, AClientLearnsThatNothingListensOnTheServersPort) {
  for (const char* poll : {"busy", "epoll"}) {
    const uint16_t port = closed_port();
    const std::string loc =
        "udp:host=127.0.0.1,port=" + std::to_string(port) + ",poll=" + std::string(poll);
    Endpoint server;
    auto c = connect(loc, &server);
    EXPECT_EQ(c->peer_error(), 0) << "nothing said yet";
    const std::byte msg[16] = {};
    TxItem it{server, msg, {}};
    ASSERT_EQ(c->tx_burst(std::span(&it, 1)), 1u);
    EXPECT_TRUE(peer_error_becomes(*c, ECONNREFUSED)) << poll << ": peer_error " << c->peer_error();
    // It stays until the server speaks again, sending included.
    ASSERT_EQ(c->tx_burst(std::span(&it, 1)), 1u);
    EXPECT_EQ(c->peer_error(), ECONNREFUSED);

    // A server comes up on the port; its first packet clears the error.
    auto s = listen("udp:host=127.0.0.1,port=" + std::to_string(port), 0, 1);
    EXPECT_TRUE(s->local_endpoint() == server) << "the server endpoint is the port's address";
    TxItem back{c->local_endpoint(), msg, {}};
    ASSERT_EQ(s->tx_burst(std::span(&back, 1)), 1u);
    EXPECT_TRUE(peer_error_becomes(*c, 0)) << poll << ": a packet from the server arrived";
    EXPECT_EQ(s->peer_error(), 0) << "servers never say";
  }
}

TEST(UdpPortsTest, AServerSendingToAGoneClientSaysNothing) {
  auto s = listen("udp:host=127.0.0.1,port=0", 0, 1);
  UdpAddress gone{};
  gone.v4.sin_family = AF_INET;
  gone.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  gone.v4.sin_port = htons(closed_port());
  const std::byte msg[16] = {};
  TxItem it{Endpoint::of(gone), msg, {}};
  ASSERT_EQ(s->tx_burst(std::span(&it, 1)), 1u);
  EXPECT_TRUE(peer_error_becomes(*s, 0));
  // And it keeps receiving: the client's ICMP did not poison the server socket.
  Endpoint to;
  auto c = connect(s->locator(), &to);
  TxItem hello{to, msg, {}};
  ASSERT_EQ(c->tx_burst(std::span(&hello, 1)), 1u);
  const uint64_t deadline = now_ns() + 2'000'000'000ull;
  size_t got = 0;
  PacketView v[8];
  while (got == 0 && now_ns() < deadline) {
    got = s->rx_burst(v);
    s->release(std::span(v, got));
  }
  EXPECT_EQ(got, 1u);
}

}  // namespace
}  // namespace clio::net

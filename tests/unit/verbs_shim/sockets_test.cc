// SPDX-License-Identifier: Apache-2.0
// verbs_shim/sockets.h: the control-side socket calls every backend shares. Resolution errors
// name the host, a held port names itself, connect keeps its deadline, read_all and write_all
// move whole messages and say why they stopped, and an error carries the hint of its errno.
#include "verbs_shim/sockets.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace clio::net {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;

/// A TCP listener on 127.0.0.1 with a kernel-chosen port.
UniqueFd listener(SockAddr* at) {
  *at = resolve("127.0.0.1", 0, SOCK_STREAM, "test");
  UniqueFd fd = open_socket(AF_INET, SOCK_STREAM, "test");
  bind_to(fd.get(), *at, "test");
  EXPECT_EQ(::listen(fd.get(), 4), 0);
  at->set_port(local_address(fd.get()).port());
  return fd;
}

TEST(SocketsTest, ResolvesNumericHostsBothFamilies) {
  const SockAddr v4 = resolve("127.0.0.1", 7400, SOCK_DGRAM, "test");
  EXPECT_EQ(v4.sa.sa_family, AF_INET);
  EXPECT_EQ(v4.port(), 7400);
  EXPECT_EQ(v4.host_port(), "127.0.0.1:7400");
  EXPECT_EQ(v4.len(), sizeof(sockaddr_in));
  const SockAddr v6 = resolve("::1", 9, SOCK_DGRAM, "test");
  EXPECT_EQ(v6.sa.sa_family, AF_INET6);
  EXPECT_EQ(v6.host_port(), "[::1]:9");
  EXPECT_EQ(v6.len(), sizeof(sockaddr_in6));
  SockAddr moved = v6;
  moved.set_port(65535);
  EXPECT_EQ(moved.port(), 65535);
}

TEST(SocketsTest, AnUnresolvableHostIsNamedInTheError) {
  try {
    resolve("no-such-host.invalid", 1, SOCK_DGRAM, "udp");
    FAIL() << "resolved a host that cannot exist";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::kNoDevice);
    EXPECT_NE(std::string(e.what()).find("udp: cannot resolve host 'no-such-host.invalid'"),
              std::string::npos)
        << e.what();
  }
}

TEST(SocketsTest, AHeldPortSaysWhoHoldsItAndTheHint) {
  SockAddr at;
  const UniqueFd first = listener(&at);
  const UniqueFd second = open_socket(AF_INET, SOCK_STREAM, "test");
  try {
    bind_to(second.get(), at, "rdma-rc", "is another server running?");
    FAIL() << "bound a port another socket holds";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.err(), EADDRINUSE);
    const std::string m = e.what();
    EXPECT_NE(m.find("rdma-rc: " + at.host_port() + " is already in use"), std::string::npos) << m;
    EXPECT_NE(m.find("is another server running?"), std::string::npos) << m;
  }
}

TEST(SocketsTest, ConnectsAndMovesWholeMessages) {
  SockAddr at;
  const UniqueFd l = listener(&at);
  const UniqueFd c = connect_stream(at, now_ns() + 5 * kSecond, "test");
  const UniqueFd s(accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  ASSERT_TRUE(s.valid());
  // More than a socket buffer holds, so that both sides must wait for each other.
  std::vector<char> out(8 << 20), in(out.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(i * 131 + 7);
  bool wrote = false;
  std::thread writer(
      [&] { wrote = write_all(c.get(), out.data(), out.size(), now_ns() + 20 * kSecond); });
  const bool read = read_all(s.get(), in.data(), in.size(), now_ns() + 20 * kSecond);
  writer.join();
  EXPECT_TRUE(wrote);
  ASSERT_TRUE(read);
  EXPECT_EQ(std::memcmp(in.data(), out.data(), out.size()), 0);
}

TEST(SocketsTest, ReadAllSaysWhyItStopped) {
  SockAddr at;
  const UniqueFd l = listener(&at);
  UniqueFd c = connect_stream(at, now_ns() + 5 * kSecond, "test");
  const UniqueFd s(accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  ASSERT_TRUE(s.valid());
  char buf[16];
  // Nothing comes: the deadline ends the read.
  const uint64_t deadline = now_ns() + 50'000'000;
  errno = 0;
  EXPECT_FALSE(read_all(s.get(), buf, sizeof buf, deadline));
  EXPECT_EQ(errno, ETIMEDOUT);
  EXPECT_GE(now_ns(), deadline);
  // Half a message, then the peer leaves: end of stream, not a short success.
  ASSERT_TRUE(write_all(c.get(), "12345678", 8, now_ns() + kSecond));
  c.reset();
  errno = 0;
  EXPECT_FALSE(read_all(s.get(), buf, sizeof buf, now_ns() + 5 * kSecond));
  EXPECT_EQ(errno, ECONNRESET);
}

TEST(SocketsTest, ConnectToANonListeningPortFailsWithTheHint) {
  SockAddr at;
  { const UniqueFd l = listener(&at); }  // the port is free again and nothing listens
  try {
    connect_stream(at, now_ns() + 5 * kSecond, "rdma-rc", "is clio-rdma-server running there?");
    FAIL() << "connected to a port nothing listens on";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.err(), ECONNREFUSED);
    EXPECT_EQ(e.kind(), TransportError::Kind::kNoServer);
    EXPECT_NE(std::string(e.what()).find("is clio-rdma-server running there?"), std::string::npos)
        << e.what();
  }
}

TEST(SocketsTest, AnErrorCarriesTheHintOfItsErrno) {
  errno = EPERM;
  const TransportError perm = last_error("raweth eth0", "socket", {{EPERM, "needs root"}});
  EXPECT_EQ(perm.kind(), TransportError::Kind::kPermission);
  EXPECT_EQ(perm.err(), EPERM);
  EXPECT_NE(std::string(perm.what()).find("raweth eth0: socket:"), std::string::npos);
  EXPECT_NE(std::string(perm.what()).find("; needs root"), std::string::npos) << perm.what();
  errno = EBUSY;
  const TransportError busy = last_error("raweth eth0", "socket", {{EPERM, "needs root"}});
  EXPECT_EQ(std::string(busy.what()).find("needs root"), std::string::npos) << busy.what();
  EXPECT_EQ(busy.err(), EBUSY);
}

}  // namespace
}  // namespace clio::net

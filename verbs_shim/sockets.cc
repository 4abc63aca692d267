// SPDX-License-Identifier: Apache-2.0
#include "verbs_shim/sockets.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"

namespace clio::net {
namespace {

int poll_ms(uint64_t deadline_ns, uint64_t now) {
  return static_cast<int>(std::min<uint64_t>((deadline_ns - now + 999'999) / 1'000'000, 1 << 30));
}

/// Moves exactly n bytes one way; see read_all().
bool move_all(int fd, std::byte* p, size_t n, bool writing, uint64_t deadline_ns) {
  while (n != 0) {
    const uint64_t now = now_ns();
    if (now >= deadline_ns) {
      errno = ETIMEDOUT;
      return false;
    }
    pollfd pf{fd, static_cast<short>(writing ? POLLOUT : POLLIN), 0};
    const int r = poll(&pf, 1, poll_ms(deadline_ns, now));
    if (r < 0 && errno != EINTR) return false;
    if (r <= 0) continue;
    const ssize_t k =
        writing ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd, p, n, MSG_DONTWAIT);
    if (k == 0) {
      errno = ECONNRESET;
      return false;
    }
    if (k < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return false;
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

}  // namespace

uint16_t SockAddr::port() const {
  return ntohs(sa.sa_family == AF_INET6 ? v6.sin6_port : v4.sin_port);
}

void SockAddr::set_port(uint16_t port) {
  if (sa.sa_family == AF_INET6)
    v6.sin6_port = htons(port);
  else
    v4.sin_port = htons(port);
}

std::string SockAddr::host() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (sa.sa_family != AF_INET6) {
    inet_ntop(AF_INET, &v4.sin_addr, buf, sizeof buf);
    return buf;
  }
  inet_ntop(AF_INET6, &v6.sin6_addr, buf, sizeof buf);
  std::string s = buf;
  char name[IF_NAMESIZE];
  if (v6.sin6_scope_id != 0 && if_indextoname(v6.sin6_scope_id, name) != nullptr)
    s += std::string("%") + name;
  return s;
}

std::string SockAddr::host_port() const {
  const std::string h = host();
  return (sa.sa_family == AF_INET6 ? "[" + h + "]" : h) + ":" + std::to_string(port());
}

TransportError last_error(const std::string& what, const char* call, const std::string& hint) {
  const int e = errno;
  return sys_error(what, call, e, hint);
}

TransportError last_error(const std::string& what, const char* call,
                          std::initializer_list<ErrnoHint> hints) {
  const int e = errno;
  for (const ErrnoHint& h : hints)
    if (h.err == e) return sys_error(what, call, e, h.hint);
  return sys_error(what, call, e);
}

SockAddr resolve(const std::string& host, uint16_t port, int socktype, const std::string& what,
                 bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* res = nullptr;
  const std::string p = std::to_string(port);
  const int rc =
      getaddrinfo(host.empty() && passive ? nullptr : host.c_str(), p.c_str(), &hints, &res);
  if (rc != 0)
    throw TransportError(TransportError::Kind::kNoDevice,
                         what + ": cannot resolve host '" + host + "': " + gai_strerror(rc));
  SockAddr a{};
  std::memcpy(&a, res->ai_addr, std::min<size_t>(res->ai_addrlen, sizeof a));
  freeaddrinfo(res);
  return a;
}

UniqueFd open_socket(int family, int type, const std::string& what) {
  UniqueFd fd(socket(family, type | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw last_error(what, "socket");
  return fd;
}

void bind_to(int fd, const SockAddr& a, const std::string& what, const std::string& in_use_hint) {
  if (bind(fd, &a.sa, a.len()) == 0) return;
  const int e = errno;
  if (e == EADDRINUSE && a.port() != 0)
    throw TransportError(TransportError::Kind::kSystem,
                         what + ": " + a.host_port() +
                             " is already in use by another process (EADDRINUSE)" +
                             (in_use_hint.empty() ? "" : "; " + in_use_hint),
                         EADDRINUSE);
  throw sys_error(what + " (bind " + a.host_port() + ")", "bind", e);
}

SockAddr local_address(int fd) {
  SockAddr a{};
  socklen_t len = sizeof a;
  getsockname(fd, &a.sa, &len);
  return a;
}

UniqueFd connect_stream(const SockAddr& to, uint64_t deadline_ns, const std::string& what,
                        const std::string& hint) {
  UniqueFd fd = open_socket(to.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK, what);
  const std::string where = what + " (connecting to " + to.host_port() + ")";
  if (::connect(fd.get(), &to.sa, to.len()) == 0) return fd;
  if (errno != EINPROGRESS) throw last_error(where, "connect", hint);
  for (;;) {
    const uint64_t now = now_ns();
    if (now >= deadline_ns)
      throw TransportError(
          TransportError::Kind::kTimeout,
          where + ": no connection before the deadline" + (hint.empty() ? "" : "; " + hint),
          ETIMEDOUT);
    pollfd pf{fd.get(), POLLOUT, 0};
    const int r = poll(&pf, 1, poll_ms(deadline_ns, now));
    if (r < 0 && errno != EINTR) throw last_error(where, "poll");
    if (r > 0) break;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) throw sys_error(where, "connect", err, hint);
  return fd;
}

bool read_all(int fd, void* buf, size_t n, uint64_t deadline_ns) {
  return move_all(fd, static_cast<std::byte*>(buf), n, false, deadline_ns);
}

bool write_all(int fd, const void* buf, size_t n, uint64_t deadline_ns) {
  return move_all(fd, static_cast<std::byte*>(const_cast<void*>(buf)), n, true, deadline_ns);
}

}  // namespace clio::net

// SPDX-License-Identifier: Apache-2.0
// The socket calls every backend makes on its control side (the datapaths keep their own
// batched calls): resolving a host, opening and binding, connecting with a deadline, reading and
// writing all of a message, and the one error a failed call becomes. Each function throws
// TransportError with the backend's prefix (`what`) in its message, and every descriptor it
// hands out is owned by a UniqueFd, so that no path (an exception half-way included) leaks one.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "common/unique_fd.h"
#include "verbs_shim/transport.h"

namespace clio::net {

/// An IPv4 or IPv6 socket address, as getaddrinfo and getsockname produce it.
union SockAddr {
  sockaddr sa;
  sockaddr_in v4;
  sockaddr_in6 v6;
  socklen_t len() const { return sa.sa_family == AF_INET6 ? sizeof v6 : sizeof v4; }
  uint16_t port() const;
  void set_port(uint16_t port);
  /// The numeric host, with "%<interface>" for an IPv6 link-local one, as getaddrinfo reads it.
  std::string host() const;
  /// "127.0.0.1:7400", "[::1]:7400": for messages.
  std::string host_port() const;
};

/// sys_error() for the system call that just failed: reads errno first, before any other call
/// can change it. The one error every backend's set-up throws.
TransportError last_error(const std::string& what, const char* call, const std::string& hint = "");

/// A hint for one errno value (e.g. EPERM: which privilege the call needs).
struct ErrnoHint {
  int err;
  const char* hint;
};
/// last_error() with the hint of the errno that came, if `hints` has one.
TransportError last_error(const std::string& what, const char* call,
                          std::initializer_list<ErrnoHint> hints);

/// host:port as a socket address (numeric hosts and names, IPv4 or IPv6). `passive`: a wildcard
/// for an empty host. Throws kNoDevice "<what>: cannot resolve host '<host>': <reason>".
SockAddr resolve(const std::string& host, uint16_t port, int socktype, const std::string& what,
                 bool passive = false);

/// socket(family, type | SOCK_CLOEXEC).
UniqueFd open_socket(int family, int type, const std::string& what);

/// bind(fd, a); EADDRINUSE on a fixed port says who holds it ("<what>: <host:port> is already in
/// use by another process (EADDRINUSE)", then `in_use_hint`).
void bind_to(int fd, const SockAddr& a, const std::string& what,
             const std::string& in_use_hint = "");

/// What `fd` is bound to (getsockname).
SockAddr local_address(int fd);

/// A stream socket connected to `to` before `deadline_ns` (now_ns()), left non-blocking; throws
/// kTimeout when the deadline passes first, else the connect error (`hint` appended: which
/// server should be listening there).
UniqueFd connect_stream(const SockAddr& to, uint64_t deadline_ns, const std::string& what,
                        const std::string& hint = "");

/// Reads exactly n bytes from non-blocking `fd` before `deadline_ns`; false on end of stream
/// (errno ECONNRESET), an error (its errno) or the deadline (errno ETIMEDOUT).
bool read_all(int fd, void* buf, size_t n, uint64_t deadline_ns);
/// Writes exactly n bytes, as read_all reads them (never raises SIGPIPE).
bool write_all(int fd, const void* buf, size_t n, uint64_t deadline_ns);

}  // namespace clio::net

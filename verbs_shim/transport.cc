// SPDX-License-Identifier: Apache-2.0
#include "verbs_shim/transport.h"

#include <cerrno>
#include <cstring>

namespace clio::net {

TransportError::Kind TransportError::kind_of(int err) {
  switch (err) {
    case ECONNREFUSED:
      return Kind::kNoServer;
    case ENODEV:
    case ENXIO:
    case EADDRNOTAVAIL:
      return Kind::kNoDevice;
    case EPERM:
    case EACCES:
      return Kind::kPermission;
    case ETIMEDOUT:
      return Kind::kTimeout;
    default:
      return Kind::kSystem;
  }
}

TransportError sys_error(const std::string& what, const char* call, int err,
                         const std::string& hint) {
  // Some providers report failure without setting errno; say so rather than print "Success".
  std::string msg =
      what + ": " + call + ": " +
      (err != 0 ? std::string(std::strerror(err)) : std::string("failed, errno not set")) +
      " (errno " + std::to_string(err) + ")";
  if (!hint.empty()) msg += (hint.front() == '\n' ? "" : "; ") + hint;
  return TransportError(TransportError::kind_of(err), msg, err);
}

}  // namespace clio::net

// SPDX-License-Identifier: Apache-2.0
#include "cn/errors.h"

#include <cerrno>

#include "clio/client.h"

namespace clio::cn {

namespace {

struct ErrnoMessage {
  int err;  ///< positive
  const char* message;
};

// Errnos that no single status explains: CLib's own conditions, and errnos that several
// statuses (or a status and a local condition) share. Every other errno's sentence is its
// status's, in common/status.cc.
constexpr ErrnoMessage kClibMessages[] = {
    {EACCES, "permission denied: read-only memory or key, or the address space was closed"},
    {ETIMEDOUT, "the memory node did not answer before the deadline (unreachable or down)"},
    {EAGAIN, "the memory node stayed busy until the deadline, or too many requests are unfinished"},
    {EPROTO, "protocol error: the memory node did not understand a request"},
    {EPERM, "not the holder of this lock"},
    {EDEADLK, "this thread already holds the lock"},
    {ECONNREFUSED, "no memory node is listening at that locator"},
    {ENETUNREACH, "the transport could not be set up (see the log for the reason)"},
    {ENOSPC, "the buffer is too small"},
};

}  // namespace

const char* clib_error_message(int err) {
  for (const ErrnoMessage& m : kClibMessages)
    if (m.err == err) return m.message;
  return nullptr;
}

}  // namespace clio::cn

namespace clio {

// Declared in clio/client.h: part of the API, so in namespace clio.
const char* error_string(int err) {
  if (err > 0 || err < -4095) return "unknown error";  // no errno (and -INT_MIN overflows)
  if (const char* m = cn::clib_error_message(-err)) return m;
  for (const StatusInfo& s : all_statuses())
    if (s.err == -err) return s.message;
  return "unknown error";
}

}  // namespace clio

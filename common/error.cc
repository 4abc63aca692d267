// SPDX-License-Identifier: Apache-2.0
#include "common/error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/check.h"

namespace clio {

Error system_error(const std::string& what, const char* call, int err) {
  return Error(what + ": " + call + ": " + std::strerror(err) + " (errno " + std::to_string(err) +
               ")");
}

void check_failed(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "CLIO_CHECK failed: %s at %s:%d %s\n", expr, file, line, msg);
  std::fflush(stderr);
  std::abort();
}

}  // namespace clio

// SPDX-License-Identifier: Apache-2.0
#include "common/rng.h"

#include <sys/random.h>

#include <cerrno>

#include "common/error.h"

namespace clio {

uint64_t random_key() {
  for (;;) {
    uint64_t k = 0;
    ssize_t n = getrandom(&k, sizeof k, 0);
    if (n == static_cast<ssize_t>(sizeof k)) {
      if (k != 0) return k;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    throw system_error("random key", "getrandom", n < 0 ? errno : EIO);
  }
}

}  // namespace clio

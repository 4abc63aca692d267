// SPDX-License-Identifier: Apache-2.0
// A second program for the multi-process tests: attaches to an address space by token, as a
// process on another compute node would, and does one thing. Prints "rc=<int> value=<u64>".
//   clio_helper read  TOKEN ADDR
//   clio_helper write TOKEN ADDR VALUE
//   clio_helper lock-increment TOKEN LOCK_ADDR COUNTER_ADDR N
#include <cstdio>
#include <cstdlib>
#include <string>

#include "clio/clio.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: clio_helper read|write|lock-increment TOKEN ADDR ...\n");
    return 2;
  }
  const std::string cmd = argv[1];
  clio_client* c = nullptr;
  int rc = clio_attach(argv[2], &c);
  uint64_t value = 0;
  const uint64_t addr = std::strtoull(argv[3], nullptr, 0);
  if (rc == 0 && cmd == "read") {
    rc = clio_rread(c, addr, &value, 8);
  } else if (rc == 0 && cmd == "write" && argc == 5) {
    value = std::strtoull(argv[4], nullptr, 0);
    rc = clio_rwrite(c, addr, &value, 8);
  } else if (rc == 0 && cmd == "lock-increment" && argc == 6) {
    const uint64_t counter = std::strtoull(argv[4], nullptr, 0);
    const long n = std::atol(argv[5]);
    for (long i = 0; i < n && rc == 0; ++i) {
      rc = clio_rlock(c, addr);
      if (rc != 0) break;
      uint64_t v = 0;
      rc = clio_rread(c, counter, &v, 8);
      ++v;
      if (rc == 0) rc = clio_rwrite(c, counter, &v, 8);
      const int u = clio_runlock(c, addr);
      if (rc == 0) rc = u;
      value = v;
    }
  } else if (rc == 0) {
    rc = -22;
  }
  std::printf("rc=%d value=%llu\n", rc, static_cast<unsigned long long>(value));
  if (c != nullptr) clio_close(c);
  return 0;
}

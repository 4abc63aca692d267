// SPDX-License-Identifier: Apache-2.0
//
// hello_cpp: the C++ API (clio/client.h). A shared counter updated by several threads, each with
// its own requests in flight, and a page copied with asynchronous reads and writes.
//
//   hello_cpp [LOCATOR]   (default: $CLIO_MN, else udp:host=127.0.0.1,port=7400)
//
// Exits 0 when every answer was the expected one, 1 otherwise.
#include <clio/client.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

void check(int rc, const char* what) {
  if (rc < 0) {
    std::fprintf(stderr, "hello_cpp: %s: %s\n", what, clio::error_string(rc));
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("CLIO_MN");
  const std::string locator = argc > 1 ? argv[1] : env ? env : "udp:host=127.0.0.1,port=7400";

  std::unique_ptr<clio::Client> c;
  check(clio::Client::open(locator, &c), "open");
  uint64_t base;
  check(c->ralloc(64 * 1024, &base), "ralloc");

  // Threads share one client; each gets its own endpoint and request state.
  constexpr int kThreads = 4, kAdds = 100;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < kAdds; ++i) {
        uint64_t old;
        check(c->rfaa(base, 1, &old), "rfaa");
      }
    });
  for (auto& t : ts) t.join();
  uint64_t total = 0;
  check(c->rread(base, &total, sizeof total), "rread");
  if (total != kThreads * kAdds) {
    std::fprintf(stderr, "hello_cpp: counter %llu, expected %d\n",
                 static_cast<unsigned long long>(total), kThreads * kAdds);
    return 1;
  }

  // Write a page, copy it to the next one with an asynchronous read and write, check the copy.
  std::array<char, 4096> page, copy, check_buf;
  for (size_t i = 0; i < page.size(); ++i) page[i] = static_cast<char>('A' + i % 26);
  check(c->rwrite(base + 4096, page.data(), page.size()), "rwrite");
  clio::Handle h;
  check(c->rread_async(base + 4096, copy.data(), copy.size(), &h), "rread_async");
  check(c->rwait(std::move(h)), "rwait");
  check(c->rwrite_async(base + 8192, copy.data(), copy.size(), &h), "rwrite_async");
  check(c->rwait(std::move(h)), "rwait");
  check(c->rread(base + 8192, check_buf.data(), check_buf.size()), "rread");
  if (std::memcmp(check_buf.data(), page.data(), page.size()) != 0) {
    std::fprintf(stderr, "hello_cpp: the copied page differs\n");
    return 1;
  }
  check(c->close(), "close");
  std::printf("hello_cpp: %d threads added %d, and a page was copied, on %s\n", kThreads,
              kThreads * kAdds, locator.c_str());
  return 0;
}

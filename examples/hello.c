/* SPDX-License-Identifier: Apache-2.0
 *
 * hello: the C API in one page. Allocates remote memory, writes and reads it back, updates a
 * counter with atomics, and moves a few pages asynchronously in one batch.
 *
 *   hello [LOCATOR]    (default: $CLIO_MN, else udp:host=127.0.0.1,port=7400)
 *
 * The memory node's credential comes from $CLIO_AUTH_FILE (see clio-mn --auth-file). Exits 0
 * when every answer was the expected one, 1 otherwise.
 */
#include <clio/clio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                  \
  do {                                                               \
    int rc_ = (call);                                                \
    if (rc_ < 0) {                                                   \
      fprintf(stderr, "hello: %s: %s\n", #call, clio_strerror(rc_)); \
      exit(1);                                                       \
    }                                                                \
  } while (0)

#define EXPECT(cond)                                  \
  do {                                                \
    if (!(cond)) {                                    \
      fprintf(stderr, "hello: expected %s\n", #cond); \
      exit(1);                                        \
    }                                                 \
  } while (0)

enum { kPages = 8, kPage = 4096 };

int main(int argc, char** argv) {
  const char* locator = argc > 1 ? argv[1] : getenv("CLIO_MN");
  if (locator == NULL) locator = "udp:host=127.0.0.1,port=7400";

  clio_client* c;
  CHECK(clio_open(locator, &c));
  uint64_t base;
  CHECK(clio_ralloc(c, 1 << 20, &base));

  /* Synchronous: each call returns once the memory node has executed it. */
  const char greeting[] = "hello, remote memory";
  char back[sizeof greeting];
  CHECK(clio_rwrite(c, base, greeting, sizeof greeting));
  CHECK(clio_rread(c, base, back, sizeof back));
  EXPECT(memcmp(back, greeting, sizeof greeting) == 0);

  /* Atomics on an 8-byte aligned word (fresh memory reads as zeros). */
  uint64_t counter = base + 4096, old;
  CHECK(clio_rfaa(c, counter, 5, &old));
  EXPECT(old == 0);
  CHECK(clio_rcas(c, counter, 5, 42, &old));
  EXPECT(old == 5);
  CHECK(clio_rcas(c, counter, 5, 7, &old)); /* fails: the word is 42 now */
  EXPECT(old == 42);

  /* Asynchronous: a batch of page writes leaves together; poll the same array until every
   * handle is done (clio_rpoll sets a completed handle's id to 0 and skips it from then on). */
  static char out[kPages][kPage], in[kPages][kPage];
  clio_handle h[kPages];
  int done[kPages];
  CHECK(clio_rbatch_begin(c));
  for (int i = 0; i < kPages; ++i) {
    memset(out[i], 'a' + i, kPage);
    done[i] = CLIO_PENDING;
    CHECK(clio_rwrite_async(c, base + 8192 + (uint64_t)i * kPage, out[i], kPage, &h[i]));
  }
  CHECK(clio_rbatch_end(c));
  for (int left = kPages; left > 0;) {
    int n = clio_rpoll(c, h, kPages, done);
    CHECK(n);
    left -= n;
  }
  for (int i = 0; i < kPages; ++i) CHECK(done[i]);
  /* Reads after the writes: release-ordered, so each sees its page's write. */
  for (int i = 0; i < kPages; ++i)
    CHECK(clio_rread_async(c, base + 8192 + (uint64_t)i * kPage, in[i], kPage, &h[i]));
  for (int i = 0; i < kPages; ++i) CHECK(clio_rwait(c, h[i]));
  EXPECT(memcmp(in, out, sizeof out) == 0);

  CHECK(clio_rfree(c, base));
  EXPECT(clio_rread(c, base, back, 1) == -EFAULT); /* freed: no longer addressable */
  CHECK(clio_close(c));
  printf("hello: %s served %d synchronous, 3 atomic and %d asynchronous requests correctly\n",
         locator, 2, 2 * kPages);
  return 0;
}

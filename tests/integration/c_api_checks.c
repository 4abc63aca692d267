/* SPDX-License-Identifier: Apache-2.0 */
/* Compiled as C: proves clio/clio.h is a C header and the library links into C programs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clio/clio.h"

#define EXPECT(cond)                                                  \
  do {                                                                \
    if (!(cond)) {                                                    \
      snprintf(why, why_len, "%s:%d: %s", __FILE__, __LINE__, #cond); \
      return 1;                                                       \
    }                                                                 \
  } while (0)

int run_c_api_checks(const char* locator, char* why, size_t why_len) {
  clio_client* c = NULL;
  uint64_t addr = 0, old = 0, word = 0;
  char buf[10000], back[10000];
  size_t i;

  EXPECT(clio_open(locator, &c) == 0 && c != NULL);
  EXPECT(clio_ralloc(c, sizeof buf, &addr) == 0);
  for (i = 0; i < sizeof buf; ++i) buf[i] = (char)(i * 13);
  EXPECT(clio_rwrite(c, addr, buf, sizeof buf) == 0);
  EXPECT(clio_rread(c, addr, back, sizeof back) == 0);
  EXPECT(memcmp(buf, back, sizeof buf) == 0);
  EXPECT(clio_rcas(c, addr + 10000, 0, 42, &old) == 0 && old == 0);
  EXPECT(clio_rfaa(c, addr + 10000, 8, &old) == 0 && old == 42);
  EXPECT(clio_rread(c, addr + 10000, &word, 8) == 0 && word == 50);
  EXPECT(clio_rcas(c, addr + 3, 0, 1, &old) == -EINVAL);
  EXPECT(clio_rread(c, addr + (1u << 24), &word, 8) == -EFAULT);
  EXPECT(clio_rfree(c, addr) == 0);
  EXPECT(clio_rread(c, addr, &word, 8) == -EFAULT);
  EXPECT(strlen(clio_strerror(-EFAULT)) > 10);
  EXPECT(strlen(clio_strerror(-ETIMEDOUT)) > 10);
  EXPECT(strcmp(clio_strerror(0), "success") == 0);
  EXPECT(clio_open(NULL, &c) == -EINVAL);
  EXPECT(clio_rread(NULL, 0, buf, 1) == -EINVAL);

  /* Asynchronous calls, fences, locks. */
  {
    clio_handle hs[3];
    int done[3] = {CLIO_PENDING, CLIO_PENDING, CLIO_PENDING};
    int finished = 0, n;
    uint64_t area;
    char a1[100], a2[100];
    memset(a1, 'x', sizeof a1);
    EXPECT(clio_ralloc(c, 3 * 4096, &area) == 0);
    EXPECT(clio_rwrite_async(c, area, a1, sizeof a1, &hs[0]) == 0);
    EXPECT(clio_rfence(c) == 0);
    EXPECT(clio_rread_async(c, area, a2, sizeof a2, &hs[1]) == 0); /* ordered after the write */
    EXPECT(clio_rread_async(c, area + (1u << 30), a2, 8, &hs[2]) == 0);
    while (finished < 3) { /* the loop people write: poll the same array until all are done */
      n = clio_rpoll(c, hs, 3, done);
      EXPECT(n >= 0);
      finished += n;
      for (i = 0; i < 3; ++i) /* a completed handle comes back with id 0, a pending one not */
        EXPECT((done[i] == CLIO_PENDING) == (hs[i].id == 0 ? 0 : 1));
    }
    EXPECT(done[0] == 0 && done[1] == 0 && done[2] == -EFAULT);
    EXPECT(clio_rpoll(c, hs, 3, done) == 0); /* every id is 0: skipped */
    EXPECT(memcmp(a1, a2, sizeof a1) == 0);
    EXPECT(clio_rwrite_async(c, area + 4096, a1, 8, &hs[0]) == 0);
    EXPECT(clio_rwait(c, hs[0]) == 0);
    EXPECT(clio_rwait(c, hs[0]) == -EINVAL);
    EXPECT(clio_rrelease(c) == 0);
    EXPECT(clio_rbatch_end(c) == -EINVAL); /* no batch open */
    EXPECT(clio_rbatch_begin(c) == 0);
    EXPECT(clio_rwrite_async(c, area + 4096, a1, 8, &hs[0]) == 0);
    EXPECT(clio_rread_async(c, area, a2, 8, &hs[1]) == 0);
    EXPECT(clio_rbatch_end(c) == 0);
    EXPECT(clio_rwait(c, hs[0]) == 0 && clio_rwait(c, hs[1]) == 0);
    EXPECT(clio_rlock(c, area + 8192) == 0);
    EXPECT(clio_runlock(c, area + 8192) == 0);
    EXPECT(clio_runlock(c, area + 8192) == -EPERM);
  }

  /* Sharing and placement. */
  {
    char token[CLIO_TOKEN_MAX];
    char tiny[8];
    clio_client* other = NULL;
    uint64_t area, v = 77, w = 0;
    EXPECT(clio_ralloc(c, 4096, &area) == 0);
    EXPECT(clio_rwrite(c, area, &v, 8) == 0);
    EXPECT(clio_export(c, 0, tiny, sizeof tiny) == -ENOSPC);
    EXPECT(clio_export(c, 0, token, sizeof token) == 0);
    EXPECT(clio_attach(token, &other) == 0);
    EXPECT(clio_rread(other, area, &w, 8) == 0 && w == 77);
    EXPECT(clio_rwrite(other, area, &v, 8) == -EACCES);
    EXPECT(clio_close(other) == 0);
    EXPECT(clio_mn_count(c) == 1);
    EXPECT(clio_mn_of(area) == 0);
    EXPECT(clio_placement(c) == CLIO_PLACE_SPREAD);
    EXPECT(clio_set_placement(c, CLIO_PLACE_LEAST_USED) == 0);
    EXPECT(clio_set_placement(c, 9) == -EINVAL);
  }
  EXPECT(clio_close(c) == 0);
  return 0;
}

/* Compiled as C: proves clio/clio.h is a C header and the library links into C programs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clio/clio.h"

#define EXPECT(cond)                                                     \
  do {                                                                   \
    if (!(cond)) {                                                       \
      snprintf(why, why_len, "%s:%d: %s", __FILE__, __LINE__, #cond);    \
      return 1;                                                          \
    }                                                                    \
  } while (0)

int run_c_api_checks(const char *locator, char *why, size_t why_len) {
  clio_client *c = NULL;
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
  EXPECT(clio_close(c) == 0);
  return 0;
}

/* SPDX-License-Identifier: Apache-2.0
 *
 * share: two processes share remote memory. The owner opens an address space, writes a message,
 * exports a token, and starts a second process that attaches with the token, reads the message
 * and writes an answer; the owner reads the answer back. Processes on different compute nodes
 * share memory the same way (the token is printable: send it any way you like).
 *
 *   share [LOCATOR]            the owner (default: $CLIO_MN, else udp:host=127.0.0.1,port=7400)
 *   share --attach TOKEN ADDR  the second process (started by the owner)
 *
 * Exits 0 when the answer arrived intact, 1 otherwise.
 */
#include <clio/clio.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

static const char kMessage[] = "a message from the owner";
static const char kAnswer[] = "an answer from the attacher";

static int fail(const char* who, const char* what, int rc) {
  fprintf(stderr, "share (%s): %s: %s\n", who, what, clio_strerror(rc));
  return 1;
}

static int attacher(const char* token, uint64_t addr) {
  clio_client* c;
  int rc = clio_attach(token, &c);
  if (rc < 0) return fail("attacher", "clio_attach", rc);
  char msg[sizeof kMessage];
  if ((rc = clio_rread(c, addr, msg, sizeof msg)) < 0) return fail("attacher", "clio_rread", rc);
  if (memcmp(msg, kMessage, sizeof msg) != 0) {
    fprintf(stderr, "share (attacher): read something else than the owner's message\n");
    return 1;
  }
  if ((rc = clio_rwrite(c, addr + 4096, kAnswer, sizeof kAnswer)) < 0)
    return fail("attacher", "clio_rwrite", rc);
  return clio_close(c) < 0 ? 1 : 0; /* lets go; frees nothing of the owner's */
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "--attach") == 0)
    return attacher(argv[2], strtoull(argv[3], NULL, 0));
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    fprintf(stderr, "usage: share [LOCATOR]\n");
    return 2;
  }
  const char* locator = argc > 1 ? argv[1] : getenv("CLIO_MN");
  if (locator == NULL) locator = "udp:host=127.0.0.1,port=7400";

  clio_client* c;
  uint64_t addr;
  int rc = clio_open(locator, &c);
  if (rc < 0) return fail("owner", "clio_open", rc);
  if ((rc = clio_ralloc(c, 1 << 16, &addr)) < 0) return fail("owner", "clio_ralloc", rc);
  if ((rc = clio_rwrite(c, addr, kMessage, sizeof kMessage)) < 0)
    return fail("owner", "clio_rwrite", rc);
  char token[CLIO_TOKEN_MAX];
  if ((rc = clio_export(c, /*writable=*/1, token, sizeof token)) < 0)
    return fail("owner", "clio_export", rc);

  /* The second process: this program again, in attacher mode. */
  char self[4096], addr_text[32];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    perror("share (owner): readlink /proc/self/exe");
    return 1;
  }
  self[n] = '\0';
  snprintf(addr_text, sizeof addr_text, "0x%" PRIx64, addr);
  char* child_argv[] = {self, "--attach", token, addr_text, NULL};
  pid_t pid;
  int status;
  if ((rc = posix_spawn(&pid, self, NULL, NULL, child_argv, environ)) != 0) {
    fprintf(stderr, "share (owner): posix_spawn: %s\n", strerror(rc));
    return 1;
  }
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "share (owner): the attacher failed\n");
    return 1;
  }
  char answer[sizeof kAnswer];
  if ((rc = clio_rread(c, addr + 4096, answer, sizeof answer)) < 0)
    return fail("owner", "clio_rread", rc);
  if (memcmp(answer, kAnswer, sizeof answer) != 0) {
    fprintf(stderr, "share (owner): the answer is not there\n");
    return 1;
  }
  if ((rc = clio_close(c)) < 0) return fail("owner", "clio_close", rc);
  printf("share: a second process attached, read the owner's message and answered, on %s\n",
         locator);
  return 0;
}

/*
 * CLib, the Clio client library: the C API.
 *
 * A program opens a remote address space on a memory node (MN), allocates remote memory in it,
 * and reads, writes and updates that memory. This header is the contract outside programs
 * compile against; names and semantics are stable.
 *
 * Conventions: every function returns 0 on success or a negative errno:
 *   -EFAULT     the address is in no allocation (never allocated, or freed)
 *   -EACCES     the access is not permitted (read-only memory or key, revoked address space)
 *   -ENOMEM     the memory node is out of remote memory
 *   -EINVAL     a bad argument (null pointer, misaligned atomic, malformed locator, ...)
 *   -ETIMEDOUT  the memory node did not answer within the deadline (unreachable or dead)
 *   -EAGAIN     the memory node kept answering "busy" until the deadline
 *   -EIO        outcome unknown: after many losses a retransmission reached the MN so late that it
 *               could no longer tell whether the first attempt ran, so it did not run it again
 *               (writes and atomics never take effect twice; this is the price)
 * clio_strerror() turns any of them into a sentence.
 *
 * Calls are synchronous and strictly ordered: each returns when the MN has executed it. Requests
 * are retransmitted on loss with the same effect as one execution (no doubled atomic, no lost
 * update). A clio_client is used by one thread at a time.
 *
 * Locators name the MN and the transport, e.g. "udp:host=10.0.0.2,port=7400" or
 * "inproc:name=mn0". CLib also reads these keys from the locator:
 *   deadline_ms=<n>  how long a call may take before -ETIMEDOUT   [5000]
 *   rto_us=<n>       first retransmission timeout (doubles per retry, to 100 ms) [1000]
 *   window=<n>       packets of one call in flight at once        [64]
 */
#ifndef CLIO_CLIO_H_
#define CLIO_CLIO_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clio_client clio_client;

/* Creates a remote address space on the MN `mn_locator` names; *out receives the client. */
int clio_open(const char *mn_locator, clio_client **out);
/* Destroys the address space (freeing everything in it) and the client, even when the MN cannot
 * be reached (then it returns -ETIMEDOUT). `c` is invalid afterwards. */
int clio_close(clio_client *c);

/* Allocates `size` bytes of remote memory (rounded up to the MN's pages); *out_addr receives its
 * start. The memory reads as zeros until written. */
int clio_ralloc(clio_client *c, size_t size, uint64_t *out_addr);
/* Frees the allocation that starts at `addr`. */
int clio_rfree(clio_client *c, uint64_t addr);

/* Reads / writes `len` bytes at `addr`, any length; split into packets the MN serves
 * independently (a multi-packet write is not atomic as a whole). */
int clio_rread(clio_client *c, uint64_t addr, void *buf, size_t len);
int clio_rwrite(clio_client *c, uint64_t addr, const void *buf, size_t len);

/* 8-byte compare-and-swap and fetch-and-add at an 8-byte aligned `addr`. *old receives the value
 * before the operation (the swap happened iff *old == expected). */
int clio_rcas(clio_client *c, uint64_t addr, uint64_t expected, uint64_t desired, uint64_t *old);
int clio_rfaa(clio_client *c, uint64_t addr, uint64_t add, uint64_t *old);

/* A sentence for an error code returned by any clio_* function (0 included). Never NULL. */
const char *clio_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* CLIO_CLIO_H_ */

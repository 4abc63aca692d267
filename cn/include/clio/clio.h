/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CLib, the Clio client library: the C API.
 *
 * A program opens a remote address space on a memory node (MN), allocates remote memory in it,
 * and reads, writes and updates that memory. This header is the contract outside programs
 * compile against; names and semantics are stable.
 *
 * Conventions: every function returns 0 on success or a negative errno:
 *   -EFAULT     the address is in no allocation (never allocated, or freed)
 *   -EACCES     the access is not permitted (read-only memory or key, revoked address space,
 *               or one whose lease ran out: its owner stopped renewing it, see keepalive_ms)
 *   -ENOMEM     the memory node is out of remote memory
 *   -EINVAL     a bad argument (null pointer, misaligned atomic, malformed locator, ...)
 *   -ETIMEDOUT  the memory node did not answer within the deadline (unreachable or dead)
 *   -EAGAIN     the memory node kept answering "busy" until the deadline
 *   -EIO        outcome unknown: the MN could not prove that this write, atomic or control
 *               request had not already run (its records of executed requests do not reach
 *               back to the request's first attempt plus the network's maximum packet
 *               lifetime), so it refused it: requests never take effect twice; this is the
 *               price. See docs/protocol.md.
 *   -ENOKEY     clio_open: the MN requires its operator's credential; give it with the
 *               locator key auth_file=<file> or the environment variable CLIO_AUTH_FILE
 *   -EKEYREJECTED  clio_open: the credential is not the MN's
 *   -EDQUOT     ralloc: the address space's memory quota on the MN is used up
 *   -ENOBUFS    ralloc: the address space's page-table slot quota on the MN is used up
 *   -EMFILE     clio_open: the MN holds as many address spaces as it allows
 *   -ECONNREFUSED  nothing listens at the locator (where the transport can tell)
 *   -ENETUNREACH   the transport could not be set up (see the log)
 *   -EPROTO     the MN did not understand a request, or refused a reused request identity
 * clio_strerror() turns any of them into a sentence.
 *
 *   -EPERM      runlock of a lock this thread does not hold
 *   -EDEADLK    rlock of a lock this thread already holds
 *
 * Ordering: synchronous calls are strictly ordered (each returns when the MN has executed it).
 * Asynchronous reads and writes are release-ordered: a request that overlaps, on any byte, an
 * earlier one of the same thread still in flight, where either writes, is held back until that
 * one completes; everything else proceeds in parallel. clio_rfence() and clio_rrelease() order
 * more. Requests are retransmitted on loss with the effect of one execution (no doubled atomic,
 * no lost update). Ordering rules apply among the requests of one thread.
 *
 * Threads: any number of threads may use one clio_client at once; each gets its own endpoint and
 * request state (so they do not contend), and a handle belongs to the thread that issued it.
 * clio_close() must not race with other calls on the same client.
 *
 * Locators name the MN and the transport, e.g. "udp:host=10.0.0.2,port=7400" or
 * "inproc:name=mn0"; several MNs are separated by ';' ("udp:host=a,port=7400;udp:host=b,...").
 * An address names its MN; ralloc places allocations by the placement policy. CLib also reads
 * these keys from each locator (the first occurrence counts):
 *   deadline_ms=<n>  how long a request may take before -ETIMEDOUT        [5000]
 *   rto_us=<n>       lowest retransmission timeout; the timeout follows the measured round
 *                    trip (srtt + 4 rttvar) and doubles per retry, to 100 ms    [1000]
 *   window=<n>       most requests in flight per thread and MN              [128]
 *   cc=on|off        delay-based congestion window (off: always `window`)   [on]
 *   auth_file=<path> the MN operator's credential file      [$CLIO_AUTH_FILE, else none]
 *   keepalive_ms=<n> how often the owner renews its address spaces' leases  [5000; 0: never]
 * The process-wide incast cap (reply bytes asked for and not yet received) is 4 MiB, or
 * CLIO_INCAST_BYTES from the environment.
 */
#ifndef CLIO_CLIO_H_
#define CLIO_CLIO_H_

#include <stddef.h>
#include <stdint.h>

/* What the shared library exports (it is built with -fvisibility=hidden): every declaration of
 * this header and of client.h carries it, and nothing else of the library is visible. */
#if defined(__GNUC__) || defined(__clang__)
#define CLIO_API __attribute__((visibility("default")))
#else
#define CLIO_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clio_client clio_client;

/* An asynchronous request in flight. A handle is finished once clio_rwait() returned for it or
 * clio_rpoll() reported it complete; using it again gives -EINVAL. */
typedef struct clio_handle {
  uint64_t id;
} clio_handle;

/* clio_rpoll: the result of a handle that has not completed yet. */
#define CLIO_PENDING 1

/* Placement policies for ralloc across several MNs. */
#define CLIO_PLACE_SPREAD 0     /* round-robin over the MNs (the default) */
#define CLIO_PLACE_FILL_FIRST 1 /* the first MN until it is full, then the next */
#define CLIO_PLACE_LEAST_USED 2 /* the MN with the most free pages (from its own figures) */

/* A token buffer that holds what clio_export() writes for up to 8 MNs whose locators are at
 * most 400 characters each (a token takes about 40 bytes per MN plus its locator). For any
 * other client, clio_export_len() says how much is needed. */
#define CLIO_TOKEN_MAX 4096

/* Creates a remote address space on the MN `mn_locator` names; *out receives the client. */
CLIO_API int clio_open(const char* mn_locator, clio_client** out);
/* Destroys the address space (freeing everything in it) and the client, even when the MN cannot
 * be reached (then it returns -ETIMEDOUT). It first completes the calling thread's outstanding
 * requests, so their buffers must still be valid. `c` is invalid afterwards. */
CLIO_API int clio_close(clio_client* c);

/* Allocates `size` bytes of remote memory (rounded up to the MN's pages); *out_addr receives its
 * start. The memory reads as zeros until written. */
CLIO_API int clio_ralloc(clio_client* c, size_t size, uint64_t* out_addr);
/* Frees the allocation that starts at `addr`. */
CLIO_API int clio_rfree(clio_client* c, uint64_t addr);

/* Reads / writes `len` bytes at `addr`, any length; split into packets the MN serves
 * independently (a multi-packet write is not atomic as a whole). */
CLIO_API int clio_rread(clio_client* c, uint64_t addr, void* buf, size_t len);
CLIO_API int clio_rwrite(clio_client* c, uint64_t addr, const void* buf, size_t len);

/* 8-byte compare-and-swap and fetch-and-add at an 8-byte aligned `addr`. *old receives the value
 * before the operation (the swap happened iff *old == expected). */
CLIO_API int clio_rcas(clio_client* c, uint64_t addr, uint64_t expected, uint64_t desired,
                       uint64_t* old);
CLIO_API int clio_rfaa(clio_client* c, uint64_t addr, uint64_t add, uint64_t* old);

/* Asynchronous read / write: starts the request and returns at once; *h names it. `buf` must
 * stay valid (and, for a read, untouched) until the request completes. */
CLIO_API int clio_rread_async(clio_client* c, uint64_t addr, void* buf, size_t len, clio_handle* h);
CLIO_API int clio_rwrite_async(clio_client* c, uint64_t addr, const void* buf, size_t len,
                               clio_handle* h);
/* Non-blocking: returns how many of the n handles completed in this call (or a negative errno,
 * and then nothing changed); done[i] receives handle i's result (0 or a negative errno) or
 * CLIO_PENDING. A completed handle is finished and its id set to 0; handles with id 0 are
 * skipped (done[i] untouched), so the same array can be polled until every handle is 0. Makes
 * one round of progress per call and allocates nothing. */
CLIO_API int clio_rpoll(clio_client* c, clio_handle* hs, int n, int* done);
/* Blocks until the request completes; returns its result. The handle is finished. */
CLIO_API int clio_rwait(clio_client* c, clio_handle h);
/* Returns when every request this thread issued before it has completed (release semantics). */
CLIO_API int clio_rrelease(clio_client* c);
/* Requests this thread issues after the fence start only after those before it completed. */
CLIO_API int clio_rfence(clio_client* c);
/* A batch: the asynchronous requests (and atomics) this thread issues between clio_rbatch_begin
 * and clio_rbatch_end are held and leave together at the end, so that the transport sends them
 * in as few system calls as it can (udp: one datagram for a run of equal requests). They also
 * leave when 32 are held for one MN and whenever the thread waits or polls, so a wait inside a
 * batch never deadlocks. Batches nest (the outermost end sends); ordering and results are as
 * without a batch. clio_rbatch_end without a begin returns -EINVAL. */
CLIO_API int clio_rbatch_begin(clio_client* c);
CLIO_API int clio_rbatch_end(clio_client* c);

/* A lock: an 8-byte aligned word of remote memory, 0 when free. clio_rlock spins with backoff
 * until it holds the lock (then later requests of this thread come after it); clio_runlock first
 * waits for this thread's earlier requests (so the critical section's writes are done), then
 * frees the lock. Mutual exclusion holds across threads, processes and compute nodes.
 * clio_rlock gives -ETIMEDOUT after 60 s without the lock. */
CLIO_API int clio_rlock(clio_client* c, uint64_t lock_addr);
CLIO_API int clio_runlock(clio_client* c, uint64_t lock_addr);

/* Sharing: writes a printable token (at most token_len bytes, NUL included; -ENOSPC and nothing
 * written when it does not fit: see CLIO_TOKEN_MAX and clio_export_len()) that names the MNs,
 * the address spaces and an unguessable key, read-only unless `writable`. Only the client that
 * opened the address spaces may export them (-EACCES otherwise). */
CLIO_API int clio_export(clio_client* c, int writable, char* token, size_t token_len);
/* *len receives the buffer size clio_export() needs for this client, NUL included. */
CLIO_API int clio_export_len(clio_client* c, int writable, size_t* len);
/* A client for the address spaces a token names, on this or another compute node. Closing it
 * frees nothing of the owner's; when the owner closes, its calls fail with -EACCES. Errors:
 * -EINVAL for anything malformed (not a token, a bad field, a malformed locator inside it),
 * -ECONNREFUSED when the kernel reports nothing listening at a locator, -ENETUNREACH when a
 * transport cannot be set up. */
CLIO_API int clio_attach(const char* token, clio_client** out);

/* Several MNs: the placement policy of later rallocs (CLIO_PLACE_*), the current one, the
 * number of MNs, and which MN (0-based, in locator order) an address lives on. */
CLIO_API int clio_set_placement(clio_client* c, int policy);
CLIO_API int clio_placement(clio_client* c);
CLIO_API int clio_mn_count(clio_client* c);
CLIO_API int clio_mn_of(uint64_t addr);

/* A sentence for an error code returned by any clio_* function (0 included). Never NULL. */
CLIO_API const char* clio_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* CLIO_CLIO_H_ */

// SPDX-License-Identifier: Apache-2.0
// CLib, the Clio client library: the C++ API. The same operations, semantics and error codes as
// the C API in clio/clio.h (0 or a negative errno), on a class; read it for the details of
// ordering, threads, locks, sharing and placement across several memory nodes.
//
// Reliability: every request carries an id; a request not answered within its retransmission
// timeout (from the measured round trip, doubling per retry) is sent again with a new id that
// names the first attempt's, until the request's deadline. The MN answers a retransmission of
// something it already executed from its memory of recent requests, so a retried write or
// atomic takes effect exactly once. Duplicate and late replies are discarded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "clio/clio.h"

namespace clio {

struct ClientOptions {
  uint64_t deadline_ms = 5000;     ///< a request fails with -ETIMEDOUT after this long
  uint64_t rto_us = 1000;          ///< lowest retransmission timeout
  uint64_t max_rto_us = 100'000;   ///< retransmission timeouts double up to this
  uint32_t window = 128;           ///< most requests in flight per thread and MN
  bool congestion_control = true;  ///< delay-based window; false: always `window`
  uint64_t target_delay_us = 0;    ///< window shrinks above max(this, 3 x lowest RTT); 0: default
  uint64_t lock_timeout_ms = 60'000;  ///< rlock gives up with -ETIMEDOUT after this
  /// File holding the MN operator's credential (see clio-mn --auth-file); empty: the
  /// environment variable CLIO_AUTH_FILE, else none. Locator key auth_file=.
  std::string auth_file;
  /// Width of the per-session request counter (2..48). When a thread's counter would wrap,
  /// it draws a new random 64-bit session, so request identities never repeat. Only tests
  /// shrink it, to make that happen within seconds.
  unsigned seq_bits = 48;
  /// The owner sends a keep-alive to each MN this often (ms; 0: never), so that an idle
  /// client's address spaces outlive the MN's lease (clio-mn --lease-ms, 30 s by default).
  /// Locator key keepalive_ms=.
  uint64_t keepalive_ms = 5000;
};

/// What a thread has seen of its client.
struct ClientCounters {
  uint64_t requests = 0;         ///< packets sent as first attempts
  uint64_t retransmissions = 0;  ///< packets sent again (timeout, NACK or "busy")
  uint64_t timeouts = 0;         ///< retransmissions because no answer came in time
  uint64_t nacks = 0;            ///< answers saying our packet arrived corrupted
  uint64_t busy = 0;             ///< answers saying "retry later"
  uint64_t stray = 0;            ///< duplicate, late or malformed packets discarded
  uint64_t held_back = 0;        ///< requests that waited for an overlapping one (ordering)
  uint64_t window_waits = 0;     ///< times a request waited for the congestion window or the
                                 ///< incast cap
  uint64_t foreign = 0;          ///< packets from an address other than the MN's: dropped
  uint64_t unproven = 0;         ///< large reads the MN refused until it had our address token
  uint64_t stale = 0;            ///< mutations the MN could not prove unexecuted (-EIO)
  uint64_t sessions = 1;         ///< request sessions this thread has used
  /// The shortest record horizon the MNs reported (ms; UINT64_MAX: unbounded). Retransmitting
  /// a write or atomic later than this after its first attempt earns -EIO.
  uint64_t min_horizon_ms = UINT64_MAX;
};

/// An asynchronous request. Move-only: waiting consumes it, so it cannot be waited on twice.
class Handle {
 public:
  Handle() = default;
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = 0; }
  Handle& operator=(Handle&& o) noexcept {
    id_ = o.id_;
    o.id_ = 0;
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  bool valid() const { return id_ != 0; }
  uint64_t id() const { return id_; }
  /// For the C API: a handle from its id.
  static Handle from_id(uint64_t id) { return Handle(id); }

 private:
  explicit Handle(uint64_t id) : id_(id) {}
  uint64_t id_ = 0;
};

class CLIO_API Client {
 public:
  /// Connects to the MN(s) `locator` names (';' between several) and creates an address space
  /// on each. Returns 0 or a negative errno; on success *out holds the client.
  static int open(const std::string& locator, std::unique_ptr<Client>* out);
  static int open(const std::string& locator, const ClientOptions& options,
                  std::unique_ptr<Client>* out);
  /// A client for the address spaces a clio_export token names.
  static int attach(const std::string& token, std::unique_ptr<Client>* out);

  /// close()s unless done already.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// The owner destroys its address spaces (and everything in them); an attached client only
  /// lets go. Later calls fail with -EACCES.
  int close();

  int ralloc(size_t size, uint64_t* addr);
  int rfree(uint64_t addr);
  int rread(uint64_t addr, void* buf, size_t len);
  int rwrite(uint64_t addr, const void* buf, size_t len);
  int rcas(uint64_t addr, uint64_t expected, uint64_t desired, uint64_t* old);
  int rfaa(uint64_t addr, uint64_t add, uint64_t* old);

  int rread_async(uint64_t addr, void* buf, size_t len, Handle* h);
  int rwrite_async(uint64_t addr, const void* buf, size_t len, Handle* h);
  /// How many of `hs` completed now (results[i]: result or CLIO_PENDING). Completed handles are
  /// consumed (made empty); empty handles are skipped, their results left as they were.
  int rpoll(std::span<Handle> hs, std::span<int> results);
  /// The same over the C API's handles (clio_rpoll): completed ones get id 0.
  int rpoll(clio_handle* hs, size_t n, std::span<int> results);
  /// Blocks until done; returns the result. Takes the handle: it cannot be waited on again.
  int rwait(Handle h);
  int rrelease();
  int rfence();
  /// A batch (see clio_rbatch_begin): requests this thread issues until rbatch_end() leave
  /// together. Batches nest; rbatch_end() without a begin returns -EINVAL.
  int rbatch_begin();
  int rbatch_end();

  int rlock(uint64_t lock_addr);
  int runlock(uint64_t lock_addr);

  int export_token(bool writable, std::string* token);
  int set_placement(int policy);
  int placement() const;
  size_t mn_count() const;
  static size_t mn_of(uint64_t addr) { return static_cast<size_t>(addr >> 48); }

  /// The first MN's address space and page size.
  uint32_t pid() const;
  uint64_t page_bytes() const;
  /// The calling thread's counters.
  const ClientCounters& counters() const;
  /// Turns the release-ordering checks off (only to measure what they cost; never in use).
  void disable_ordering_for_benchmarks();

  struct Impl;  ///< cn/client_impl.h

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  int start_rw(bool write, uint64_t addr, std::byte* in, const std::byte* out, size_t len,
               Handle* h);
  std::unique_ptr<Impl> impl_;
};

/// A sentence for an error code (0 or a negative errno). Never null.
CLIO_API const char* error_string(int err);

}  // namespace clio

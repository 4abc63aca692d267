// CLib, the Clio client library: the C++ API. The same operations and error codes as the C API
// in clio/clio.h (0 or a negative errno), on a class.
//
// Reliability: every request carries an id; a request not answered within its retransmission
// timeout is sent again (the timeout doubles each time, up to 100 ms) with a new id that names
// the first attempt's id as the one it replaces, until the call's deadline. The MN answers a
// retransmission of something it already executed from its memory of recent requests, so a
// retried write or atomic takes effect exactly once. Duplicate and late replies are discarded.
//
// Threading: a Client is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace clio {

struct ClientOptions {
  uint64_t deadline_ms = 5000;   ///< a call fails with -ETIMEDOUT after this long
  uint64_t rto_us = 1000;        ///< first retransmission timeout
  uint64_t max_rto_us = 100'000; ///< retransmission timeouts double up to this
  uint32_t window = 64;          ///< packets of one call in flight at once
};

/// What a client has seen since it opened.
struct ClientCounters {
  uint64_t requests = 0;         ///< packets sent as first attempts
  uint64_t retransmissions = 0;  ///< packets sent again (timeout, NACK or "busy")
  uint64_t timeouts = 0;         ///< retransmissions because no answer came in time
  uint64_t nacks = 0;            ///< answers saying our packet arrived corrupted
  uint64_t busy = 0;             ///< answers saying "retry later"
  uint64_t stray = 0;            ///< duplicate, late or malformed packets discarded
};

class Client {
 public:
  /// Connects to the MN `locator` names and creates an address space there (see clio.h for the
  /// locator keys CLib reads). Returns 0 or a negative errno; on success *out holds the client.
  static int open(const std::string& locator, std::unique_ptr<Client>* out);
  static int open(const std::string& locator, const ClientOptions& options,
                  std::unique_ptr<Client>* out);

  /// Destroys the address space unless close() did already.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Destroys the address space and everything in it. Later calls fail with -EACCES.
  int close();

  int ralloc(size_t size, uint64_t* addr);
  int rfree(uint64_t addr);
  int rread(uint64_t addr, void* buf, size_t len);
  int rwrite(uint64_t addr, const void* buf, size_t len);
  int rcas(uint64_t addr, uint64_t expected, uint64_t desired, uint64_t* old);
  int rfaa(uint64_t addr, uint64_t add, uint64_t* old);

  uint32_t pid() const;
  uint64_t page_bytes() const;
  const ClientCounters& counters() const;

  struct Impl;  ///< cn/client_impl.h

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// A sentence for an error code (0 or a negative errno). Never null.
const char* error_string(int err);

}  // namespace clio

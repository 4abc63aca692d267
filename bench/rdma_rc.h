// SPDX-License-Identifier: Apache-2.0
// The RDMA baseline: reliable-connected (RC) queue pairs doing one-sided READ, WRITE,
// compare-and-swap and fetch-and-add against memory that a plain server registered. The server
// takes part only in connection set-up; after that its CPU does nothing on the data path.
//
// Set-up, per client, over one TCP connection (never a side service): the client sends its
// QP's address (GID, LID, QPN, first PSN, MTU, read/atomic depth); the server makes an RC QP
// for it, brings it to RTS and answers with its own address plus the memory's address, rkey and
// length; the client brings its QP to RTS. The TCP connection stays open: when it closes, the
// server destroys that client's QP.
//
// Timeouts are generous (soft-RoCE under emulation retransmits): local ACK timeout 2^18 x 4.096
// us (about 1 s), 7 retries, 7 RNR retries.
//
// This header does not include <infiniband/verbs.h>: the verbs objects live behind Impl.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace clio::net {

/// Which device port and GID to use (see verbs_device.h for the GID rules).
struct RcDeviceOptions {
  std::string dev;     ///< "" = the first RDMA device
  int gid = -1;        ///< < 0 = pick one
  uint8_t ibport = 1;  ///< device port
};

class RcClient {
 public:
  struct Options {
    RcDeviceOptions device;
    uint32_t max_bytes = 1u << 20;  ///< largest read or write (the registered bounce buffer)
    uint64_t timeout_ms =
        20'000;  ///< TCP connect and exchange; also the longest wait for a completion
  };

  /// Connects to clio-rdma-server at host:port. Throws TransportError naming the call, device
  /// and errno (RTR failures carry the port's GID table: see verbs_device.h).
  static std::unique_ptr<RcClient> connect(const std::string& host, uint16_t port,
                                           const Options& o);
  ~RcClient();
  RcClient(const RcClient&) = delete;
  RcClient& operator=(const RcClient&) = delete;

  // Synchronous one-sided operations: each posts one work request and polls until it completes.
  // `offset` is from the start of the server's memory. They return 0, or a negative errno:
  // -EINVAL (out of range, or an atomic not 8-byte aligned), -EIO (the completion carried an
  // error: last_error() says which; the QP is then unusable), -ETIMEDOUT (no completion within
  // timeout_ms). They never throw and never allocate. One thread at a time.

  /// Copies `len` bytes of remote memory at `offset` into `dst`.
  int read(uint64_t offset, void* dst, uint32_t len);
  /// Copies `len` bytes from `src` to remote memory at `offset` (inline when it fits).
  int write(uint64_t offset, const void* src, uint32_t len);
  /// Atomically: *old = remote; if remote == expected, remote = desired.
  int cas(uint64_t offset, uint64_t expected, uint64_t desired, uint64_t* old);
  /// Atomically: *old = remote; remote += add.
  int faa(uint64_t offset, uint64_t add, uint64_t* old);

  /// Copies `len` bytes at `offset` within the server's separately registered region `region`
  /// (RcServer::Options::regions) into `dst`, through that region's own rkey: Fig 5's RDMA-MR,
  /// where the NIC must find the region among many. -EINVAL past the region.
  int read_region(uint32_t region, uint64_t offset, void* dst, uint32_t len);

  /// Bytes of remote memory.
  uint64_t remote_bytes() const;
  /// The server's separately registered regions (0: none) and the bytes of each.
  uint32_t regions() const;
  uint64_t region_bytes() const;
  /// Bytes a write may carry inline.
  uint32_t max_inline() const;
  /// What the last failed operation saw, e.g. "RDMA READ: remote access error".
  const std::string& last_error() const;
  /// "rxe0 gid=1 mtu=1024 -> host:port (64 MiB)".
  std::string describe() const;

  struct Impl;

 private:
  explicit RcClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The server side: registered memory and one RC QP per TCP client.
class RcServer {
 public:
  struct Options {
    RcDeviceOptions device;
    std::string host = "0.0.0.0";  ///< TCP address to listen on
    uint16_t port = 7500;          ///< 0 picks a free one
    uint64_t memory_bytes = uint64_t{64} << 20;
    /// Also registers the memory as this many equal regions, each with its own rkey (remote
    /// read), for latency against registered regions; 0: none. Each a multiple of 4 KiB.
    uint32_t regions = 0;
  };

  /// Opens the device, registers the memory (zero-filled; remote read, write and atomics) and
  /// listens. Throws TransportError (verbs, socket) with the call and errno.
  explicit RcServer(const Options& o);
  ~RcServer();
  RcServer(const RcServer&) = delete;
  RcServer& operator=(const RcServer&) = delete;

  /// The TCP port it listens on.
  uint16_t port() const;
  /// "dev=rxe0,gid=1,port=7500,memory=67108864,regions=0".
  std::string describe() const;
  /// Serves connections until stop(). Errors with one client are logged and that client dropped.
  void run();
  /// Makes run() return. Async-signal-safe (writes an eventfd); any thread.
  void stop();
  /// Clients connected now (from the run() thread).
  size_t clients() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace clio::net

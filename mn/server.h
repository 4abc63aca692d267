// The memory node on the network: worker threads that poll a transport and serve Clio packets.
//
// Each worker owns one transport endpoint (one UDP socket sharing the port with SO_REUSEPORT, one
// inproc port of the server's name) and one fast-path Worker, and loops:
//   rx_burst -> validate -> read / write / atomic (fast path) -> reply -> tx_burst -> release
// Control packets (ralloc, rfree, protect, address-space create/destroy) are handed to the slow
// path through the worker's SPSC ring and answered when it replies; the worker never waits.
//
// Statelessness: there are no connections and no per-client buffers. The only memory of requests
// is each worker's bounded DedupTable (and the few control operations in flight), which makes a
// retransmission get its first answer instead of running twice.
//
// Bad input: every packet is validated before anything is read from it; a malformed packet is
// dropped and counted by reason. A corrupted packet (checksum mismatch) whose header still names
// an opcode gets a NACK (status kBadChecksum) so that the client retransmits at once.
//
// Implemented in server.cc (threads, stats) and server_datapath.cc (the loop).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mn/dedup.h"
#include "mn/memory_node.h"
#include "verbs_shim/transport.h"

namespace clio::mn {

struct ServerConfig {
  std::string listen = "inproc:name=mn0";  ///< transport locator to serve on
  unsigned workers = 1;                    ///< worker threads (each with its own endpoint)
  size_t dedup_entries = size_t{1} << 16;  ///< per worker; see DedupTable
  uint64_t idle_wait_ns = 1'000'000;       ///< how long an idle worker sleeps in wait()
  std::vector<int> cpus;                   ///< pin worker i to cpus[i % size] (empty: no pinning)
};

/// Counters summed over the server's workers.
struct ServerStats {
  std::array<uint64_t, 32> requests{};  ///< served, by opcode value
  std::array<uint64_t, 16> dropped{};   ///< malformed, by validation status (value - 32)
  uint64_t replies = 0;
  uint64_t nacks = 0;
  uint64_t dedup_hits = 0;        ///< retransmissions answered from the dedup table
  uint64_t tx_dropped = 0;        ///< replies the transport would not take (the client retries)
  uint64_t control_busy = 0;      ///< control requests refused with kRetryLater (queue full)
  uint64_t stray_replies = 0;     ///< packets marked as replies, which an MN never expects
  uint64_t stale = 0;             ///< retransmissions too old to answer safely (kStale)

  uint64_t dropped_total() const;
};

class MnServer {
 public:
  /// Opens one transport per worker (throws clio::ConfigError or net::TransportError) and
  /// starts the worker threads. `mn` must outlive the server.
  MnServer(MemoryNode& mn, const ServerConfig& cfg);
  /// Stops and joins the workers.
  ~MnServer();
  MnServer(const MnServer&) = delete;
  MnServer& operator=(const MnServer&) = delete;

  /// The locator clients dial (for udp with port=0: the port actually bound).
  const std::string& locator() const { return locator_; }
  ServerStats stats() const;
  /// A multi-line human report: requests by type, drops by reason, faults, free pages, table fill.
  std::string report() const;

 private:
  struct Counters;
  struct PendingControl;
  struct WorkerState;

  void run(WorkerState& w);
  void serve(WorkerState& w, std::span<net::PacketView> pkts);
  void serve_control(WorkerState& w, const net::PacketView& p, const wire::Header& h, size_t* ntx);
  void finish_controls(WorkerState& w);
  void send(WorkerState& w, size_t n);

  MemoryNode& mn_;
  const ServerConfig cfg_;
  std::string locator_;
  std::vector<std::unique_ptr<WorkerState>> workers_;
  std::atomic<bool> stop_{false};
};

}  // namespace clio::mn

// SPDX-License-Identifier: Apache-2.0
// The memory node on the network: network threads (NetThread) that poll a transport and serve
// Clio packets.
//
// Each network thread owns one transport endpoint (one UDP socket sharing the port with
// SO_REUSEPORT, one inproc port of the server's name) and one FastPath, and loops:
//   rx_burst -> validate -> read / write / atomic (fast path) -> reply -> tx_burst -> release
// Control packets (ralloc, rfree, protect, address-space create/destroy) are handed to the slow
// path through its FastPath's SPSC ring and answered when it replies; the thread never waits.
//
// Statelessness: there are no connections and no per-client buffers. The only memory of requests
// is each network thread's bounded DedupTable (and the few control operations in flight), which
// makes every mutation run at most once (docs/protocol.md has the argument).
//
// Order of checks for every request: validate the packet; authenticate it (the address space's
// key, or for kRasCreate the operator's credential); only then look at the records. A request
// that fails authentication is answered (with a header-only reply, never larger than what it
// sent) and never recorded, so strangers can neither evict records nor be answered from them.
// Reads whose reply would exceed wire::kAmplification times the request need the sender's
// address token (a MAC of its endpoint and the epoch), handed out in kRasCreate and kUnproven
// replies: a forged source address cannot be used to amplify traffic toward a victim.
//
// Bad input: every packet is validated before anything is read from it; a malformed packet is
// dropped and counted by reason. A corrupted packet (checksum mismatch) whose header still names
// an opcode gets a NACK (status kBadChecksum) so that the client resends (paced).
//
// Implemented in server.cc (threads, stats) and server_datapath.cc (the loop).
#pragma once

#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/siphash.h"
#include "common/status.h"
#include "common/wire.h"
#include "mn/dedup.h"
#include "mn/memory_node.h"
#include "verbs_shim/transport.h"

namespace clio::mn {

/// Recorded requests per second and network thread that the automatic dedup table is sized for.
inline constexpr uint64_t kDedupSizingRate = 200'000;
/// The client's default deadline (ClientOptions::deadline_ms) that the table is sized for.
inline constexpr uint64_t kDedupSizingDeadlineMs = 5'000;
/// Default maximum packet lifetime: no packet is delivered later than this after it was sent.
/// (Loopback and LAN paths reorder by microseconds; raise it for paths that can hold packets
/// longer, such as a VM that may be paused. A table whose horizon falls below it refuses every
/// mutation, so it also sets the table's minimum: peak recorded rate x MPL.)
inline constexpr uint64_t kDefaultMaxPacketLifetimeMs = 100;

struct ServerConfig {
  std::string listen = "inproc:name=mn0";  ///< transport locator to serve on
  unsigned workers = 1;                    ///< network threads (each with its own endpoint)
  /// Records per network thread (see DedupTable); 0: kDedupSizingRate x (kDedupSizingDeadlineMs +
  /// max_packet_lifetime_ms), rounded up to a power of two (1 Mi entries: 96 MiB per thread,
  /// touched at start so that no request pays a page fault).
  size_t dedup_entries = 0;
  /// The network's maximum packet lifetime (ms), the MPL of docs/protocol.md: the MN refuses
  /// (kStale) a mutation it cannot find unless its first transmission is provably newer than
  /// the newest record its address space lost, allowing this long for transit and queues.
  uint64_t max_packet_lifetime_ms = kDefaultMaxPacketLifetimeMs;
  /// The operator's credential for kRasCreate (derive_key() of the --auth-file secret); empty:
  /// anyone may create address spaces (only for in-process and trusted test set-ups).
  SipKey auth;
  /// Address tokens are valid for two epochs of 2^token_epoch_shift ms (default about 65 s).
  unsigned token_epoch_shift = 16;
  uint64_t idle_wait_ns = 1'000'000;  ///< how long an idle thread sleeps in wait()
  std::vector<int> cpus;              ///< pin thread i to cpus[i % size] (empty: no pinning)
  /// Designs with per-client state (MemoryNode::design().sessions, mn/sessions.h): sessions
  /// per network thread, and each one's receive buffer (4 KiB, as an RC queue pair's).
  size_t max_sessions = 16384;
  size_t session_buffer_bytes = 4096;
};

/// The network threads' counters, the one list from which each thread's counters
/// (MnServer::Counters), ServerStats, their summing and MnServer::report() are made:
/// X(name, report, doc). The counters of the report's "replies" line, in its order (`report`:
/// the counter's piece of the line, a printf format taking the value):
#define CLIO_SERVER_REPLY_COUNTERS(X)                                                 \
  X(replies, " replies=%" PRIu64, "replies sent")                                     \
  X(dedup_hits, " retransmissions-answered=%" PRIu64,                                 \
    "retransmissions answered from the dedup table")                                  \
  X(stale, " stale=%" PRIu64, "mutations the MN could not prove unexecuted (kStale)") \
  X(nacks, " nacks=%" PRIu64, "NACKs sent for corrupted requests")                    \
  X(tx_dropped, " tx-dropped=%" PRIu64,                                               \
    "replies the transport would not take (the client retries)")                      \
  X(control_busy, " control-busy=%" PRIu64,                                           \
    "control requests refused with kRetryLater (queue full)")
/// Those of its "refused:" line:
#define CLIO_SERVER_REFUSAL_COUNTERS(X)                                                            \
  X(unauthenticated, " unauthenticated=%" PRIu64,                                                  \
    "refused: no live address space with that pid and key")                                        \
  X(bad_credential, " bad-credential=%" PRIu64, "kRasCreate refused: credential missing or wrong") \
  X(id_mismatch, " id-mismatch=%" PRIu64, "a recorded identity reused by a different request")     \
  X(foreign_replays, " foreign-replays=%" PRIu64,                                                  \
    "a recorded request from another endpoint: ignored")                                           \
  X(unproven, " unproven-address=%" PRIu64,                                                        \
    "large reads refused until the source proves its address")
/// And those the report prints in lines of their own (`report` unused): the stray replies among
/// the drops, and the figures each thread publishes of its dedup table and sessions.
#define CLIO_SERVER_OTHER_COUNTERS(X)                                          \
  X(stray_replies, "", "packets marked as replies, which an MN never expects") \
  X(dedup_entries, "", "records held")                                         \
  X(dedup_evictions, "", "records evicted")                                    \
  X(dedup_unfair_evictions, "", "evictions below a pid's fair share")          \
  X(sessions, "", "per-client sessions held (server and pnic designs)")        \
  X(session_bytes, "", "their state and receive buffers")                      \
  X(session_takeovers, "", "sessions taken over by a new client (table full there)")
#define CLIO_SERVER_COUNTERS(X) \
  CLIO_SERVER_REPLY_COUNTERS(X) CLIO_SERVER_REFUSAL_COUNTERS(X) CLIO_SERVER_OTHER_COUNTERS(X)

/// Request counts by opcode value, and drops by validation status (value - kFirstDropStatus).
inline constexpr size_t kRequestCounters = 32;
inline constexpr size_t kFirstDropStatus = 32;
inline constexpr size_t kDropCounters = 16;
static_assert(static_cast<size_t>(wire::Opcode::kStats) < kRequestCounters,
              "every opcode has a request counter");
static_assert(static_cast<size_t>(Status::kTruncated) == kFirstDropStatus &&
                  static_cast<size_t>(Status::kBadRequestId) < kFirstDropStatus + kDropCounters,
              "every validation status has a drop counter");

/// Counters summed over the server's network threads.
struct ServerStats {
  std::array<uint64_t, kRequestCounters> requests{};  ///< served, by opcode value
  std::array<uint64_t, kDropCounters> dropped{};  ///< malformed, by validation status (value - 32)
#define CLIO_X(name, report, doc) uint64_t name = 0;
  CLIO_SERVER_COUNTERS(CLIO_X)
#undef CLIO_X
  uint64_t dedup_capacity = 0;           ///< records the tables hold at most
  uint64_t min_horizon_ms = UINT64_MAX;  ///< shortest record horizon of any address space

  uint64_t dropped_total() const;
};
#define CLIO_X(name, report, doc) +1
inline constexpr size_t kServerCounters = 0 CLIO_SERVER_COUNTERS(CLIO_X);
#undef CLIO_X
static_assert(sizeof(ServerStats) ==
                  (kRequestCounters + kDropCounters + kServerCounters + 2) * sizeof(uint64_t),
              "every summed counter of ServerStats is in CLIO_SERVER_COUNTERS");

class MnServer {
 public:
  /// Opens one transport per network thread (throws clio::ConfigError or
  /// net::TransportError) and starts the threads. `mn` must outlive the server.
  MnServer(MemoryNode& mn, const ServerConfig& cfg);
  /// Stops and joins the network threads.
  ~MnServer();
  MnServer(const MnServer&) = delete;
  MnServer& operator=(const MnServer&) = delete;
  const MemoryNode& node() const { return mn_; }

  /// The locator clients dial (for udp with port=0: the port actually bound).
  const std::string& locator() const { return locator_; }
  ServerStats stats() const;
  /// A multi-line human report: requests by type, drops by reason, faults, free pages, table fill.
  std::string report() const;

 private:
  struct Counters;
  struct PendingControl;
  struct NetThread;

  /// A network thread's loop (server_datapath.cc): until stop_.
  void run(NetThread& nt);
  void prefetch_records(NetThread& nt, std::span<const net::PacketView> pkts);
  void serve(NetThread& nt, std::span<net::PacketView> pkts);
  void serve_control(NetThread& nt, const net::PacketView& p, const wire::Header& h, uint32_t crc,
                     size_t* ntx);
  void publish_dedup(NetThread& nt);
  void finish_controls(NetThread& nt);
  void send(NetThread& nt, size_t n);
  uint64_t address_token(const net::Endpoint& to, uint64_t epoch) const;
  bool token_valid(NetThread& nt, const net::Endpoint& from, uint64_t token);

  MemoryNode& mn_;
  const ServerConfig cfg_;
  std::string locator_;
  SipKey token_key_;  ///< random per MN process: tokens die with it
  std::vector<std::unique_ptr<NetThread>> threads_;
  std::atomic<bool> stop_{false};
};

}  // namespace clio::mn

// SPDX-License-Identifier: Apache-2.0
// Internal to MnServer: the state of one network thread (NetThread), and what it counts.
#pragma once

#include <array>
#include <thread>

#include "common/clock.h"
#include "common/wire.h"
#include "mn/fast_path_slot.h"
#include "mn/server.h"
#include "mn/sessions.h"
#include "verbs_shim/transport.h"

namespace clio::mn {

inline constexpr size_t kServerBurst = 32;

/// Single writer (the network thread); anyone reads them with relaxed atomic loads.
/// CLIO_SERVER_COUNTERS; dedup_* and session* are published copies of the table's figures (the
/// table itself is the thread's alone).
struct MnServer::Counters {
  std::array<uint64_t, kRequestCounters> requests{};
  std::array<uint64_t, kDropCounters> dropped{};
#define CLIO_X(name, report, doc) uint64_t name = 0;
  CLIO_SERVER_COUNTERS(CLIO_X)
#undef CLIO_X
  uint64_t last_evicted_ms = 0;  ///< when the table last evicted a record (0: never)
};

/// A control request handed to the slow path, waiting for its answer.
struct MnServer::PendingControl {
  bool used = false;
  net::Endpoint to;
  uint64_t from_hash = 0;
  uint64_t digest = 0;
  wire::Header req{};
};

/// One network thread: its transport endpoint, its FastPath, its dedup table and sessions, and
/// the scratch of its loop (MnServer::run).
struct MnServer::NetThread {
  std::unique_ptr<net::Transport> transport;
  std::unique_ptr<FastPath> fast_path;
  DedupTable dedup;
  std::unique_ptr<SessionTable> sessions;  ///< designs with per-client state only
  Counters counters;
  std::array<PendingControl, kControlRingSize> pending{};
  size_t pending_count = 0;
  // Reply scratch: one header per received packet (and per control answer).
  std::array<wire::Header, kServerBurst> reply_headers{};
  std::array<net::TxItem, kServerBurst> tx{};
  std::thread thread;
  int cpu = -1;         ///< pinned there when >= 0
  uint64_t now_ms = 0;  ///< this burst's clock reading, 0 until read
  /// Address tokens recently found valid, by token: a hit saves the two SipHash computations
  /// of every large read. An entry holds for its endpoint only, and only while its epoch is
  /// current or the previous one.
  struct ProvenAddress {
    net::Endpoint from;
    uint64_t token = 0;
    uint64_t epoch = 0;
  };
  std::array<ProvenAddress, 64> proven{};
  bool dedup_dirty = false;  ///< the table changed since its figures were published

  uint64_t clock_ms() {
    if (now_ms == 0) now_ms = now_ns() / 1'000'000 + 1;
    return now_ms;
  }
  /// A clock for address-token epochs (about a minute each), so that large reads need no clock
  /// reading of their own: the idle poll's last reading, or a fresh one every kCoarseBursts
  /// bursts of a thread that never idles. It lags by at most 64 idle waits (64 ms when the
  /// thread sleeps in wait()) or kCoarseBursts bursts: a token lives that much longer.
  static constexpr uint32_t kCoarseBursts = 1024;
  uint64_t coarse_ns = 0;
  uint32_t bursts = 0;
  void refresh_coarse() {
    coarse_ns = now_ns();
    bursts = 0;
  }
  uint64_t coarse_ms() const { return coarse_ns / 1'000'000 + 1; }

  NetThread(std::unique_ptr<net::Transport> t, std::unique_ptr<FastPath> fp, size_t dedup_entries,
            uint32_t max_pids)
      : transport(std::move(t)), fast_path(std::move(fp)), dedup(dedup_entries, max_pids) {}
};

}  // namespace clio::mn

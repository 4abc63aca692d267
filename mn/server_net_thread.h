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
struct MnServer::Counters {
  std::array<uint64_t, 32> requests{};
  std::array<uint64_t, 16> dropped{};
  uint64_t replies = 0, nacks = 0, dedup_hits = 0, tx_dropped = 0, control_busy = 0,
           stray_replies = 0, stale = 0, unauthenticated = 0, bad_credential = 0, id_mismatch = 0,
           foreign_replays = 0, unproven = 0;
  // Published copies of the table's figures (the table itself is the thread's alone).
  uint64_t dedup_entries = 0, dedup_evictions = 0, dedup_unfair = 0, last_evicted_ms = 0;
  uint64_t sessions = 0, session_bytes = 0, session_takeovers = 0;
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

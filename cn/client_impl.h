// SPDX-License-Identifier: Apache-2.0
// Internal to CLib: the client's shared state (Client::Impl, in namespace clio as Client is; the
// rest of CLib's internals are in clio::cn). A Client is shared by threads; each thread that
// uses it gets its own Engine (cn/engine.h) on first use, under a mutex that nothing else takes.
//
// Client addresses carry the memory node (cn/address.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clio/client.h"
#include "cn/address.h"
#include "cn/engine.h"
#include "cn/errors.h"
#include "common/clock.h"
#include "common/siphash.h"
#include "common/status.h"
#include "common/wire.h"
#include "verbs_shim/transport.h"

namespace clio::cn {

/// One memory node of a client: fixed at open (or attach).
struct MnInfo {
  std::string locator;  ///< for the transport (CLib's own keys removed)
  uint32_t pid = 0;
  uint64_t key = 0;     ///< read-write, or read-only for a read-only attach
  uint64_t key_ro = 0;  ///< owners know both (for export)
  uint64_t page_bytes = 0;
  bool writable = true;
  // Cached free-page figures for the least-used policy (refreshed at most every 100 ms).
  std::atomic<uint64_t> free_pages{0};
  std::atomic<uint64_t> stats_at_ns{0};
  /// Placement avoids this MN until then (fast clock): it just failed to answer a ralloc.
  std::atomic<uint64_t> suspect_until_ns{0};
};

}  // namespace clio::cn

namespace clio {

// Internal, although nested in the exported Client: hidden from libclio.so's symbol table.
struct __attribute__((visibility("hidden"))) Client::Impl {
  Impl(const ClientOptions& o, std::vector<std::unique_ptr<cn::MnInfo>> m, bool owner);
  ~Impl();

  /// The calling thread's engine, created on first use. Throws only on transport set-up
  /// failure (the C++ API turns that into -ENETUNREACH).
  cn::Engine& engine();
  /// The owner's remote address spaces, destroyed (best effort) on every MN.
  int destroy_all();
  /// Which MN the next ralloc goes to, per policy (choose_mn in cn/placement.h, over a snapshot
  /// of the MNs taken now); `skip` MNs already failed. mns.size() when there is none.
  size_t place(const std::vector<bool>& skip);

  const ClientOptions options;
  cn::CongestionConfig cc;
  bool ordering = true;  ///< false only for measuring the checks' cost
  std::vector<std::unique_ptr<cn::MnInfo>> mns;
  const bool owner;
  std::atomic<bool> open{true};
  std::atomic<int> placement{CLIO_PLACE_SPREAD};
  std::atomic<uint64_t> next_spread{0};
  const uint64_t serial;  ///< unique per client in this process (thread-local caches)
  SipKey auth;            ///< the operator's credential (empty: none)

  /// Renews the owner's leases: a kStats to every MN each options.keepalive_ms, from its own
  /// thread (and so its own engine), until stop_keepalive().
  void start_keepalive();
  void stop_keepalive();
  std::thread keepalive;
  std::mutex ka_mu;
  std::condition_variable ka_cv;
  bool ka_stop = false;

  std::mutex engine_mu;  ///< creation of engines only
  std::vector<std::unique_ptr<cn::Engine>> engines;
  std::vector<std::thread::id> engine_owners;
  /// The first engine's thread and engine: set once, under engine_mu, and never changed.
  std::atomic<std::thread::id> first_owner{};
  cn::Engine* first_engine = nullptr;
};

}  // namespace clio

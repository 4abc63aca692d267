// SPDX-License-Identifier: Apache-2.0
// Internal to CLib: the client's shared state, and the per-thread request engine.
//
// A Client is shared by threads; each thread that uses it gets its own ThreadCtx (on first use,
// under a mutex that nothing else takes): its own transport endpoint per memory node, its own
// packets, handles, ordering state and congestion windows. So the common case (each thread its
// own requests) shares nothing between threads but the process-wide incast counter (an atomic).
// Ordering rules (release ordering, fences) hold among one thread's requests, as in the paper.
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
#include "cn/congestion.h"
#include "cn/errors.h"
#include "cn/ordering.h"
#include "cn/ring.h"
#include "common/clock.h"
#include "common/siphash.h"
#include "common/status.h"
#include "common/wire.h"
#include "verbs_shim/transport.h"

namespace clio {

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

class ThreadCtx;

/// Elements with stable addresses, indexed by uint32, added `kChunk` at a time up to a cap: a
/// thread's request state starts small and grows only to the depth it uses.
template <typename T, uint32_t kChunk>
class Chunked {
 public:
  T& operator[](uint32_t i) { return chunks_[i / kChunk][i % kChunk]; }
  const T& operator[](uint32_t i) const { return chunks_[i / kChunk][i % kChunk]; }
  uint32_t size() const { return n_; }
  /// Adds kChunk default-constructed elements; returns the index of the first.
  uint32_t grow() {
    chunks_.push_back(std::make_unique<T[]>(kChunk));
    n_ += kChunk;
    return n_ - kChunk;
  }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  uint32_t n_ = 0;
};

// Internal, although nested in the exported Client: hidden from libclio.so's symbol table.
struct __attribute__((visibility("hidden"))) Client::Impl {
  Impl(const ClientOptions& o, std::vector<std::unique_ptr<MnInfo>> m, bool owner);
  ~Impl();

  /// The calling thread's context, created on first use. Throws only on transport set-up
  /// failure (the C++ API turns that into -ENETUNREACH).
  ThreadCtx& ctx();
  /// The owner's remote address spaces, destroyed (best effort) on every MN.
  int destroy_all();
  /// Which MN the next ralloc goes to, per policy (choose_mn in cn/placement.h, over a snapshot
  /// of the MNs taken now); `skip` MNs already failed. mns.size() when there is none.
  size_t place(const std::vector<bool>& skip);

  const ClientOptions options;
  CongestionConfig cc;
  bool ordering = true;  ///< false only for measuring the checks' cost
  std::vector<std::unique_ptr<MnInfo>> mns;
  const bool owner;
  std::atomic<bool> open{true};
  std::atomic<int> placement{CLIO_PLACE_SPREAD};
  std::atomic<uint64_t> next_spread{0};
  const uint64_t serial;  ///< unique per client in this process (thread-local caches)
  SipKey auth;            ///< the operator's credential (empty: none)

  /// Renews the owner's leases: a kStats to every MN each options.keepalive_ms, from its own
  /// thread (and so its own context), until stop_keepalive().
  void start_keepalive();
  void stop_keepalive();
  std::thread keepalive;
  std::mutex ka_mu;
  std::condition_variable ka_cv;
  bool ka_stop = false;

  std::mutex ctx_mu;  ///< creation of contexts only
  std::vector<std::unique_ptr<ThreadCtx>> ctxs;
  std::vector<std::thread::id> ctx_owners;
  std::atomic<uint32_t> ctx_count{0};
  std::unique_ptr<std::atomic<ThreadCtx*>[]> ctx_by_id;  ///< for handles (kMaxThreads)
  /// The first context's thread and context: set once, under ctx_mu, and never changed.
  std::atomic<std::thread::id> first_owner{};
  ThreadCtx* ctxs_first = nullptr;
};

/// Process-wide incast control: reply bytes this process has asked for and not yet received.
struct Incast {
  static std::atomic<int64_t>& outstanding();
  static int64_t cap();  ///< CLIO_INCAST_BYTES or 4 MiB
};

class ThreadCtx {
 public:
  static constexpr size_t kMaxPackets = 8192;  ///< queued or in flight, per thread
  static constexpr size_t kMaxOps = 4096;      ///< live handles, per thread
  static constexpr uint32_t kChunk = 32;       ///< packets or ops added at a time
  static_assert(kMaxPackets % kChunk == 0 && kMaxOps % kChunk == 0);
  static constexpr size_t kMaxThreads = 1024;

  ThreadCtx(Client::Impl& c, uint16_t id);
  ~ThreadCtx();

  // --- Issuing. Each returns an op index (>= 0) or a negative errno. ------------------------
  int read_write(bool write, uint64_t addr, std::byte* in, const std::byte* out, size_t len);
  int atomic(wire::Opcode op, uint64_t addr, uint64_t arg0, uint64_t arg1);
  /// A control operation on one MN: ordered after everything before it, and before everything
  /// after it (metadata and data are ordered).
  int control(size_t mn, wire::Opcode op, uint8_t flags, uint64_t va, uint64_t arg0);

  // --- Completion ------------------------------------------------------------------------
  /// Blocks until `op` is done; returns its result and frees it. *reply (if not null) receives
  /// the first packet's answer (atomics' old value, ralloc's address, ...).
  int wait(uint32_t op, wire::Header* reply = nullptr);
  /// Non-blocking. True when done (*result set, op freed). With `advance`, makes one round of
  /// progress first if `op` is not done yet.
  bool poll(uint32_t op, int* result, bool advance = true);
  /// One round of progress (send, receive, timers); rpoll makes one per call, not one per handle.
  void step();
  /// Batches (rbatch_begin/end): while open, requests issued are held and leave together, in one
  /// burst per MN, when the outermost batch ends, when kChunk are held for one MN, or when this
  /// thread waits or polls. Returns -EINVAL for an end without a begin.
  void batch_begin() { ++batch_depth_; }
  int batch_end();
  uint64_t handle_of(uint32_t op) const;
  /// The op a handle names, if it belongs to this thread and is live.
  bool op_of(uint64_t handle, uint32_t* op) const;

  void fence();
  /// Blocks until every request issued before it is complete.
  void release();

  const ClientCounters& counters() const { return counters_; }
  /// This thread's lock-word value: random, non-zero, its own.
  uint64_t lock_token() const { return lock_token_; }

 private:
  struct Packet;
  struct Op;
  struct Path;

  int new_op();
  int add_packet(uint32_t op, size_t mn, wire::Opcode code, uint64_t lo, uint64_t hi, uint64_t now);
  void drop_op(uint32_t op);
  /// One round: send what may go, receive, handle timeouts. Returns true if anything happened.
  bool progress(uint64_t now);
  void pump(uint64_t now);
  bool blocked(const Packet& p) const;
  void send(Packet& p, uint64_t now, bool retransmission);
  bool receive(size_t mn, const net::PacketView& pkt, uint64_t now);
  /// Resends `p` after `delay_ns` (a NACK, "busy", or a token to use), or fails it when that
  /// would pass its deadline.
  void retry_later(Packet& p, uint64_t now, uint64_t delay_ns);
  void finish(Packet& p, int err);
  void timers(uint64_t now);
  void idle(uint64_t now);
  void flush();
  /// After an issue: flush(), unless a batch is open and no MN has kChunk sends held.
  void flush_unless_batched();

  Client::Impl& c_;
  const uint16_t id_;
  uint64_t session_;          ///< random, never 0: this thread's current request session
  uint64_t seq_counter_ = 1;  ///< the next request's number in the session (>> 16 of seq)
  const uint64_t seq_limit_;  ///< a new session before the counter reaches this
  const uint64_t lock_token_;
  std::vector<Path> paths_;
  /// Grown on demand, so that an idle (client, thread) costs a few KiB, not megabytes.
  void grow_packets();
  Chunked<Packet, kChunk> packets_;
  std::vector<uint32_t> free_packets_;
  Chunked<Op, kChunk> ops_;
  std::vector<uint32_t> free_ops_;
  // Program order: every tracked (queued or in-flight) packet, oldest first, as a linked list.
  uint32_t head_ = UINT32_MAX, tail_ = UINT32_MAX;
  Ring<uint32_t> queued_{kMaxPackets};  ///< not yet sent, in program order
  std::vector<uint32_t> in_flight_;     ///< sent, not answered (any order)
  /// Seq of each fence still holding requests back, distinct and rising: requests after a fence
  /// wait until those before it complete, so each fence has live requests between it and the
  /// next, and there are at most kMaxPackets + 1 of them.
  Ring<uint64_t> fences_{kMaxPackets + 1};
  ConflictIndex index_;
  uint64_t next_seq_ = 1;
  uint32_t full_fences_ = 0;             ///< control packets tracked
  uint64_t pass_ = 1;                    ///< pump passes, to mark full windows cheaply
  bool pump_needed_ = false;             ///< something changed since the last pump
  uint64_t next_timer_ns_ = UINT64_MAX;  ///< no timeout, retry or deadline falls before this
  IdlePoll poll_;
  uint32_t batch_depth_ = 0;  ///< open rbatch_begin()s
  ClientCounters counters_;
};

}  // namespace clio

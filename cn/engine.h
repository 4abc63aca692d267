// SPDX-License-Identifier: Apache-2.0
// Internal to CLib: the per-thread request engine. Each thread that uses a Client gets its own
// Engine (Client::Impl::engine(), cn/client_impl.h): its own transport endpoint per memory node,
// its own packets, handles, ordering state and congestion windows, so the common case (each
// thread its own requests) shares nothing between threads but the process-wide incast counter
// (an atomic). Ordering rules (release ordering, fences) hold among one thread's requests, as in
// the paper. Steady state allocates nothing, throws nothing and takes no lock.
//
// Implemented in three files, by what they hold:
//   engine.cc          set-up, handles, issuing requests, batches, fences, waiting (completion)
//                      and the progress loop that drives the other two
//   engine_send.cc     what may leave (ordering, windows, incast), sending, retransmission and
//                      deadlines (timers)
//   engine_receive.cc  matching answers to requests, retries they ask for, finishing a packet
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "clio/client.h"
#include "cn/congestion.h"
#include "cn/ordering_tracker.h"
#include "cn/ring.h"
#include "common/clock.h"
#include "common/wire.h"
#include "verbs_shim/transport.h"

namespace clio::cn {

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

/// Process-wide incast control: reply bytes this process has asked for and not yet received.
struct Incast {
  /// Inline: the engine's sending and receiving files both touch it per request.
  static std::atomic<int64_t>& outstanding() { return outstanding_; }
  static int64_t cap();  ///< CLIO_INCAST_BYTES or 4 MiB

 private:
  static inline constinit std::atomic<int64_t> outstanding_{0};
};

class Engine {
 public:
  static constexpr size_t kMaxPackets = 8192;  ///< queued or in flight, per thread
  static constexpr size_t kMaxOps = 4096;      ///< live handles, per thread
  static constexpr uint32_t kChunk = 32;       ///< packets or ops added at a time
  static_assert(kMaxPackets % kChunk == 0 && kMaxOps % kChunk == 0);
  static constexpr size_t kMaxThreads = 1024;

  Engine(Client::Impl& c, uint16_t id);
  ~Engine();

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

  /// Requests issued after it wait until every request issued before it is complete. Does not
  /// block, unless the most fences the engine tracks are outstanding (which the API cannot reach:
  /// see ordering_): then it makes progress until one is done.
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

  // Request identity (docs/protocol.md): (session, seq). The session is a random 64-bit number
  // drawn per engine; seq is [63:16] a counter that only grows within the session, [15:0] the
  // packet slot. Before the counter reaches 2^seq_bits the engine draws a new session, so no
  // identity repeats. An answer names its seq, so the slot is found without a search; the whole
  // identity is compared, so a late answer for a slot's previous use is recognised.
  static constexpr int kSlotBits = 16;
  static constexpr uint64_t kSlotMask = (uint64_t{1} << kSlotBits) - 1;
  static_assert(kMaxPackets <= kSlotMask + 1);

  // --- engine.cc: ops, issuing, the progress loop ----------------------------------------
  int new_op();
  void drop_op(uint32_t op);  ///< inline, below: wait() and poll() call it per op
  int add_packet(uint32_t op, size_t mn, wire::Opcode code, uint64_t lo, uint64_t hi, uint64_t now);
  /// Grown on demand, so that an idle (client, thread) costs a few KiB, not megabytes.
  void grow_packets();
  /// After an issue: flush(), unless a batch is open and no MN has kChunk sends held.
  void flush_unless_batched();
  /// One round: send what may go, receive, handle timeouts. Returns true if anything happened.
  bool progress(uint64_t now);
  void idle(uint64_t now);
  /// One round of a loop that waits for completions: progress(), and when nothing happened,
  /// idle(); a round that did something restarts the idle stretch (IdlePoll::busy), so that
  /// a waiter that keeps making progress keeps spinning rather than yielding.
  void wait_round();

  // --- engine_send.cc: what may leave, sending, timers --------------------------------------
  void pump(uint64_t now);
  struct Tracked;  ///< the ordering rules' view of the tracked packets
  static OrderedRequest ordered(const Packet& p);
  bool blocked(const Packet& p) const;
  void send(Packet& p, uint64_t now, bool retransmission);
  void flush();
  /// Retransmits what timed out, sends what waited for a retry, fails what passed its deadline.
  /// Returns at once until the earliest of those is due (inline: progress() calls it every
  /// round).
  void timers(uint64_t now) {
    if (now >= next_timer_ns_) [[unlikely]]
      run_timers(now);
  }
  void run_timers(uint64_t now);

  // --- engine_receive.cc: answers, retries, finishing ---------------------------------------
  bool receive(size_t mn, const net::PacketView& pkt, uint64_t now);
  /// Resends `p` after `delay_ns` (a NACK, "busy", or a token to use), or fails it when that
  /// would pass its deadline.
  void retry_later(Packet& p, uint64_t now, uint64_t delay_ns);
  void finish(Packet& p, int err);

  Client::Impl& c_;
  const uint16_t id_;
  uint64_t session_;          ///< random, never 0: this thread's current request session
  uint64_t seq_counter_ = 1;  ///< the next request's number in the session (>> 16 of seq)
  const uint64_t seq_limit_;  ///< a new session before the counter reaches this
  const uint64_t lock_token_;
  std::vector<Path> paths_;
  Chunked<Packet, kChunk> packets_;
  std::vector<uint32_t> free_packets_;
  Chunked<Op, kChunk> ops_;
  std::vector<uint32_t> free_ops_;
  // Program order: every tracked (queued or in-flight) packet, oldest first, as a linked list.
  uint32_t head_ = UINT32_MAX, tail_ = UINT32_MAX;
  Ring<uint32_t> queued_{kMaxPackets};  ///< not yet sent, in program order
  std::vector<uint32_t> in_flight_;     ///< sent, not answered (any order)
  /// The ordering rules' state. Requests after a fence wait until those before it complete, so
  /// each fence normally has live requests between it and the next: at most kMaxPackets + 1.
  OrderingTracker ordering_{kMaxPackets + 1};
  uint64_t next_seq_ = 1;
  uint64_t pass_ = 1;                    ///< pump passes, to mark full windows cheaply
  bool pump_needed_ = false;             ///< something changed since the last pump
  uint64_t next_timer_ns_ = UINT64_MAX;  ///< no timeout, retry or deadline falls before this
  IdlePoll poll_;
  uint32_t batch_depth_ = 0;  ///< open rbatch_begin()s
  ClientCounters counters_;
};

// The engine's records, defined here for its three files.

struct Engine::Packet {
  enum State : uint8_t { kFree, kQueued, kInFlight, kWaitRetry };
  wire::Header hdr{};
  std::span<const std::byte> payload;
  std::byte* read_into = nullptr;
  uint64_t lo = 0, hi = 0;  ///< client-address bytes it touches (ordering)
  uint64_t seq = 0;         ///< program order within the thread
  uint64_t session = 0;     ///< the request's identity (every attempt carries it)
  uint64_t id = 0;
  uint64_t first_ns = 0, sent_ns = 0, rto_ns = 0, retry_at_ns = 0, deadline_ns = 0;
  uint32_t op = 0;
  uint32_t index = 0;                             ///< its own place in packets_
  uint32_t prev = UINT32_MAX, next = UINT32_MAX;  ///< program-order list of tracked packets
  uint32_t flight_pos = 0;                        ///< index in in_flight_ while there
  uint32_t reply_bytes = 0;                       ///< counted against the incast cap
  uint16_t mn = 0;
  uint16_t attempts = 0;  ///< transmissions so far (saturating)
  State state = kFree;
  bool write = false;
  bool full_fence = false;  ///< control operations: ordered against everything
  bool busy_only = true;    ///< every answer so far said "retry later"
  bool retransmitted = false;
  bool counted = false;  ///< reply_bytes are in the incast counter
  bool held = false;     ///< counted once in held_back
};

struct Engine::Op {
  uint32_t gen = 1;
  uint32_t remaining = 0;
  int result = 0;
  uint64_t err_seq = UINT64_MAX;  ///< seq of the packet whose error `result` is
  uint64_t first_seq = 0;
  bool live = false;
  wire::Header reply{};  ///< the first packet's answer
};

struct Engine::Path {
  std::unique_ptr<net::Transport> transport;
  net::Endpoint server;
  DelayWindow window;
  RttEstimator rtt;
  uint32_t in_flight = 0;
  uint32_t max_chunk = 0;
  uint64_t token = 0;           ///< the MN's address token for this endpoint (0: none yet)
  bool check_source = false;    ///< drop packets whose source is not `server`
  uint64_t full_pass = 0;       ///< pump pass in which the window was found full
  std::vector<net::TxItem> tx;  ///< this round's sends, flushed in one burst
};

inline OrderedRequest Engine::ordered(const Packet& p) {
  return OrderedRequest{p.seq, p.lo, p.hi, p.write, p.full_fence};
}

inline void Engine::drop_op(uint32_t op) {
  Op& o = ops_[op];
  o.live = false;
  ++o.gen;
  free_ops_.push_back(op);
}

}  // namespace clio::cn

// SPDX-License-Identifier: Apache-2.0
// CLib's per-thread request engine: ordering, windows, send, receive, retransmit, complete.
// Steady state allocates nothing and takes no lock.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cn/client_impl.h"
#include "common/check.h"
#include "common/clock.h"
#include "common/rng.h"
#include "verbs_shim/registry.h"

namespace clio {

using wire::Header;
using wire::Opcode;

// Request identity (docs/protocol.md): (session, seq). The session is a random 64-bit number drawn
// per thread context; seq is [63:16] a counter that only grows within the session, [15:0] the
// packet slot. Before the counter reaches 2^seq_bits the thread draws a new session, so no
// identity repeats. An answer names its seq, so the slot is found without a search; the whole
// identity is compared, so a late answer for a slot's previous use is recognised.
namespace {
constexpr int kSlotBits = 16;
constexpr uint64_t kSlotMask = (uint64_t{1} << kSlotBits) - 1;
static_assert(ThreadCtx::kMaxPackets <= kSlotMask + 1);

// Handle ids (clio_handle.id, Handle::id()): [63:48] the issuing thread's id + 1 (so no live
// handle is 0, the empty one), [47:16] the op slot's generation (a finished handle's slot is
// reused under the next one), [15:0] the op slot.
constexpr int kHandleThreadShift = 48;
constexpr int kHandleGenShift = 16;
constexpr uint64_t kHandleGenMask = 0xFFFF'FFFF;
constexpr uint64_t kHandleOpMask = (uint64_t{1} << kHandleGenShift) - 1;
static_assert(ThreadCtx::kMaxOps <= kHandleOpMask + 1, "op slots must fit the handle");
static_assert(ThreadCtx::kMaxThreads + 1 <= (uint64_t{1} << (64 - kHandleThreadShift)),
              "thread ids must fit the handle");
static_assert(kHandleGenShift + 32 == kHandleThreadShift, "the 32-bit generation fills the middle");

uint64_t new_session() {
  uint64_t s;
  do s = random_key();
  while (s == 0);
  return s;
}
}  // namespace

struct ThreadCtx::Packet {
  enum State : uint8_t { kFree, kQueued, kInFlight, kWaitRetry };
  Header hdr{};
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

struct ThreadCtx::Op {
  uint32_t gen = 1;
  uint32_t remaining = 0;
  int result = 0;
  uint64_t err_seq = UINT64_MAX;  ///< seq of the packet whose error `result` is
  uint64_t first_seq = 0;
  bool live = false;
  Header reply{};  ///< the first packet's answer
};

struct ThreadCtx::Path {
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

std::atomic<int64_t>& Incast::outstanding() {
  static std::atomic<int64_t> bytes{0};
  return bytes;
}

int64_t Incast::cap() {
  static const int64_t kCap = [] {
    const char* env = std::getenv("CLIO_INCAST_BYTES");
    const long long v = env ? std::atoll(env) : 0;
    return v > 0 ? static_cast<int64_t>(v) : int64_t{4} << 20;
  }();
  return kCap;
}

ThreadCtx::ThreadCtx(Client::Impl& c, uint16_t id)
    : c_(c),
      id_(id),
      session_(new_session()),
      seq_limit_(uint64_t{1} << std::clamp(c.options.seq_bits, 2u, 48u)),
      lock_token_(random_key()) {
  paths_.resize(c.mns.size());
  for (size_t m = 0; m < c.mns.size(); ++m) {
    Path& p = paths_[m];
    p.transport = net::connect(c.mns[m]->locator, &p.server);  // throws TransportError
    p.window = DelayWindow(c.cc);
    p.check_source = p.transport->exact_peer_source();
    p.max_chunk = std::min<uint32_t>(p.transport->mtu() - static_cast<uint32_t>(wire::kHeaderBytes),
                                     wire::kMaxAccessBytes);
    p.tx.reserve(kChunk);
  }
  grow_packets();
  in_flight_.reserve(kChunk);
}

void ThreadCtx::grow_packets() {
  const uint32_t first = packets_.grow();
  for (uint32_t i = first + kChunk; i-- > first;) {
    packets_[i].index = i;
    free_packets_.push_back(i);
  }
}

ThreadCtx::~ThreadCtx() {
  // Give back what this thread still had counted against the process-wide incast cap.
  for (uint32_t i = 0; i < packets_.size(); ++i)
    if (const Packet& p = packets_[i]; p.counted)
      Incast::outstanding().fetch_sub(p.reply_bytes, std::memory_order_relaxed);
}

// --- Handles ------------------------------------------------------------------------------

uint64_t ThreadCtx::handle_of(uint32_t op) const {
  return (static_cast<uint64_t>(id_ + 1) << kHandleThreadShift) |
         (static_cast<uint64_t>(ops_[op].gen) << kHandleGenShift) | op;
}

bool ThreadCtx::op_of(uint64_t handle, uint32_t* op) const {
  if ((handle >> kHandleThreadShift) != static_cast<uint64_t>(id_ + 1)) return false;
  const uint32_t i = static_cast<uint32_t>(handle & kHandleOpMask);
  if (i >= ops_.size() || !ops_[i].live ||
      ops_[i].gen != ((handle >> kHandleGenShift) & kHandleGenMask))
    return false;
  *op = i;
  return true;
}

int ThreadCtx::new_op() {
  if (free_ops_.empty()) {
    if (ops_.size() >= kMaxOps) return -EAGAIN;  // too many unfinished handles
    const uint32_t first = ops_.grow();
    for (uint32_t i = first + kChunk; i-- > first;) free_ops_.push_back(i);
  }
  const uint32_t i = free_ops_.back();
  free_ops_.pop_back();
  Op& o = ops_[i];
  o.remaining = 0;
  o.result = 0;
  o.err_seq = UINT64_MAX;
  o.first_seq = next_seq_;
  o.live = true;
  o.reply = Header{};
  return static_cast<int>(i);
}

void ThreadCtx::drop_op(uint32_t op) {
  Op& o = ops_[op];
  o.live = false;
  ++o.gen;
  free_ops_.push_back(op);
}

// --- Issuing ------------------------------------------------------------------------------

int ThreadCtx::add_packet(uint32_t op, size_t mn, Opcode code, uint64_t lo, uint64_t hi,
                          uint64_t now) {
  if (free_packets_.empty() && packets_.size() < kMaxPackets) grow_packets();
  if (free_packets_.empty()) {
    // Full: make room by completing older requests (bounded by their deadlines).
    while (free_packets_.empty()) {
      now = fast_now_ns();
      if (!progress(now)) idle(now);
    }
  }
  const uint32_t i = free_packets_.back();
  free_packets_.pop_back();
  Packet& p = packets_[i];
  const MnInfo& m = *c_.mns[mn];
  p.hdr = wire::make_header(code);
  p.session = session_;
  p.id = (seq_counter_ << kSlotBits) | i;
  if (++seq_counter_ >= seq_limit_) {  // never reuse an identity: a new incarnation instead
    session_ = new_session();
    seq_counter_ = 1;
    ++counters_.sessions;
  }
  p.hdr.pid = code == Opcode::kRasCreate ? 0 : m.pid;
  p.hdr.key = code == Opcode::kRasCreate
                  ? (c_.auth.empty() ? 0 : wire::credential_proof(c_.auth, p.session, p.id))
                  : m.key;
  p.payload = {};
  p.read_into = nullptr;
  p.lo = lo;
  p.hi = hi;
  p.seq = next_seq_++;
  p.op = op;
  p.mn = static_cast<uint16_t>(mn);
  p.attempts = 0;
  p.state = Packet::kQueued;
  p.write = code != Opcode::kRead && code != Opcode::kStats;
  p.full_fence = !wire::is_data_opcode(code);
  p.busy_only = true;
  p.retransmitted = false;
  p.counted = false;
  p.held = false;
  p.reply_bytes = static_cast<uint32_t>(wire::kHeaderBytes);
  p.first_ns = now;
  p.deadline_ns = p.first_ns + c_.options.deadline_ms * 1'000'000;
  next_timer_ns_ = std::min(next_timer_ns_, p.deadline_ns);
  // Append to program order.
  p.prev = tail_;
  p.next = UINT32_MAX;
  if (tail_ != UINT32_MAX) packets_[tail_].next = i;
  tail_ = i;
  if (head_ == UINT32_MAX) head_ = i;
  const bool queued = queued_.push_back(i);  // kMaxPackets entries: every packet fits
  CLIO_DCHECK(queued);
  (void)queued;
  pump_needed_ = true;
  if (p.full_fence) {
    ++full_fences_;
  } else {
    index_.add(lo, hi, p.write);
  }
  ++ops_[op].remaining;
  return static_cast<int>(i);
}

int ThreadCtx::read_write(bool write, uint64_t addr, std::byte* in, const std::byte* out,
                          size_t len) {
  const size_t mn = addr >> kMnShift;
  if (mn >= c_.mns.size()) return -EFAULT;
  const uint64_t va = addr & kVaMask;
  if (va + len < va || va + len > kVaMask + 1) return -EINVAL;
  const int op = new_op();
  if (op < 0) return op;
  const uint64_t page = c_.mns[mn]->page_bytes;
  const uint32_t max_chunk = paths_[mn].max_chunk;
  const uint64_t now = fast_now_ns();
  uint64_t at = va;
  while (len != 0) {
    const size_t chunk = std::min<uint64_t>({len, max_chunk, page - (at & (page - 1))});
    const int pi = add_packet(static_cast<uint32_t>(op), mn, write ? Opcode::kWrite : Opcode::kRead,
                              client_address(mn, at), client_address(mn, at) + chunk, now);
    Packet& p = packets_[pi];
    p.hdr.va = at;
    p.hdr.length = static_cast<uint32_t>(chunk);
    if (write) {
      p.payload = std::span(out, chunk);
      out += chunk;
    } else {
      p.read_into = in;
      in += chunk;
      p.reply_bytes += static_cast<uint32_t>(chunk);
    }
    at += chunk;
    len -= chunk;
  }
  pump(now);
  flush_unless_batched();
  return op;
}

int ThreadCtx::atomic(Opcode code, uint64_t addr, uint64_t arg0, uint64_t arg1) {
  const size_t mn = addr >> kMnShift;
  if (mn >= c_.mns.size()) return -EFAULT;
  const int op = new_op();
  if (op < 0) return op;
  const uint64_t now = fast_now_ns();
  const int pi = add_packet(static_cast<uint32_t>(op), mn, code, addr, addr + 8, now);
  Packet& p = packets_[pi];
  p.hdr.va = addr & kVaMask;
  p.hdr.length = 8;
  p.hdr.arg0 = arg0;
  p.hdr.arg1 = arg1;
  pump(now);
  flush_unless_batched();
  return op;
}

int ThreadCtx::control(size_t mn, Opcode code, uint8_t flags, uint64_t va, uint64_t arg0) {
  const int op = new_op();
  if (op < 0) return op;
  const uint64_t now = fast_now_ns();
  const int pi = add_packet(static_cast<uint32_t>(op), mn, code, 0, 0, now);
  Packet& p = packets_[pi];
  p.hdr.flags = flags;
  p.hdr.va = va;
  p.hdr.arg0 = arg0;
  pump(now);
  flush();
  return op;
}

// --- Ordering and sending -----------------------------------------------------------------

bool ThreadCtx::blocked(const Packet& p) const {
  const uint64_t oldest = packets_[head_].seq;
  if (!fences_.empty() && p.seq >= fences_.front() && oldest < fences_.front()) return true;
  if (p.full_fence) return oldest != p.seq;  // waits for everything before it
  if (full_fences_ != 0) {
    // A control operation issued earlier and still tracked holds everything after it.
    for (uint32_t i = head_; i != UINT32_MAX && packets_[i].seq < p.seq; i = packets_[i].next)
      if (packets_[i].full_fence) return true;
  }
  if (!c_.ordering || !index_.may_conflict(p.lo, p.hi, p.write, /*self_tracked=*/true))
    return false;
  for (uint32_t i : in_flight_) {
    const Packet& q = packets_[i];
    if (ranges_conflict(p.lo, p.hi, p.write, q.lo, q.hi, q.write)) return true;
  }
  for (size_t k = 0; k < queued_.size(); ++k) {  // earlier requests still waiting, in order
    const Packet& q = packets_[queued_[k]];
    if (q.seq >= p.seq) break;
    if (ranges_conflict(p.lo, p.hi, p.write, q.lo, q.hi, q.write)) return true;
  }
  return false;
}

void ThreadCtx::pump(uint64_t now) {
  // Only a new request, a completion or an acknowledgement can let a held request go; a
  // window below one request (pacing) can also open by time alone.
  if (queued_.empty() || !pump_needed_) return;
  pump_needed_ = false;
  ++pass_;
  const int64_t cap = Incast::cap();
  // What may go now, for the request at the front; false stops the front loop below.
  auto may_send = [&](Packet& p, bool* stop_all) {
    Path& path = paths_[p.mn];
    if (path.full_pass == pass_) return false;
    if (!path.window.can_send(path.in_flight, now, path.rtt.srtt_ns())) {
      ++counters_.window_waits;
      if (path.window.window() < 1) pump_needed_ = true;  // paced: time will open it
      path.full_pass = pass_;
      return false;
    }
    const int64_t out = Incast::outstanding().load(std::memory_order_relaxed);
    if (out > 0 && out + p.reply_bytes > cap) {  // the process asked for enough replies
      ++counters_.window_waits;
      pump_needed_ = true;  // other threads' completions free it: look again next round
      *stop_all = true;
      return false;
    }
    return true;
  };
  // The common case: requests leave in order from the front of the queue.
  bool stop_all = false;
  while (!queued_.empty()) {
    Packet& p = packets_[queued_.front()];
    if (!may_send(p, &stop_all)) break;
    if (blocked(p)) break;
    queued_.pop_front();
    send(p, now, false);
  }
  if (queued_.empty() || stop_all || (paths_.size() == 1 && paths_[0].full_pass == pass_)) return;

  // The front waits (for ordering, or its path's window): later requests may still go, in
  // order, unless they overlap an earlier waiting one.
  size_t kept = 0;
  size_t k = 0;
  size_t full_paths = 0;
  for (const Path& path : paths_) full_paths += path.full_pass == pass_;
  for (; k < queued_.size(); ++k) {
    const uint32_t i = queued_[k];
    Packet& p = packets_[i];
    const bool was_full = paths_[p.mn].full_pass == pass_;
    if (!may_send(p, &stop_all)) {
      queued_[kept++] = i;
      if (stop_all) break;
      // A path found full just now: when every path is, nothing else can go this pass.
      if (!was_full && paths_[p.mn].full_pass == pass_ && ++full_paths == paths_.size()) break;
      continue;
    }
    // blocked() scans queued_ up to p: positions [0, kept) hold the earlier requests still
    // waiting, [kept, k) stale copies of entries already handled this pass (kept ones, or sent
    // ones, which are in in_flight_ too). Seeing an entry twice changes no answer.
    if (blocked(p)) {
      if (!p.held) {
        ++counters_.held_back;
        p.held = true;
      }
      queued_[kept++] = i;
      continue;
    }
    send(p, now, false);
  }
  if (k < queued_.size()) {  // stopped early: the rest keep their places, in order
    for (size_t r = k + 1; r < queued_.size(); ++r) queued_[kept++] = queued_[r];
  }
  queued_.truncate(kept);
}

void ThreadCtx::send(Packet& p, uint64_t now, bool retransmission) {
  Path& path = paths_[p.mn];
  p.hdr.session = p.session;
  p.hdr.seq = p.id;
  p.hdr.token = path.token;
  if (retransmission) {
    if (p.attempts != UINT16_MAX) ++p.attempts;
    p.hdr.attempt = static_cast<uint16_t>(p.attempts - 1);
    // Measured from the request's issue, which is no later than its first transmission: an age
    // may be over-stated (the MN then refuses sooner), never under-stated.
    p.hdr.age_ms =
        static_cast<uint32_t>(std::min<uint64_t>((now - p.first_ns) / 1'000'000, UINT32_MAX));
    p.rto_ns = std::min(p.rto_ns * 2, c_.options.max_rto_us * 1000);
    p.retransmitted = true;
    ++counters_.retransmissions;
  } else {
    p.hdr.attempt = 0;
    const uint64_t queued_ns = now - p.first_ns;  // usually none: skip the division
    p.hdr.age_ms =
        queued_ns < 1'000'000
            ? 0
            : static_cast<uint32_t>(std::min<uint64_t>(queued_ns / 1'000'000, UINT32_MAX));
    p.rto_ns = path.rtt.rto_ns(c_.options.rto_us * 1000, c_.options.max_rto_us * 1000);
    p.retransmitted = false;
    p.attempts = 1;
    p.state = Packet::kInFlight;
    p.flight_pos = static_cast<uint32_t>(in_flight_.size());
    in_flight_.push_back(p.index);
    ++path.in_flight;
    path.window.on_send(now);
    Incast::outstanding().fetch_add(p.reply_bytes, std::memory_order_relaxed);
    p.counted = true;
    ++counters_.requests;
  }
  p.state = Packet::kInFlight;
  p.sent_ns = now;
  next_timer_ns_ = std::min(next_timer_ns_, now + p.rto_ns);
  wire::seal(p.hdr, p.payload);
  path.tx.push_back(net::TxItem{path.server, std::as_bytes(std::span(&p.hdr, 1)), p.payload});
}

void ThreadCtx::flush() {
  for (Path& path : paths_) {
    if (path.tx.empty()) continue;
    // What the transport does not take now is as good as lost: the timer sends it again.
    (void)path.transport->tx_burst(path.tx);
    path.tx.clear();
  }
}

void ThreadCtx::step() { progress(fast_now_ns()); }

void ThreadCtx::flush_unless_batched() {
  if (batch_depth_ != 0) {
    bool full = false;
    for (const Path& path : paths_) full |= path.tx.size() >= kChunk;
    if (!full) return;  // held: rbatch_end(), a wait or a poll sends them
  }
  flush();
}

int ThreadCtx::batch_end() {
  if (batch_depth_ == 0) return -EINVAL;
  if (--batch_depth_ == 0) flush();
  return 0;
}

// --- Receiving and completing -------------------------------------------------------------

void ThreadCtx::retry_later(Packet& p, uint64_t now, uint64_t delay_ns) {
  p.state = Packet::kWaitRetry;
  p.retry_at_ns = now + delay_ns;
  next_timer_ns_ = std::min(next_timer_ns_, std::min(p.retry_at_ns, p.deadline_ns));
}

bool ThreadCtx::receive(size_t mn, const net::PacketView& pv, uint64_t now) {
  Path& path = paths_[mn];
  if (path.check_source && !(pv.from == path.server)) [[unlikely]] {
    ++counters_.foreign;  // not from the MN: whatever it says, it is not an answer
    return false;
  }
  const std::span<const std::byte> pkt = pv.data;
  Header h;
  if (wire::validate(pkt, &h) != Status::kOk || !(h.flags & wire::kFlagReply)) {
    ++counters_.stray;
    return false;
  }
  const uint32_t i = h.seq & kSlotMask;
  if (i >= packets_.size()) {
    ++counters_.stray;
    return false;
  }
  Packet& p = packets_[i];
  if ((p.state != Packet::kInFlight && p.state != Packet::kWaitRetry) || p.session != h.session ||
      p.id != h.seq || p.mn != mn || h.opcode != p.hdr.opcode) {
    ++counters_.stray;  // a duplicate, or a late answer for an earlier use of this slot
    return false;
  }
  const auto s = static_cast<Status>(h.status);
  if (p.write && s != Status::kBadChecksum && s != Status::kUnproven)
    counters_.min_horizon_ms = std::min<uint64_t>(
        counters_.min_horizon_ms, h.age_ms == wire::kHorizonUnbounded ? UINT64_MAX : h.age_ms);
  // Resends after NACKs and "busy" are paced: 20 us doubling per attempt, capped by the
  // timeout, so that a path that keeps corrupting our packets gets no storm, and the deadline
  // still bounds the call.
  const uint64_t pace_ns =
      std::min<uint64_t>(20'000ull << std::min<uint32_t>(p.attempts, 12), p.rto_ns);
  if (s == Status::kBadChecksum) {  // the MN got our packet damaged: send it again soon
    ++counters_.nacks;
    retry_later(p, now, pace_ns);
    return false;
  }
  if (s == Status::kUnproven) {  // large read: the MN wants proof of our address first
    ++counters_.unproven;
    const bool news = h.token != 0 && h.token != path.token;
    if (h.token != 0) path.token = h.token;
    retry_later(p, now, news ? 0 : pace_ns);  // a token we already sent is paced
    return false;
  }
  if (s == Status::kRetryLater) {  // not executed; back off and try again
    ++counters_.busy;
    retry_later(p, now,
                std::min<uint64_t>(50'000ull << std::min<uint32_t>(p.attempts, 10),
                                   c_.options.max_rto_us * 1000));
    return false;
  }
  if (s == Status::kStale) ++counters_.stale;

  if (h.opcode == static_cast<uint8_t>(Opcode::kRasCreate) && s == Status::kOk && h.token != 0)
    path.token = h.token;
  if (p.read_into != nullptr && s == Status::kOk) {
    const auto data = wire::payload_of(pkt);
    if (data.size() != p.hdr.length) {
      ++counters_.stray;
      return false;
    }
    std::memcpy(p.read_into, data.data(), data.size());
  }
  if (!p.retransmitted) {  // Karn: only unambiguous samples
    const uint64_t rtt = now - p.sent_ns;
    path.rtt.sample(rtt);
    path.window.on_ack(rtt, path.rtt.min_ns(), path.rtt.srtt_ns(), now);
  }
  Op& o = ops_[p.op];
  if (p.seq == o.first_seq) o.reply = h;
  finish(p, status_to_errno(s));
  return true;
}

void ThreadCtx::finish(Packet& p, int err) {
  const uint32_t i = p.index;
  if (p.state == Packet::kQueued) {
    queued_.erase_at(queued_.find(i));
  } else {
    const uint32_t last = in_flight_.back();
    in_flight_[p.flight_pos] = last;
    packets_[last].flight_pos = p.flight_pos;
    in_flight_.pop_back();
    --paths_[p.mn].in_flight;
  }
  if (p.counted) {
    Incast::outstanding().fetch_sub(p.reply_bytes, std::memory_order_relaxed);
    p.counted = false;
  }
  if (p.full_fence) {
    --full_fences_;
  } else {
    index_.remove(p.lo, p.hi, p.write);
  }
  // Unlink from program order.
  if (p.prev != UINT32_MAX)
    packets_[p.prev].next = p.next;
  else
    head_ = p.next;
  if (p.next != UINT32_MAX)
    packets_[p.next].prev = p.prev;
  else
    tail_ = p.prev;
  Op& o = ops_[p.op];
  if (err != 0 && p.seq < o.err_seq) {
    o.err_seq = p.seq;
    o.result = err;
  }
  --o.remaining;
  pump_needed_ = true;
  p.state = Packet::kFree;
  free_packets_.push_back(i);
  // Fences whose requests have all completed stop holding anything back.
  while (!fences_.empty() && (head_ == UINT32_MAX || packets_[head_].seq >= fences_.front()))
    fences_.pop_front();
}

void ThreadCtx::timers(uint64_t now) {
  if (now < next_timer_ns_) return;  // nothing is due yet (kept exact by every change)
  uint64_t next = UINT64_MAX;
  for (size_t k = in_flight_.size(); k-- > 0;) {
    Packet& p = packets_[in_flight_[k]];
    // The deadline holds whatever arrives (NACKs, "busy", tokens, garbage, silence).
    if (now >= p.deadline_ns) {
      finish(p, p.state == Packet::kWaitRetry && p.busy_only ? -EAGAIN : -ETIMEDOUT);
      continue;
    }
    if (p.state == Packet::kInFlight) {
      p.busy_only = false;
      if (now - p.sent_ns >= p.rto_ns) {
        ++counters_.timeouts;
        Path& path = paths_[p.mn];
        path.window.on_timeout(path.rtt.srtt_ns(), now);
        send(p, now, true);
      }
      next = std::min(next, p.sent_ns + p.rto_ns);
    } else if (p.state == Packet::kWaitRetry) {
      if (now >= p.retry_at_ns) {
        send(p, now, true);
        next = std::min(next, p.sent_ns + p.rto_ns);
      } else {
        next = std::min(next, p.retry_at_ns);
      }
    }
    next = std::min(next, p.deadline_ns);
  }
  // Requests that never got out (held by ordering, the window or a dead MN) expire too.
  for (size_t k = queued_.size(); k-- > 0;) {
    Packet& p = packets_[queued_[k]];
    if (now >= p.deadline_ns) {
      finish(p, -ETIMEDOUT);
    } else {
      next = std::min(next, p.deadline_ns);
    }
  }
  next_timer_ns_ = next;
}

bool ThreadCtx::progress(uint64_t now) {
  pump(now);
  bool any = false;
  net::PacketView rx[32];
  for (size_t m = 0; m < paths_.size(); ++m) {
    Path& path = paths_[m];
    if (path.in_flight == 0) continue;
    // No more views than answers awaited: a transport prepares one receive slot per view, and
    // with many clients in one process each slot is a cold cache line (late duplicates wait for
    // the next call).
    const size_t want = std::min<size_t>(std::size(rx), path.in_flight);
    const size_t got = path.transport->rx_burst(std::span(rx, want));
    for (size_t k = 0; k < got; ++k) any |= receive(m, rx[k], now);
    path.transport->release(std::span(rx, got));
  }
  timers(now);         // returns at once until the earliest timer is due
  if (any) pump(now);  // completions may have let held requests go
  flush();
  return any;
}

void ThreadCtx::idle(uint64_t now) {
  // Sleep (for transports that can) only when a single path has something outstanding, and
  // only until the earliest timer.
  size_t busy_paths = 0, which = 0;
  for (size_t m = 0; m < paths_.size(); ++m)
    if (paths_[m].in_flight != 0) ++busy_paths, which = m;
  if (busy_paths == 1 && next_timer_ns_ > now)
    paths_[which].transport->wait(std::min<uint64_t>(next_timer_ns_ - now, 10'000'000));
  poll_.idle();
}

// --- Completion ---------------------------------------------------------------------------

int ThreadCtx::wait(uint32_t op, Header* reply) {
  while (ops_[op].remaining != 0) {
    const uint64_t now = fast_now_ns();
    if (progress(now)) {
      poll_.busy();
    } else {
      idle(now);
    }
  }
  const int r = ops_[op].result;
  if (reply != nullptr) *reply = ops_[op].reply;
  drop_op(op);
  return r;
}

bool ThreadCtx::poll(uint32_t op, int* result, bool advance) {
  if (advance && ops_[op].remaining != 0) progress(fast_now_ns());
  if (ops_[op].remaining != 0) return false;
  *result = ops_[op].result;
  drop_op(op);
  return true;
}

void ThreadCtx::fence() {
  // Nothing tracked: nothing to hold back. A second fence at the same point adds nothing.
  if (head_ == UINT32_MAX || (!fences_.empty() && fences_.back() == next_seq_)) return;
  const bool added = fences_.push_back(next_seq_);  // bounded: see fences_
  CLIO_DCHECK(added);
  (void)added;
}

void ThreadCtx::release() {
  while (head_ != UINT32_MAX) {
    const uint64_t now = fast_now_ns();
    if (progress(now)) {
      poll_.busy();
    } else {
      idle(now);
    }
  }
}

}  // namespace clio

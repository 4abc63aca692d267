// SPDX-License-Identifier: Apache-2.0
// CLib's engine (cn/engine.h): set-up, handles, issuing requests, batches, fences, waiting for
// completion, and the progress loop that drives sending (engine_send.cc) and receiving
// (engine_receive.cc). Steady state allocates nothing and takes no lock.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cn/client_impl.h"
#include "common/check.h"
#include "common/clock.h"
#include "common/rng.h"
#include "verbs_shim/registry.h"

namespace clio::cn {

using wire::Header;
using wire::Opcode;

namespace {

// Handle ids (clio_handle.id, Handle::id()): [63:48] the issuing thread's id + 1 (so no live
// handle is 0, the empty one), [47:16] the op slot's generation (a finished handle's slot is
// reused under the next one), [15:0] the op slot.
constexpr int kHandleThreadShift = 48;
constexpr int kHandleGenShift = 16;
constexpr uint64_t kHandleGenMask = 0xFFFF'FFFF;
constexpr uint64_t kHandleOpMask = (uint64_t{1} << kHandleGenShift) - 1;
static_assert(Engine::kMaxOps <= kHandleOpMask + 1, "op slots must fit the handle");
static_assert(Engine::kMaxThreads + 1 <= (uint64_t{1} << (64 - kHandleThreadShift)),
              "thread ids must fit the handle");
static_assert(kHandleGenShift + 32 == kHandleThreadShift, "the 32-bit generation fills the middle");

uint64_t new_session() {
  uint64_t s;
  do s = random_key();
  while (s == 0);
  return s;
}
}  // namespace

int64_t Incast::cap() {
  static const int64_t kCap = [] {
    const char* env = std::getenv("CLIO_INCAST_BYTES");
    const long long v = env ? std::atoll(env) : 0;
    return v > 0 ? static_cast<int64_t>(v) : int64_t{4} << 20;
  }();
  return kCap;
}

Engine::Engine(Client::Impl& c, uint16_t id)
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

void Engine::grow_packets() {
  const uint32_t first = packets_.grow();
  for (uint32_t i = first + kChunk; i-- > first;) {
    packets_[i].index = i;
    free_packets_.push_back(i);
  }
}

Engine::~Engine() {
  // Give back what this thread still had counted against the process-wide incast cap.
  for (uint32_t i = 0; i < packets_.size(); ++i)
    if (const Packet& p = packets_[i]; p.counted)
      Incast::outstanding().fetch_sub(p.reply_bytes, std::memory_order_relaxed);
}

// --- Handles ------------------------------------------------------------------------------

uint64_t Engine::handle_of(uint32_t op) const {
  return (static_cast<uint64_t>(id_ + 1) << kHandleThreadShift) |
         (static_cast<uint64_t>(ops_[op].gen) << kHandleGenShift) | op;
}

bool Engine::op_of(uint64_t handle, uint32_t* op) const {
  if ((handle >> kHandleThreadShift) != static_cast<uint64_t>(id_ + 1)) return false;
  const uint32_t i = static_cast<uint32_t>(handle & kHandleOpMask);
  if (i >= ops_.size() || !ops_[i].live ||
      ops_[i].gen != ((handle >> kHandleGenShift) & kHandleGenMask))
    return false;
  *op = i;
  return true;
}

int Engine::new_op() {
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

// --- Issuing ------------------------------------------------------------------------------

int Engine::add_packet(uint32_t op, size_t mn, Opcode code, uint64_t lo, uint64_t hi,
                       uint64_t now) {
  if (free_packets_.empty() && packets_.size() < kMaxPackets) grow_packets();
  if (free_packets_.empty()) {
    // Full: make room by completing older requests (bounded by their deadlines).
    while (free_packets_.empty()) wait_round();
    now = fast_now_ns();
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
  ordering_.track(ordered(p));
  ++ops_[op].remaining;
  return static_cast<int>(i);
}

int Engine::read_write(bool write, uint64_t addr, std::byte* in, const std::byte* out, size_t len) {
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

int Engine::atomic(Opcode code, uint64_t addr, uint64_t arg0, uint64_t arg1) {
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

int Engine::control(size_t mn, Opcode code, uint8_t flags, uint64_t va, uint64_t arg0) {
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

void Engine::step() { progress(fast_now_ns()); }

void Engine::flush_unless_batched() {
  if (batch_depth_ != 0) {
    bool full = false;
    for (const Path& path : paths_) full |= path.tx.size() >= kChunk;
    if (!full) return;  // held: rbatch_end(), a wait or a poll sends them
  }
  flush();
}

int Engine::batch_end() {
  if (batch_depth_ == 0) return -EINVAL;
  if (--batch_depth_ == 0) flush();
  return 0;
}

bool Engine::progress(uint64_t now) {
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

void Engine::idle(uint64_t now) {
  // Sleep (for transports that can) only when a single path has something outstanding, and
  // only until the earliest timer.
  size_t busy_paths = 0, which = 0;
  for (size_t m = 0; m < paths_.size(); ++m)
    if (paths_[m].in_flight != 0) ++busy_paths, which = m;
  if (busy_paths == 1 && next_timer_ns_ > now)
    paths_[which].transport->wait(std::min<uint64_t>(next_timer_ns_ - now, 10'000'000));
  poll_.idle();
}

void Engine::wait_round() {
  const uint64_t now = fast_now_ns();
  if (progress(now)) {
    poll_.busy();
  } else {
    idle(now);
  }
}

// --- Completion ---------------------------------------------------------------------------

int Engine::wait(uint32_t op, Header* reply) {
  while (ops_[op].remaining != 0) wait_round();
  const int r = ops_[op].result;
  if (reply != nullptr) *reply = ops_[op].reply;
  drop_op(op);
  return r;
}

bool Engine::poll(uint32_t op, int* result, bool advance) {
  if (advance && ops_[op].remaining != 0) progress(fast_now_ns());
  if (ops_[op].remaining != 0) return false;
  *result = ops_[op].result;
  drop_op(op);
  return true;
}

void Engine::fence() {
  // A fence is never dropped: when the tracker holds all it can, earlier requests complete
  // (or fail at their deadlines) until one fence is done, and then this one is recorded.
  while (ordering_.fence(next_seq_, head_ != UINT32_MAX) == OrderingTracker::FenceResult::kFull)
    wait_round();
}

void Engine::release() {
  while (head_ != UINT32_MAX) wait_round();
}

}  // namespace clio::cn

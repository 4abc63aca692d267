// SPDX-License-Identifier: Apache-2.0
// The MN's network threads' loop: rx_burst -> validate -> authenticate -> records -> execute ->
// reply -> tx_burst -> release. No allocation, no exceptions, no locks.
#include <cstddef>
#include <cstring>

#include "common/clock.h"
#include "mn/server_net_thread.h"

namespace clio::mn {
namespace {

using wire::Header;
using wire::Opcode;

/// Single-writer counter increase by n (see bump()).
void add(uint64_t& c, uint64_t n) {
  if (n == 0) return;
  std::atomic_ref<uint64_t> a(c);
  a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
void publish(uint64_t& c, uint64_t v) {
  std::atomic_ref<uint64_t>(c).store(v, std::memory_order_relaxed);
}

using wire::reply_header;

/// Fills a reply from a recorded result.
void apply(Header& r, const DedupEntry& e) {
  r.status = e.status;
  r.pid = e.reply_pid;
  r.va = e.va;
  r.arg0 = e.arg0;
  r.arg1 = e.arg1;
}

uint64_t digest_of(const Header& h, uint32_t payload_crc) {
  return request_digest(h.opcode, h.flags, h.pid, h.length, h.va, h.key, h.arg0, h.arg1,
                        payload_crc);
}

DedupEntry record_of(const Header& req, uint64_t digest, const Header& reply, uint64_t from_hash,
                     uint64_t now_ms) {
  DedupEntry e;
  e.session = req.session;
  e.seq = req.seq;
  e.digest = digest;
  e.pid = req.pid;
  e.status = reply.status;
  e.reply_pid = reply.pid;
  e.va = reply.va;
  e.arg0 = reply.arg0;
  e.arg1 = reply.arg1;
  e.sender = from_hash;
  e.at_ms = now_ms;
  return e;
}

/// Statuses that prove the request was not authenticated: never recorded (a key's rights never
/// change, so running the request again gives the same answer).
bool unauthenticated(Status s) { return s == Status::kNoSuchRas; }

uint32_t horizon_field(const DedupTable& t, uint32_t pid, uint64_t now_ms) {
  const uint64_t h = t.horizon_ms(pid, now_ms);
  return h >= wire::kHorizonUnbounded ? wire::kHorizonUnbounded : static_cast<uint32_t>(h);
}

}  // namespace

uint64_t MnServer::address_token(const net::Endpoint& to, uint64_t epoch) const {
  struct {
    net::Endpoint ep;
    uint64_t epoch;
  } in{to, epoch};
  static_assert(sizeof(in) == net::Endpoint::kBytes + 8);
  const uint64_t t = siphash24(token_key_, std::as_bytes(std::span(&in, 1)));
  return t | (t == 0);
}

bool MnServer::token_valid(NetThread& nt, const net::Endpoint& from, uint64_t token) {
  if (token == 0) return false;
  const uint64_t epoch = nt.coarse_ms() >> cfg_.token_epoch_shift;
  NetThread::ProvenAddress& c = nt.proven[token & (nt.proven.size() - 1)];
  if (c.token == token && c.epoch + 1 >= epoch && c.from == from) return true;
  for (const uint64_t e : {epoch, epoch - 1}) {
    if (token == address_token(from, e)) {
      c = NetThread::ProvenAddress{from, token, e};
      return true;
    }
  }
  return false;
}

void MnServer::run(NetThread& nt) {
  if (nt.cpu >= 0) pin_to_cpu(nt.cpu);
  net::PacketView rx[kServerBurst];
  IdlePoll poll;
  bool topped_up = false;  // once per quiet stretch (see FastPath::top_up_when_idle)
  nt.refresh_coarse();
  while (!stop_.load(std::memory_order_acquire)) {
    const size_t n = nt.transport->rx_burst(rx);
    if (n != 0) {
      if (++nt.bursts == NetThread::kCoarseBursts) nt.refresh_coarse();
      serve(nt, std::span(rx, n));
      nt.transport->release(std::span(rx, n));
      poll.busy();
      topped_up = false;
    }
    if (nt.pending_count != 0) finish_controls(nt);
    if (n == 0) {
      // Control answers come from the slow path, not the network: don't sleep long on them.
      nt.transport->wait(nt.pending_count != 0 ? 20'000 : cfg_.idle_wait_ns);
      poll.idle();
      if (poll.last_ns() > nt.coarse_ns) nt.coarse_ns = poll.last_ns();
      if (!topped_up && poll.yielding()) {
        nt.fast_path->top_up_when_idle();
        topped_up = true;
      }
    }
  }
}

// The records a burst's writes and atomics will look up and evict live in a table far larger
// than the caches: start loading all their index slots at once, so that the misses overlap
// instead of following one another. Only a hint: the packets are not validated yet.
void MnServer::prefetch_records(NetThread& nt, std::span<const net::PacketView> pkts) {
  uint32_t mutations = 0, pid = 0;
  for (const net::PacketView& p : pkts) {
    if (p.data.size() < wire::kHeaderBytes) continue;
    const std::byte* at = p.data.data();
    const auto op = static_cast<Opcode>(at[offsetof(Header, opcode)]);
    if (op != Opcode::kWrite && op != Opcode::kCas && op != Opcode::kFaa) continue;
    uint64_t session, seq;
    std::memcpy(&session, at + offsetof(Header, session), 8);
    std::memcpy(&seq, at + offsetof(Header, seq), 8);
    std::memcpy(&pid, at + offsetof(Header, pid), 4);
    nt.dedup.prefetch(session, seq);
    ++mutations;
  }
  if (mutations != 0) nt.dedup.prefetch_evictions(pid, mutations);
}

void MnServer::serve(NetThread& nt, std::span<net::PacketView> pkts) {
  FastPath& fast = *nt.fast_path;
  Counters& c = nt.counters;
  size_t ntx = 0;
  bool reads_unsent = false;  // nt.tx holds read replies whose payload is the pool itself
  nt.now_ms = 0;              // read the clock at most once per burst, and only if a write needs it
  FastPath::Batch batch(fast);  // replies gather read data from the pool: send inside the batch
  if (pkts.size() > 1) prefetch_records(nt, pkts);  // one packet: no misses to overlap
  for (const net::PacketView& p : pkts) {
    Header h;
    uint32_t crc = 0;
    const Status v = wire::validate(p.data, &h, &crc);
    if (v != Status::kOk) [[unlikely]] {
      bump(c.dropped[static_cast<uint8_t>(v) - kFirstDropStatus]);
      if (v == Status::kBadChecksum) {
        // The header may be damaged too; answer only when it still reads as a known request.
        // The NACK is header-sized, never larger than what arrived.
        std::memcpy(&h, p.data.data(), wire::kHeaderBytes);
        if (wire::may_nack(h)) {
          Header& r = nt.reply_headers[ntx];
          r = wire::make_nack(h);
          nt.tx[ntx++] = net::TxItem{p.from, std::as_bytes(std::span(&r, 1)), {}};
          bump(c.nacks);
        }
      }
      continue;
    }
    if (h.flags & wire::kFlagReply) [[unlikely]] {
      bump(c.stray_replies);
      continue;
    }
    bump(c.requests[h.opcode & 31]);
    // The sender's endpoint hash, computed at most once per packet and only when needed (clio's
    // reads never need it).
    uint64_t from_hash = 0;
    bool hashed = false;
    auto sender = [&] {
      if (!hashed) {
        from_hash = net::EndpointHash{}(p.from);
        hashed = true;
      }
      return from_hash;
    };
    if (nt.sessions != nullptr) [[unlikely]]  // server and pnic: the client's session
      nt.sessions->touch(p.from, sender(), h, p.data);
    const auto op = static_cast<Opcode>(h.opcode);
    if (!wire::is_data_opcode(op)) {
      serve_control(nt, p, h, crc, &ntx);
      continue;
    }

    if (op != Opcode::kRead && reads_unsent) [[unlikely]] {
      // Read replies point into the pool and were sealed over what it holds now: send them
      // before a later request of this burst changes those bytes under them.
      send(nt, ntx);
      ntx = 0;
      reads_unsent = false;
    }
    Header& r = nt.reply_headers[ntx];
    std::span<const std::byte> payload;
    const Target t{h.pid, h.key, h.va};
    if (op == Opcode::kRead) {
      if (h.length > wire::kUnprovenReadBytes && !token_valid(nt, p.from, h.token)) [[unlikely]] {
        // Would send more than kAmplification x what arrived to an address that has not shown
        // it receives there: a small reply with the token instead (it reaches only the owner).
        r = reply_header(h, Status::kUnproven);
        r.token = address_token(p.from, nt.coarse_ms() >> cfg_.token_epoch_shift);
        bump(c.unproven);
      } else {
        const std::byte* data = nullptr;
        const Status s = fast.read_view(t, h.length, &data);
        r = reply_header(h, s);
        if (s == Status::kOk) {
          payload = std::span(data, h.length);
          reads_unsent = true;
        }
        if (unauthenticated(s)) bump(c.unauthenticated);
      }
    } else if (const Status auth = fast.check_key(h.pid, h.key, /*write=*/true);
               auth != Status::kOk) [[unlikely]] {
      // Never recorded. Only this request's own record (same digest, hence same key) may
      // answer it: the address space may have gone since it ran.
      const DedupEntry* own = nt.dedup.find(h.session, h.seq);
      if (own != nullptr && own->digest == digest_of(h, crc) && own->sender == sender()) {
        r = reply_header(h, Status::kOk);
        apply(r, *own);
        bump(c.dedup_hits);
      } else {
        r = reply_header(h, auth);
        bump(c.unauthenticated);
      }
    } else {
      // Writes and atomics change memory: each runs at most once (see mn/dedup.h).
      (void)sender();  // sets from_hash for the record checks below
      const uint64_t digest = digest_of(h, crc);
      const uint64_t now = nt.clock_ms();
      const DedupEntry* seen = nt.dedup.find(h.session, h.seq);
      if (seen != nullptr && seen->digest != digest) [[unlikely]] {
        r = reply_header(h, Status::kIdMismatch);
        bump(c.id_mismatch);
      } else if (seen != nullptr && seen->sender != from_hash) [[unlikely]] {
        bump(c.foreign_replays);  // the same request from elsewhere: a replay, not a retry
        continue;
      } else if (seen != nullptr) {
        r = reply_header(h, Status::kOk);
        apply(r, *seen);
        bump(c.dedup_hits);
      } else if (nt.dedup.may_have_run(h.pid, h.age_ms, cfg_.max_packet_lifetime_ms, now)) {
        r = reply_header(h, Status::kStale);
        bump(c.stale);
      } else {
        Status s;
        uint64_t old = 0;
        if (op == Opcode::kWrite) {
          s = fast.write(t, wire::payload_of(p.data));
        } else if (op == Opcode::kCas) {
          s = fast.cas(t, h.arg0, h.arg1, &old);
        } else {
          s = fast.faa(t, h.arg0, &old);
        }
        r = reply_header(h, s);
        r.arg0 = old;
        if (s != Status::kRetryLater && !unauthenticated(s)) {
          nt.dedup.insert(record_of(h, digest, r, from_hash, now));
          nt.dedup_dirty = true;
        }
      }
      r.age_ms = horizon_field(nt.dedup, h.pid, now);
    }
    wire::seal(r, payload);
    nt.tx[ntx++] = net::TxItem{p.from, std::as_bytes(std::span(&r, 1)), payload};
  }
  send(nt, ntx);
  if (nt.dedup_dirty) publish_dedup(nt);
  if (nt.sessions != nullptr) {
    publish(c.sessions, nt.sessions->live());
    publish(c.session_bytes, nt.sessions->bytes());
    publish(c.session_takeovers, nt.sessions->takeovers());
  }
}

void MnServer::publish_dedup(NetThread& nt) {
  nt.dedup_dirty = false;
  Counters& c = nt.counters;
  publish(c.dedup_entries, nt.dedup.size());
  publish(c.dedup_evictions, nt.dedup.evictions());
  publish(c.dedup_unfair_evictions, nt.dedup.unfair_evictions());
  const uint64_t now = nt.clock_ms();
  const uint64_t h = nt.dedup.min_horizon_ms(now);
  publish(c.last_evicted_ms, h == UINT64_MAX ? 0 : now - h);
}

void MnServer::serve_control(NetThread& nt, const net::PacketView& p, const Header& h, uint32_t crc,
                             size_t* ntx) {
  Counters& c = nt.counters;
  Header& r = nt.reply_headers[*ntx];
  const auto op = static_cast<Opcode>(h.opcode);
  auto reply = [&] {
    wire::seal(r, {});
    nt.tx[(*ntx)++] = net::TxItem{p.from, std::as_bytes(std::span(&r, 1)), {}};
  };
  // Authenticate first: strangers are answered (header-sized) and forgotten.
  if (op == Opcode::kRasCreate) {
    if (h.pid != 0) {
      r = reply_header(h, Status::kBadArgument);
      return reply();
    }
    if (!cfg_.auth.empty() && h.key != wire::credential_proof(cfg_.auth, h.session, h.seq)) {
      r = reply_header(h, h.key == 0 ? Status::kAuthRequired : Status::kBadCredential);
      bump(c.bad_credential);
      return reply();
    }
  } else if (const Status auth = nt.fast_path->check_key(h.pid, h.key, op != Opcode::kStats);
             auth != Status::kOk) {
    // A retransmitted kRasDestroy finds its address space gone: only its own record (same
    // digest, hence the same key, from the same sender) may answer it, or, while the first
    // attempt is still on the slow path, its coming answer.
    for (const PendingControl& pc : nt.pending)
      if (pc.used && pc.req.session == h.session && pc.req.seq == h.seq &&
          pc.digest == digest_of(h, crc))
        return;
    const DedupEntry* own = nt.dedup.find(h.session, h.seq);
    if (own != nullptr && own->digest == digest_of(h, crc) &&
        own->sender == net::EndpointHash{}(p.from)) {
      r = reply_header(h, Status::kOk);
      apply(r, *own);
      bump(c.dedup_hits);
      return reply();
    }
    r = reply_header(h, auth);
    bump(c.unauthenticated);
    return reply();
  }
  if (op == Opcode::kStats) {  // read-only figures: answered here, without the slow path
    mn_.renew(h.pid, h.key);   // CLib's keep-alive: the owner (read-write key) is alive
    const MnStats st = mn_.stats();
    r = reply_header(h, Status::kOk);
    r.va = st.page_bytes;
    r.arg0 = st.pages_free + st.pages_queued;
    r.arg1 = st.pages_total;
    r.age_ms = horizon_field(nt.dedup, h.pid, nt.clock_ms());
    return reply();
  }
  const uint64_t from_hash = net::EndpointHash{}(p.from);
  const uint64_t digest = digest_of(h, crc);
  if (const DedupEntry* seen = nt.dedup.find(h.session, h.seq); seen != nullptr) {
    if (seen->digest != digest) {
      r = reply_header(h, Status::kIdMismatch);
      bump(c.id_mismatch);
      return reply();
    }
    if (seen->sender != from_hash) {  // not a retransmission from the same client
      bump(c.foreign_replays);
      return;
    }
    r = reply_header(h, Status::kOk);
    apply(r, *seen);
    if (op == Opcode::kRasCreate && r.status == static_cast<uint8_t>(Status::kOk))
      r.token = address_token(p.from, nt.coarse_ms() >> cfg_.token_epoch_shift);
    r.age_ms = horizon_field(nt.dedup, h.pid, nt.clock_ms());
    bump(c.dedup_hits);
    return reply();
  }
  for (const PendingControl& pc : nt.pending)
    if (pc.used && pc.req.session == h.session && pc.req.seq == h.seq) return;  // answered soon
  if (nt.dedup.may_have_run(h.pid, h.age_ms, cfg_.max_packet_lifetime_ms, nt.clock_ms())) {
    r = reply_header(h, Status::kStale);
    r.age_ms = horizon_field(nt.dedup, h.pid, nt.clock_ms());
    bump(c.stale);
    return reply();
  }
  size_t slot = 0;
  while (slot < nt.pending.size() && nt.pending[slot].used) ++slot;
  ControlRequest req{};
  req.op = op;
  req.flags = h.flags;
  req.pid = h.pid;
  req.key = h.key;
  req.va = h.va;
  req.size = h.arg0;
  req.cookie = slot;
  if (slot == nt.pending.size() || !nt.fast_path->submit(req)) {
    r = reply_header(h, Status::kRetryLater);
    bump(c.control_busy);
    return reply();
  }
  nt.pending[slot] = PendingControl{true, p.from, from_hash, digest, h};
  ++nt.pending_count;
}

void MnServer::finish_controls(NetThread& nt) {
  ControlReply done[kServerBurst];
  const size_t n = nt.fast_path->poll_replies(done);
  if (n == 0) return;
  nt.now_ms = 0;
  size_t ntx = 0;
  const uint64_t now = nt.clock_ms();
  for (size_t i = 0; i < n; ++i) {
    PendingControl& pc = nt.pending[done[i].cookie];
    Header& r = nt.reply_headers[ntx];
    r = reply_header(pc.req, done[i].status);
    if (pc.req.opcode == static_cast<uint8_t>(Opcode::kRasCreate)) {
      r.pid = done[i].pid;
      r.va = mn_.pool().page_bytes();
      r.arg0 = done[i].key_rw;
      r.arg1 = done[i].key_ro;
    } else if (pc.req.opcode == static_cast<uint8_t>(Opcode::kRalloc)) {
      r.va = done[i].va;
    }
    // Keys in a recorded kRasCreate answer go only to the sender that asked (see serve_control).
    if (done[i].status != Status::kRetryLater && !unauthenticated(done[i].status)) {
      nt.dedup.insert(record_of(pc.req, pc.digest, r, pc.from_hash, now));
      nt.dedup_dirty = true;
    }
    if (pc.req.opcode == static_cast<uint8_t>(Opcode::kRasCreate) && done[i].status == Status::kOk)
      r.token = address_token(pc.to, now >> cfg_.token_epoch_shift);
    r.age_ms = horizon_field(nt.dedup, pc.req.pid, now);
    wire::seal(r, {});
    nt.tx[ntx++] = net::TxItem{pc.to, std::as_bytes(std::span(&r, 1)), {}};
    pc.used = false;
    --nt.pending_count;
  }
  send(nt, ntx);
  if (nt.dedup_dirty) publish_dedup(nt);
}

void MnServer::send(NetThread& nt, size_t n) {
  size_t sent = 0;
  for (int tries = 0; sent < n && tries < 64; ++tries)
    sent += nt.transport->tx_burst(std::span(nt.tx.data() + sent, n - sent));
  add(nt.counters.replies, sent);
  add(nt.counters.tx_dropped, n - sent);
}

}  // namespace clio::mn

// The MN worker loop: rx_burst -> validate -> execute -> reply -> tx_burst -> release.
// No allocation, no exceptions, no locks.
#include <cstring>

#include "common/clock.h"

#include "mn/server_worker.h"

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

uint64_t family_of(const Header& h) { return h.retry_of != 0 ? h.retry_of : h.req_id; }

/// The reply skeleton: the request's identity echoed, never its key.
Header reply_to(const Header& req, Status s) {
  Header r = wire::make_header(static_cast<Opcode>(req.opcode));
  r.flags = wire::kFlagReply;
  r.status = static_cast<uint8_t>(s);
  r.pid = req.pid;
  r.length = req.length;
  r.req_id = req.req_id;
  r.retry_of = req.retry_of;
  r.va = req.va;
  return r;
}

/// Fills a reply from a recorded result.
void apply(Header& r, const DedupEntry& e) {
  r.status = e.status;
  r.pid = e.reply_pid;
  r.va = e.va;
  r.arg0 = e.arg0;
  r.arg1 = e.arg1;
}

DedupEntry record_of(const Header& req, const Header& reply, uint64_t from_hash, uint64_t now_ms) {
  DedupEntry e;
  e.family = family_of(req);
  e.pid = req.pid;
  e.opcode = req.opcode;
  e.status = reply.status;
  e.reply_pid = reply.pid;
  e.va = reply.va;
  e.arg0 = reply.arg0;
  e.arg1 = reply.arg1;
  e.sender = from_hash;
  e.at_ms = now_ms;
  return e;
}

/// A retransmission whose family the table does not hold, sent so long after the family's first
/// attempt that the first attempt may have run and been forgotten.
bool too_old(const Header& h, const DedupTable& t, uint64_t now_ms) {
  // One ms of slack: both clocks are read in whole milliseconds.
  return h.retry_of != 0 && uint64_t{h.age_ms} + 1 >= t.horizon_ms(now_ms);
}

}  // namespace

void MnServer::run(WorkerState& w) {
  if (w.cpu >= 0) pin_to_cpu(w.cpu);
  net::PacketView rx[kServerBurst];
  IdlePoll poll;
  while (!stop_.load(std::memory_order_acquire)) {
    const size_t n = w.transport->rx_burst(rx);
    if (n != 0) {
      serve(w, std::span(rx, n));
      w.transport->release(std::span(rx, n));
      poll.busy();
    }
    if (w.pending_count != 0) finish_controls(w);
    if (n == 0) {
      // Control answers come from the slow path, not the network: don't sleep long on them.
      w.transport->wait(w.pending_count != 0 ? 20'000 : cfg_.idle_wait_ns);
      poll.idle();
    }
  }
}

void MnServer::serve(WorkerState& w, std::span<net::PacketView> pkts) {
  Worker& fast = *w.worker;
  Counters& c = w.counters;
  size_t ntx = 0;
  w.now_ms = 0;  // read the clock at most once per burst, and only if a write needs it
  Worker::Batch batch(fast);  // replies gather read data from the pool: send inside the batch
  for (const net::PacketView& p : pkts) {
    Header h;
    const Status v = wire::validate(p.data, &h);
    if (v != Status::kOk) [[unlikely]] {
      bump(c.dropped[static_cast<uint8_t>(v) - 32]);
      if (v == Status::kBadChecksum && p.data.size() >= wire::kHeaderBytes) {
        // The header may be damaged too; answer only when it still reads as a known request.
        std::memcpy(&h, p.data.data(), wire::kHeaderBytes);
        const auto op = static_cast<Opcode>(h.opcode);
        if (!(h.flags & wire::kFlagReply) && h.req_id != 0 &&
            std::strcmp(wire::opcode_name(op), "unknown") != 0) {
          Header& r = w.reply_headers[ntx];
          r = reply_to(h, Status::kBadChecksum);
          r.pid = 0;
          r.va = 0;
          r.length = op == Opcode::kCas || op == Opcode::kFaa ? 8
                     : wire::is_data_opcode(op)               ? 1
                                                              : 0;
          wire::seal(r, {});
          w.tx[ntx++] = net::TxItem{p.from, std::as_bytes(std::span(&r, 1)), {}};
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
    const auto op = static_cast<Opcode>(h.opcode);
    if (op == Opcode::kStats) {  // read-only figures: answered here, without the slow path
      const MnStats st = mn_.stats();
      Header& r = w.reply_headers[ntx];
      r = reply_to(h, Status::kOk);
      r.va = st.page_bytes;
      r.arg0 = st.pages_free + st.pages_queued;
      r.arg1 = st.pages_total;
      wire::seal(r, {});
      w.tx[ntx++] = net::TxItem{p.from, std::as_bytes(std::span(&r, 1)), {}};
      continue;
    }
    if (!wire::is_data_opcode(op)) {
      serve_control(w, p, h, &ntx);
      continue;
    }

    Header& r = w.reply_headers[ntx];
    std::span<const std::byte> payload;
    const Target t{h.pid, h.key, h.va};
    if (op == Opcode::kRead) {
      const std::byte* data = nullptr;
      const Status s = fast.read_view(t, h.length, &data);
      r = reply_to(h, s);
      if (s == Status::kOk) payload = std::span(data, h.length);
    } else {
      // Writes and atomics change memory: a retransmission must get the first answer.
      const uint64_t from_hash = net::EndpointHash{}(p.from);
      const DedupEntry* seen = w.dedup.find(h.pid, family_of(h));
      if (seen != nullptr && seen->sender == from_hash) {
        r = reply_to(h, Status::kOk);
        apply(r, *seen);
        bump(c.dedup_hits);
      } else if (seen != nullptr) {
        continue;  // the same family from another sender: not a retransmission; ignore it
      } else if (too_old(h, w.dedup, w.clock_ms())) {
        r = reply_to(h, Status::kStale);
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
        r = reply_to(h, s);
        r.arg0 = old;
        if (s != Status::kRetryLater) w.dedup.insert(record_of(h, r, from_hash, w.clock_ms()));
      }
    }
    wire::seal(r, payload);
    w.tx[ntx++] = net::TxItem{p.from, std::as_bytes(std::span(&r, 1)), payload};
  }
  send(w, ntx);
}

void MnServer::serve_control(WorkerState& w, const net::PacketView& p, const Header& h, size_t* ntx) {
  Counters& c = w.counters;
  const uint64_t family = family_of(h);
  const uint64_t from_hash = net::EndpointHash{}(p.from);
  Header& r = w.reply_headers[*ntx];
  if (const DedupEntry* seen = w.dedup.find(h.pid, family); seen != nullptr) {
    if (seen->sender != from_hash) return;  // not a retransmission from the same client
    r = reply_to(h, Status::kOk);
    apply(r, *seen);
    bump(c.dedup_hits);
  } else {
    for (const PendingControl& pc : w.pending)
      if (pc.used && family_of(pc.req) == family && pc.req.pid == h.pid) return;  // answered soon
    if (too_old(h, w.dedup, w.clock_ms())) {
      r = reply_to(h, Status::kStale);
      bump(c.stale);
      wire::seal(r, {});
      w.tx[(*ntx)++] = net::TxItem{p.from, std::as_bytes(std::span(&r, 1)), {}};
      return;
    }
    size_t slot = 0;
    while (slot < w.pending.size() && w.pending[slot].used) ++slot;
    ControlRequest req{};
    req.op = static_cast<Opcode>(h.opcode);
    req.flags = h.flags;
    req.pid = h.pid;
    req.key = h.key;
    req.va = h.va;
    req.size = h.arg0;
    req.cookie = slot;
    if (slot == w.pending.size() || !w.worker->submit(req)) {
      r = reply_to(h, Status::kRetryLater);
      bump(c.control_busy);
    } else {
      w.pending[slot] = PendingControl{true, p.from, from_hash, h};
      ++w.pending_count;
      return;
    }
  }
  wire::seal(r, {});
  w.tx[(*ntx)++] = net::TxItem{p.from, std::as_bytes(std::span(&r, 1)), {}};
}

void MnServer::finish_controls(WorkerState& w) {
  ControlReply done[kServerBurst];
  const size_t n = w.worker->poll_replies(done);
  if (n == 0) return;
  w.now_ms = 0;
  size_t ntx = 0;
  for (size_t i = 0; i < n; ++i) {
    PendingControl& pc = w.pending[done[i].cookie];
    Header& r = w.reply_headers[ntx];
    r = reply_to(pc.req, done[i].status);
    if (pc.req.opcode == static_cast<uint8_t>(Opcode::kRasCreate)) {
      r.pid = done[i].pid;
      r.va = mn_.pool().page_bytes();
      r.arg0 = done[i].key_rw;
      r.arg1 = done[i].key_ro;
    } else if (pc.req.opcode == static_cast<uint8_t>(Opcode::kRalloc)) {
      r.va = done[i].va;
    }
    // Keys in a recorded kRasCreate answer go only to the sender that asked (see serve_control).
    w.dedup.insert(record_of(pc.req, r, pc.from_hash, w.clock_ms()));
    wire::seal(r, {});
    w.tx[ntx++] = net::TxItem{pc.to, std::as_bytes(std::span(&r, 1)), {}};
    pc.used = false;
    --w.pending_count;
  }
  send(w, ntx);
}

void MnServer::send(WorkerState& w, size_t n) {
  size_t sent = 0;
  for (int tries = 0; sent < n && tries < 64; ++tries)
    sent += w.transport->tx_burst(std::span(w.tx.data() + sent, n - sent));
  add(w.counters.replies, sent);
  add(w.counters.tx_dropped, n - sent);
}

}  // namespace clio::mn

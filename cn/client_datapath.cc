// CLib's request engine: send, retransmit, match answers. Steady state allocates nothing.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cn/client_impl.h"
#include "common/clock.h"

namespace clio {

using wire::Header;
using wire::Opcode;

Client::Impl::Request& Client::Impl::add(Opcode op) {
  if (executed) {
    reqs.clear();  // keeps its capacity
    executed = false;
  }
  Request& r = reqs.emplace_back();
  r.hdr = wire::make_header(op);
  return r;
}

int Client::Impl::split(Opcode op, uint64_t addr, std::byte* in, const std::byte* out, size_t len) {
  if (addr + len < addr) return -EINVAL;  // wraps around
  while (len != 0) {
    const uint64_t to_page_end = page_bytes - (addr & (page_bytes - 1));
    const size_t chunk = std::min<uint64_t>({len, max_chunk, to_page_end});
    Request& r = add(op);
    r.hdr.va = addr;
    r.hdr.length = static_cast<uint32_t>(chunk);
    if (op == Opcode::kWrite) {
      r.payload = std::span(out, chunk);
      out += chunk;
    } else {
      r.read_into = in;
      in += chunk;
    }
    addr += chunk;
    len -= chunk;
  }
  return 0;
}

void Client::Impl::send(Request& r, uint64_t now, bool retransmission) {
  if (retransmission) {
    r.hdr.req_id = next_id++;
    r.hdr.retry_of = r.family;
    r.hdr.age_ms = static_cast<uint32_t>(std::min<uint64_t>((now - r.first_ns) / 1'000'000, UINT32_MAX));
    r.rto_ns = std::min(r.rto_ns * 2, options.max_rto_us * 1000);
    ++counters.retransmissions;
  } else {
    r.rto_ns = options.rto_us * 1000;
    r.first_ns = now;
    ++counters.requests;
  }
  wire::seal(r.hdr, r.payload);
  const net::TxItem item{server, std::as_bytes(std::span(&r.hdr, 1)), r.payload};
  // A packet the transport will not take now is as good as lost: the timer sends it again.
  (void)transport->tx_burst(std::span(&item, 1));
  r.sent_ns = now;
  r.state = Request::kInFlight;
  ++r.attempts;
}

bool Client::Impl::receive(std::span<const std::byte> pkt, uint64_t base, uint64_t now) {
  Header h;
  if (wire::validate(pkt, &h) != Status::kOk || !(h.flags & wire::kFlagReply)) {
    ++counters.stray;
    return false;
  }
  const uint64_t family = h.retry_of != 0 ? h.retry_of : h.req_id;
  const uint64_t index = family - base;  // wraps to huge for earlier calls' families
  if (index >= reqs.size()) {
    ++counters.stray;  // late: an answer to an earlier call
    return false;
  }
  Request& r = reqs[index];
  if ((r.state != Request::kInFlight && r.state != Request::kWaitRetry) || h.opcode != r.hdr.opcode) {
    ++counters.stray;  // a duplicate, or an answer to an attempt we already settled
    return false;
  }
  const auto s = static_cast<Status>(h.status);
  if (s == Status::kBadChecksum) {  // the MN got our packet damaged: send it again now
    ++counters.nacks;
    send(r, now, true);
    return false;
  }
  if (s == Status::kRetryLater) {  // not executed; back off and try again
    ++counters.busy;
    r.state = Request::kWaitRetry;
    r.retry_at_ns = now + std::min<uint64_t>(50'000ull << std::min<uint32_t>(r.attempts, 10),
                                             options.max_rto_us * 1000);
    return false;
  }
  if (r.read_into != nullptr && s == Status::kOk) {
    const auto data = wire::payload_of(pkt);
    if (data.size() != r.hdr.length) {
      ++counters.stray;
      return false;
    }
    std::memcpy(r.read_into, data.data(), data.size());
  }
  r.reply = h;
  r.status = s;
  r.state = Request::kDone;
  return true;
}

int Client::Impl::execute() {
  executed = true;
  const size_t n = reqs.size();
  const uint64_t base = next_id;
  next_id += n;
  for (size_t i = 0; i < n; ++i) {
    Request& r = reqs[i];
    r.family = base + i;
    r.hdr.req_id = r.family;
    r.hdr.retry_of = 0;
    r.hdr.age_ms = 0;
    r.hdr.pid = pid;
    r.hdr.key = key;
  }
  const uint64_t deadline = now_ns() + options.deadline_ms * 1'000'000;
  size_t next = 0, in_flight = 0, done = 0;
  net::PacketView rx[32];
  IdlePoll poll;
  while (done < n) {
    const uint64_t now = now_ns();  // once per round: the clock is not free in a VM
    while (next < n && in_flight < options.window) {
      send(reqs[next++], now, false);
      ++in_flight;
    }
    const size_t got = transport->rx_burst(rx);
    for (size_t i = 0; i < got; ++i) {
      if (receive(rx[i].data, base, now)) {
        ++done;
        --in_flight;
      }
    }
    transport->release(std::span(rx, got));
    if (got != 0) {
      poll.busy();
      continue;
    }

    uint64_t next_event = deadline;
    bool busy_only = true;
    for (size_t i = 0; i < next; ++i) {
      Request& r = reqs[i];
      if (r.state == Request::kInFlight) {
        busy_only = false;
        if (now - r.sent_ns >= r.rto_ns) {
          ++counters.timeouts;
          send(r, now, true);
        }
        next_event = std::min(next_event, r.sent_ns + r.rto_ns);
      } else if (r.state == Request::kWaitRetry) {
        if (now >= r.retry_at_ns) send(r, now, true);
        next_event = std::min(next_event, r.state == Request::kWaitRetry ? r.retry_at_ns
                                                                         : r.sent_ns + r.rto_ns);
      }
    }
    if (now >= deadline) return busy_only ? -EAGAIN : -ETIMEDOUT;
    if (next_event > now) transport->wait(next_event - now);
    poll.idle();
  }
  for (const Request& r : reqs)
    if (r.status != Status::kOk) return status_to_errno(r.status);
  return 0;
}

}  // namespace clio

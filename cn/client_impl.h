// Internal to CLib: the client's state and its request engine.
#pragma once

#include <memory>
#include <vector>

#include "clio/client.h"
#include "common/status.h"
#include "common/wire.h"
#include "verbs_shim/transport.h"

namespace clio {

struct Client::Impl {
  /// One packet of a call, from first attempt to answer.
  struct Request {
    enum State : uint8_t { kQueued, kInFlight, kWaitRetry, kDone };
    wire::Header hdr{};                   ///< the current attempt (req_id changes per attempt)
    std::span<const std::byte> payload;   ///< write data: the caller's buffer
    std::byte* read_into = nullptr;       ///< read destination: the caller's buffer
    uint64_t family = 0;                  ///< first attempt's id
    uint64_t first_ns = 0;                ///< when the first attempt went out
    uint64_t sent_ns = 0;
    uint64_t rto_ns = 0;
    uint64_t retry_at_ns = 0;             ///< kWaitRetry: when to send again
    uint32_t attempts = 0;
    State state = kQueued;
    Status status = Status::kOk;
    wire::Header reply{};
  };

  Impl(std::unique_ptr<net::Transport> t, const net::Endpoint& server, const ClientOptions& o);

  /// Sends `reqs`, retransmits as needed and collects the answers. 0 or a negative errno: the
  /// first failed request's, in order.
  int execute();
  /// Appends a request for `op` to the current call.
  Request& add(wire::Opcode op);
  /// Appends the requests of a read or write of [addr, addr+len), one per packet (no packet
  /// crosses a page or exceeds the MTU). Returns 0 or -EINVAL.
  int split(wire::Opcode op, uint64_t addr, std::byte* in, const std::byte* out, size_t len);

  std::unique_ptr<net::Transport> transport;
  net::Endpoint server;
  ClientOptions options;
  uint32_t pid = 0;
  uint64_t key = 0;
  uint64_t page_bytes = 0;
  uint32_t max_chunk = 0;  ///< largest read or write one packet carries
  uint64_t next_id;        ///< random high bits, so ids of different clients never meet
  bool open = false;
  bool executed = false;      ///< reqs holds a finished call; the next add() starts afresh
  std::vector<Request> reqs;  ///< the current call; reused, so steady-state calls don't allocate
  ClientCounters counters;

 private:
  void send(Request& r, uint64_t now, bool retransmission);
  /// Handles one received packet; returns true when it completed a request.
  bool receive(std::span<const std::byte> pkt, uint64_t base, uint64_t now);
};

/// Maps an MN status to the negative errno the API returns (kOk -> 0).
int status_to_errno(Status s);

}  // namespace clio

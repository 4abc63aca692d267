// SPDX-License-Identifier: Apache-2.0
// Per-client connection state of the server and pnic designs (mn/design.h): a session per client
// endpoint, made at first contact, looked up and touched on every request, as an RDMA RC queue
// pair is: its sequence state is updated and the request lands in its receive buffer (the copy an
// RNIC's DMA makes into the buffer posted for that queue pair). Clio has none of this; the
// network side's only memory of requests is the dedup table.
//
// A fixed open-addressing table of `capacity` sessions and their buffers, mapped once and touched
// as sessions are made, so the memory node's resident memory grows with its clients, as a server
// with one queue pair per client does. When no slot is left near a new endpoint's home, the
// session at its home is taken over (counted: a real server would tear a connection down).
// One table per network thread (MnServer::NetThread), used by that thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "common/mapped_memory.h"
#include "common/wire.h"
#include "verbs_shim/transport.h"

namespace clio::mn {

class SessionTable {
 public:
  /// capacity: rounded up to a power of two. buffer_bytes: each session's receive buffer.
  SessionTable(size_t capacity, size_t buffer_bytes);

  /// The session of `from` (made now if new) sees request `h` carried in `packet`.
  void touch(const net::Endpoint& from, uint64_t from_hash, const wire::Header& h,
             std::span<const std::byte> packet) {
    Session* s = find_or_make(from, from_hash);
    if (h.session != s->session) {  // the client's CLib (re)started: new sequence state
      s->session = h.session;
      s->expected_seq = 0;
    }
    if (h.seq >= s->expected_seq) s->expected_seq = h.seq + 1;
    ++s->requests;
    const size_t n = packet.size() < buffer_bytes_ ? packet.size() : buffer_bytes_;
    if (s->rx_offset + n > buffer_bytes_) s->rx_offset = 0;
    std::memcpy(buffer_of(s) + s->rx_offset, packet.data(), n);
    s->rx_offset += static_cast<uint32_t>(n);
  }

  size_t live() const { return live_; }
  uint64_t takeovers() const { return takeovers_; }
  /// Bytes held by live sessions (state and buffers).
  size_t bytes() const { return live_ * (sizeof(Session) + buffer_bytes_); }

 private:
  struct Session {
    net::Endpoint peer;
    uint64_t hash = 0;  ///< 0: free
    uint64_t session = 0;
    uint64_t expected_seq = 0;
    uint64_t requests = 0;
    uint32_t rx_offset = 0;
  };
  static constexpr size_t kProbes = 16;

  Session* find_or_make(const net::Endpoint& from, uint64_t from_hash);
  std::byte* buffer_of(const Session* s) {
    return buffers_ + static_cast<size_t>(s - sessions_) * buffer_bytes_;
  }

  size_t mask_;
  size_t buffer_bytes_;
  MappedMemory sessions_memory_;
  MappedMemory buffers_memory_;
  Session* sessions_;
  std::byte* buffers_;
  size_t live_ = 0;
  uint64_t takeovers_ = 0;
};

}  // namespace clio::mn

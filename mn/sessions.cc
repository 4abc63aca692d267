// SPDX-License-Identifier: Apache-2.0
#include "mn/sessions.h"

#include <bit>
#include <new>

namespace clio::mn {

SessionTable::SessionTable(size_t capacity, size_t buffer_bytes)
    : mask_(std::bit_ceil(capacity < kProbes ? kProbes : capacity) - 1),
      buffer_bytes_(buffer_bytes < 64 ? 64 : buffer_bytes),
      sessions_memory_((mask_ + 1) * sizeof(Session), /*huge=*/false, "sessions"),
      buffers_memory_((mask_ + 1) * buffer_bytes_, /*huge=*/false, "session buffers"),
      sessions_(static_cast<Session*>(sessions_memory_.data())),
      buffers_(static_cast<std::byte*>(buffers_memory_.data())) {
  static_assert(std::is_trivially_destructible_v<Session>);
  // The mapping is zero-filled: every slot starts free (hash 0), untouched until used.
}

SessionTable::Session* SessionTable::find_or_make(const net::Endpoint& from, uint64_t from_hash) {
  const uint64_t hash = from_hash | 1;  // never 0 (free)
  // Sessions are never removed, so a probe that meets a free slot has passed every session of
  // this home.
  Session* empty = nullptr;
  for (size_t i = 0; i < kProbes && empty == nullptr; ++i) {
    Session& s = sessions_[(hash + i) & mask_];
    if (s.hash == hash && s.peer == from) return &s;
    if (s.hash == 0) empty = &s;
  }
  Session* s = empty;
  if (s == nullptr) {
    s = &sessions_[hash & mask_];
    ++takeovers_;
  } else {
    ++live_;
  }
  *s = Session{};
  s->peer = from;
  s->hash = hash;
  return s;
}

}  // namespace clio::mn

// The MN's only memory of requests: a bounded table of recently executed ones (writes, atomics
// with their results, control operations with theirs), so that a retransmission is answered from
// here and never executed twice.
//
// Keyed by (pid, family): a request's family is the id of its first attempt; every retransmission
// carries it in `retry_of`. Whichever attempt arrives first executes and records the family's
// result; any later attempt of the family (a retry whose original ran, or a late original whose
// retry ran) gets that result and changes nothing. That rules out both the doubled atomic and the
// lost update (an old write landing after a newer one).
//
// Capacity is fixed at start-up; the oldest entry is evicted first. It should cover every request
// a worker executes while a retransmission or a delayed original may still arrive: the paper
// sizes it as 3 x timeout x bandwidth. When that assumption fails the table says so instead of
// guessing: a retransmission carries its age (ms since its family's first attempt), and one that
// is older than the table's horizon and not found is answered kStale, never executed, because
// its first attempt may have run and been forgotten. Single-threaded: one table per MN worker (a
// client's packets always reach the same worker). No allocation after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace clio::mn {

struct DedupEntry {
  uint64_t family = 0;   ///< 0: empty
  uint32_t pid = 0;      ///< the request's address space (0 for kRasCreate)
  uint8_t opcode = 0;
  uint8_t status = 0;    ///< the recorded reply's status
  uint32_t reply_pid = 0;
  uint64_t va = 0;       ///< the recorded reply's va, arg0, arg1
  uint64_t arg0 = 0;
  uint64_t arg1 = 0;
  uint64_t sender = 0;   ///< hash of the sender's endpoint: only it gets this answer again
  uint64_t at_ms = 0;    ///< when it was recorded (the MN's monotonic clock)
};

class DedupTable {
 public:
  /// Room for `capacity` entries (rounded up to a power of two, at least 16).
  explicit DedupTable(size_t capacity);

  size_t capacity() const { return ring_.size(); }
  size_t size() const { return count_; }
  uint64_t evictions() const { return evictions_; }

  /// How far back (ms before `now_ms`) the table is complete: every request recorded since then
  /// is still here. UINT64_MAX until the first eviction.
  uint64_t horizon_ms(uint64_t now_ms) const {
    if (evictions_ == 0) return UINT64_MAX;
    const uint64_t oldest = ring_[head_].at_ms;
    return now_ms > oldest ? now_ms - oldest : 0;
  }
  /// The recorded entry for (pid, family), or null.
  const DedupEntry* find(uint32_t pid, uint64_t family) const;
  /// Records `e` (e.family != 0; not already present), evicting the oldest entry when full.
  void insert(const DedupEntry& e);

 private:
  uint64_t slot_of(uint32_t pid, uint64_t family) const;
  void erase_index(uint32_t ring_pos);

  std::vector<DedupEntry> ring_;  ///< FIFO of entries; ring_[head_] is the oldest
  std::vector<uint32_t> index_;   ///< open addressing: ring position + 1, 0 = empty
  size_t head_ = 0;
  size_t count_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace clio::mn

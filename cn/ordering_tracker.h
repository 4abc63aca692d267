// SPDX-License-Identifier: Apache-2.0
// Internal to CLib: the ordering rules among one thread's requests, in one place. A request that
// is tracked (queued or in flight) holds back a later one when
//   - a fence (rfence) lies between them: everything after a fence waits until everything
//     before it has completed;
//   - the earlier one is a control operation (a "full fence": ralloc, rfree, ...): it is ordered
//     against everything, before and after it;
//   - they overlap on a byte and either writes (release ordering, Clio §4.4; cn/ordering.h).
// Everything else goes in parallel.
//
// The tracker keeps the rules' own state (the fences, the count of control operations, the
// conflict filter); the engine keeps the requests. must_wait() asks the engine for the few
// scans the exact answer needs through a `Tracked` view (see must_wait), a template, so the
// engine's hot path pays no indirection for the split. Not thread-safe: one per engine.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cn/ordering.h"
#include "cn/ring.h"

namespace clio::cn {

/// What the ordering rules need of a request.
struct OrderedRequest {
  uint64_t seq = 0;         ///< its place in the thread's program order (rising, never reused)
  uint64_t lo = 0, hi = 0;  ///< the client-address bytes [lo, hi) it touches
  bool write = false;
  bool full_fence = false;  ///< a control operation: ordered against everything
};

class OrderingTracker {
 public:
  /// No request is tracked (as an oldest seq).
  static constexpr uint64_t kNoneTracked = UINT64_MAX;

  /// Holds at most `max_fences` fences (rounded up to a power of two, as Ring does). The engine
  /// gives its most tracked requests + 1: a fence is recorded only with requests tracked before
  /// it and distinct from the last one, so that many cannot normally be outstanding; fence()
  /// says kFull when they are.
  explicit OrderingTracker(size_t max_fences) : fences_(max_fences) {}

  /// `r` is tracked from now on (issued).
  void track(const OrderedRequest& r) {
    if (r.full_fence) {
      ++full_fences_;
    } else {
      index_.add(r.lo, r.hi, r.write);
    }
  }

  /// `r` is no longer tracked (completed or failed); `oldest_seq` is the oldest request still
  /// tracked, or kNoneTracked. Fences with nothing tracked before them stop holding anything.
  void untrack(const OrderedRequest& r, uint64_t oldest_seq) {
    if (r.full_fence) {
      --full_fences_;
    } else {
      index_.remove(r.lo, r.hi, r.write);
    }
    while (!fences_.empty() && oldest_seq >= fences_.front()) fences_.pop_front();
  }

  enum class FenceResult : uint8_t {
    kRecorded,   ///< requests from `next_seq` on wait for everything before it
    kNotNeeded,  ///< nothing tracked, or a fence already stands at this point
    kFull,       ///< max_fences are outstanding: nothing recorded, nothing changed; the caller
                 ///< must let tracked requests complete (untrack) and ask again
  };

  /// A fence before the request numbered `next_seq` (the next to be issued); `any_tracked`:
  /// whether any request is tracked. Never drops a fence: kFull leaves the decision to the caller.
  [[nodiscard]] FenceResult fence(uint64_t next_seq, bool any_tracked) {
    if (!any_tracked || (!fences_.empty() && fences_.back() == next_seq))
      return FenceResult::kNotNeeded;
    return fences_.push_back(next_seq) ? FenceResult::kRecorded : FenceResult::kFull;
  }

  /// Fences outstanding, and the most there can be.
  size_t fences() const { return fences_.size(); }
  size_t max_fences() const { return fences_.max_size(); }

  /// Whether tracked request `r` must wait for earlier ones. `conflict_checks` false turns the
  /// overlap rule off (only to measure what it costs; fences and control operations still
  /// order). `t` is the engine's view of its tracked requests, with (inline in the engine):
  ///   uint64_t oldest_seq()                 the oldest tracked request's seq (r is tracked)
  ///   bool full_fence_before(uint64_t seq)  a control operation is tracked before `seq`
  ///   bool any_in_flight(F f)               f(q) is true for a request q in flight
  ///   bool any_queued_before(uint64_t seq, F f)  ... for a request q queued before `seq`
  /// where q is anything with fields lo, hi and write (OrderedRequest, the engine's packets).
  template <typename Tracked>
  bool must_wait(const OrderedRequest& r, bool conflict_checks, const Tracked& t) const {
    const uint64_t oldest = t.oldest_seq();
    if (!fences_.empty() && r.seq >= fences_.front() && oldest < fences_.front()) return true;
    if (r.full_fence) return oldest != r.seq;  // waits for everything before it
    // A control operation issued earlier and still tracked holds everything after it.
    if (full_fences_ != 0 && t.full_fence_before(r.seq)) return true;
    if (!conflict_checks || !index_.may_conflict(r.lo, r.hi, r.write, /*self_tracked=*/true))
      return false;
    auto overlaps = [&r](const auto& q) {
      return ranges_conflict(r.lo, r.hi, r.write, q.lo, q.hi, q.write);
    };
    return t.any_in_flight(overlaps) || t.any_queued_before(r.seq, overlaps);
  }

 private:
  /// Seq of each fence still holding requests back, distinct and rising.
  Ring<uint64_t> fences_;
  ConflictIndex index_;
  uint32_t full_fences_ = 0;  ///< control operations tracked
};

}  // namespace clio::cn

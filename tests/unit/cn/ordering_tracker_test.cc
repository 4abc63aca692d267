// SPDX-License-Identifier: Apache-2.0
// OrderingTracker (cn/ordering_tracker.h): which of one thread's requests must wait for which,
// over a hand-made set of tracked requests standing in for the engine's: overlapping writes,
// reads after writes, fences, control operations, and the bound on fences outstanding.
#include "cn/ordering_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace clio::cn {
namespace {

/// The tracked requests, in program order, with the view must_wait() asks for.
class Requests {
 public:
  explicit Requests(size_t max_fences = 64) : tracker(max_fences) {}

  /// Issues a data request (tracked, queued); returns its seq.
  uint64_t issue(uint64_t lo, uint64_t hi, bool write) { return add(lo, hi, write, false); }
  uint64_t control() { return add(0, 0, true, true); }
  void send(uint64_t seq) { find(seq).in_flight = true; }
  void complete(uint64_t seq) {
    auto it = std::find_if(reqs_.begin(), reqs_.end(), [&](const Req& r) { return r.seq == seq; });
    ASSERT_NE(it, reqs_.end());
    const OrderedRequest r = *it;
    reqs_.erase(it);
    tracker.untrack(r, reqs_.empty() ? OrderingTracker::kNoneTracked : reqs_.front().seq);
  }
  OrderingTracker::FenceResult fence() { return tracker.fence(next_seq_, !reqs_.empty()); }
  /// Asked, as the engine does, only of a queued request.
  bool waits(uint64_t seq, bool conflict_checks = true) const {
    EXPECT_FALSE(find(seq).in_flight);
    return tracker.must_wait(find(seq), conflict_checks, View{*this});
  }

  OrderingTracker tracker;

 private:
  struct Req : OrderedRequest {
    bool in_flight = false;
  };
  struct View {
    const Requests& rs;
    uint64_t oldest_seq() const { return rs.reqs_.front().seq; }
    bool full_fence_before(uint64_t seq) const {
      for (const Req& r : rs.reqs_)
        if (r.seq < seq && r.full_fence) return true;
      return false;
    }
    template <typename F>
    bool any_in_flight(F&& f) const {
      for (const Req& r : rs.reqs_)
        if (r.in_flight && f(r)) return true;
      return false;
    }
    template <typename F>
    bool any_queued_before(uint64_t seq, F&& f) const {
      for (const Req& r : rs.reqs_)
        if (!r.in_flight && r.seq < seq && f(r)) return true;
      return false;
    }
  };

  uint64_t add(uint64_t lo, uint64_t hi, bool write, bool full_fence) {
    Req r;
    r.seq = next_seq_++;
    r.lo = lo;
    r.hi = hi;
    r.write = write;
    r.full_fence = full_fence;
    reqs_.push_back(r);
    tracker.track(r);
    return r.seq;
  }
  Req& find(uint64_t seq) {
    return *std::find_if(reqs_.begin(), reqs_.end(), [&](const Req& r) { return r.seq == seq; });
  }
  const Req& find(uint64_t seq) const {
    return *std::find_if(reqs_.begin(), reqs_.end(), [&](const Req& r) { return r.seq == seq; });
  }

  std::vector<Req> reqs_;
  uint64_t next_seq_ = 1;
};

using FenceResult = OrderingTracker::FenceResult;

TEST(OrderingTrackerTest, OverlappingWritesAreOrdered) {
  Requests rs;
  const uint64_t w1 = rs.issue(0, 100, true);
  const uint64_t w2 = rs.issue(50, 150, true);
  EXPECT_FALSE(rs.waits(w1)) << "the oldest never waits";
  EXPECT_TRUE(rs.waits(w2)) << "overlaps w1, queued before it";
  rs.send(w1);
  const uint64_t w3 = rs.issue(100, 200, true);
  EXPECT_TRUE(rs.waits(w2)) << "overlaps w1, in flight";
  EXPECT_TRUE(rs.waits(w3)) << "overlaps w2, queued before it";
  rs.complete(w1);
  EXPECT_FALSE(rs.waits(w2));
  EXPECT_TRUE(rs.waits(w3));
  rs.send(w2);
  rs.complete(w2);
  EXPECT_FALSE(rs.waits(w3));
}

TEST(OrderingTrackerTest, ReadsWaitForWritesButNotForReads) {
  Requests rs;
  const uint64_t w = rs.issue(0, 8, true);
  rs.send(w);
  const uint64_t r1 = rs.issue(4, 12, false);
  EXPECT_TRUE(rs.waits(r1)) << "read after write of a shared byte";
  rs.complete(w);
  rs.send(r1);
  const uint64_t r2 = rs.issue(0, 12, false);
  EXPECT_FALSE(rs.waits(r2)) << "reads in parallel";
  const uint64_t w2 = rs.issue(11, 20, true);
  EXPECT_TRUE(rs.waits(w2)) << "write after read of a shared byte";
  const uint64_t far = rs.issue(4096, 4104, true);
  EXPECT_FALSE(rs.waits(far)) << "no shared byte: in parallel";
  EXPECT_FALSE(rs.waits(w2, /*conflict_checks=*/false)) << "overlap rule off (benchmarks)";
}

TEST(OrderingTrackerTest, AnEarlierRequestIsNotHeldByALaterQueuedOne) {
  Requests rs;
  const uint64_t r = rs.issue(0, 8, false);
  const uint64_t w = rs.issue(0, 8, true);
  EXPECT_FALSE(rs.waits(r));
  EXPECT_TRUE(rs.waits(w));
}

TEST(OrderingTrackerTest, AFenceHoldsLaterRequestsUntilEarlierOnesComplete) {
  Requests rs;
  EXPECT_EQ(rs.fence(), FenceResult::kNotNeeded) << "nothing tracked: nothing to hold back";
  const uint64_t a = rs.issue(0, 8, false);
  rs.send(a);
  EXPECT_EQ(rs.fence(), FenceResult::kRecorded);
  EXPECT_EQ(rs.fence(), FenceResult::kNotNeeded) << "a second fence at the same point";
  EXPECT_EQ(rs.tracker.fences(), 1u);
  const uint64_t b = rs.issue(4096, 4104, false);  // no overlap with a
  EXPECT_TRUE(rs.waits(b)) << "after the fence";
  const uint64_t c = rs.issue(8192, 8200, false);
  EXPECT_EQ(rs.fence(), FenceResult::kRecorded);
  const uint64_t d = rs.issue(12288, 12296, false);
  rs.complete(a);
  EXPECT_EQ(rs.tracker.fences(), 1u) << "the first fence is done, the second is not";
  EXPECT_FALSE(rs.waits(b));
  EXPECT_FALSE(rs.waits(c));
  EXPECT_TRUE(rs.waits(d));
  rs.complete(b);
  rs.complete(c);
  EXPECT_EQ(rs.tracker.fences(), 0u);
  EXPECT_FALSE(rs.waits(d));
}

TEST(OrderingTrackerTest, ControlOperationsAreOrderedAgainstEverything) {
  Requests rs;
  const uint64_t a = rs.issue(0, 8, false);
  rs.send(a);
  const uint64_t ctl = rs.control();
  const uint64_t b = rs.issue(4096, 4104, false);
  EXPECT_TRUE(rs.waits(ctl)) << "waits for everything before it";
  EXPECT_TRUE(rs.waits(b)) << "everything after it waits";
  EXPECT_TRUE(rs.waits(b, /*conflict_checks=*/false)) << "whatever the overlap rule";
  rs.complete(a);
  EXPECT_FALSE(rs.waits(ctl));
  EXPECT_TRUE(rs.waits(b));
  rs.send(ctl);
  rs.complete(ctl);
  EXPECT_FALSE(rs.waits(b));
}

// The fences outstanding are bounded (the engine gives its most tracked requests + 1). At the
// bound a fence is refused with kFull, never dropped: nothing changes, the requests after the
// first fence still wait, and once earlier requests complete there is room again.
TEST(OrderingTrackerTest, AtTheBoundAFenceIsRefusedNotDropped) {
  Requests rs(4);
  ASSERT_EQ(rs.tracker.max_fences(), 4u);
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 4; ++i) {
    seqs.push_back(rs.issue(4096 * i, 4096 * i + 8, true));
    ASSERT_EQ(rs.fence(), FenceResult::kRecorded) << i;
  }
  seqs.push_back(rs.issue(4096 * 4, 4096 * 4 + 8, true));
  EXPECT_EQ(rs.fence(), FenceResult::kFull);
  EXPECT_EQ(rs.fence(), FenceResult::kFull) << "asking again changes nothing";
  EXPECT_EQ(rs.tracker.fences(), 4u);
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_TRUE(rs.waits(seqs[i])) << i;
  // What the engine does at kFull: let the oldest requests complete until a fence is done.
  rs.send(seqs[0]);
  rs.complete(seqs[0]);
  EXPECT_EQ(rs.tracker.fences(), 3u);
  EXPECT_EQ(rs.fence(), FenceResult::kRecorded) << "room again";
  const uint64_t last = rs.issue(0, 8, false);
  EXPECT_TRUE(rs.waits(last)) << "held by the fence recorded after the wait";
  for (size_t i = 1; i < seqs.size(); ++i) rs.complete(seqs[i]);
  EXPECT_EQ(rs.tracker.fences(), 0u);
  EXPECT_FALSE(rs.waits(last));
}

TEST(OrderingTrackerTest, TheBoundIsRoundedUpAsTheRingDoes) {
  EXPECT_EQ(OrderingTracker(5).max_fences(), 8u);
  EXPECT_EQ(OrderingTracker(8192 + 1).max_fences(), 16384u);
}

}  // namespace
}  // namespace clio::cn

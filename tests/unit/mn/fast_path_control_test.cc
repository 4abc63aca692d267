// SPDX-License-Identifier: Apache-2.0
// Control requests handed from a fast-path worker to the slow path through its SPSC rings, the
// way the network front end does it: submit(), then poll_replies() without ever blocking.
#include <gtest/gtest.h>

#include <thread>

#include "common/error.h"
#include "mn/memory_node.h"
#include "mn_test_util.h"

namespace clio::mn {
namespace {

ControlReply roundtrip(FastPath& w, const ControlRequest& req) {
  EXPECT_TRUE(w.submit(req));
  ControlReply r{};
  // The slow path answers asynchronously; the worker only ever polls.
  while (w.poll_replies(std::span(&r, 1)) == 0) std::this_thread::yield();
  EXPECT_EQ(r.cookie, req.cookie);
  return r;
}

TEST(FastPathControlTest, SubmitAndPollReplies) {
  MemoryNode mn(testing::small_config());
  auto w = mn.add_fast_path();
  ControlRequest create{};
  create.op = wire::Opcode::kRasCreate;
  create.cookie = 11;
  const ControlReply ras = roundtrip(*w, create);
  ASSERT_EQ(ras.status, Status::kOk);
  EXPECT_NE(ras.pid, 0u);
  EXPECT_NE(ras.key_rw, 0u);
  EXPECT_NE(ras.key_ro, ras.key_rw);

  ControlRequest alloc{};
  alloc.op = wire::Opcode::kRalloc;
  alloc.pid = ras.pid;
  alloc.key = ras.key_rw;
  alloc.size = 10000;
  alloc.cookie = 12;
  const ControlReply a = roundtrip(*w, alloc);
  ASSERT_EQ(a.status, Status::kOk);
  EXPECT_EQ(a.va % 4096, 0u);
  mn.refill_now();
  {
    FastPath::Batch b(*w);
    std::vector<std::byte> data(8, std::byte{1});
    EXPECT_EQ(w->write(Target{ras.pid, ras.key_rw, a.va + 8192}, data), Status::kOk)
        << "three pages: 10000 bytes rounded up";
  }

  ControlRequest bad = alloc;
  bad.key = ras.key_ro;
  bad.cookie = 13;
  EXPECT_EQ(roundtrip(*w, bad).status, Status::kNoSuchRas);

  ControlRequest destroy{};
  destroy.op = wire::Opcode::kRasDestroy;
  destroy.pid = ras.pid;
  destroy.key = ras.key_rw;
  destroy.cookie = 14;
  EXPECT_EQ(roundtrip(*w, destroy).status, Status::kOk);
  EXPECT_EQ(mn.stats().ras_live, 0u);
}

TEST(FastPathControlTest, ManyOutstandingRequestsAllAnswered) {
  MemoryNode mn(testing::small_config());
  auto w = mn.add_fast_path();
  // More than the reply ring holds, submitted before any is polled: none may be lost.
  constexpr int kN = 600;
  int submitted = 0, answered = 0;
  std::vector<bool> seen(kN, false);
  while (answered < kN) {
    if (submitted < kN) {
      ControlRequest req{};
      req.op = wire::Opcode::kRasCreate;
      req.cookie = static_cast<uint64_t>(submitted);
      if (w->submit(req)) ++submitted;
    }
    ControlReply r[16];
    const size_t n = w->poll_replies(r);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_LT(r[i].cookie, static_cast<uint64_t>(kN));
      ASSERT_FALSE(seen[r[i].cookie]) << "answered twice";
      seen[r[i].cookie] = true;
      EXPECT_EQ(r[i].status, Status::kOk);
    }
    answered += static_cast<int>(n);
    if (n == 0) std::this_thread::yield();
  }
  EXPECT_EQ(mn.stats().ras_live, static_cast<uint64_t>(kN));
}

TEST(FastPathControlTest, SlotsAreReused) {
  auto cfg = testing::small_config();
  cfg.max_workers = 2;
  MemoryNode mn(cfg);
  for (int i = 0; i < 10; ++i) {
    auto a = mn.add_fast_path();
    auto b = mn.add_fast_path();
    EXPECT_THROW(mn.add_fast_path(), Error);
  }
  EXPECT_EQ(mn.stats().workers, 0u);
}

}  // namespace
}  // namespace clio::mn

// SPDX-License-Identifier: Apache-2.0
// Permissions and isolation: read-only allocations and keys, accesses out of range, by another
// address space, after rfree and after destruction; and every bad argument.
#include <gtest/gtest.h>

#include "mn/memory_node.h"
#include "mn_test_util.h"

namespace clio::mn {
namespace {

using testing::pattern;
using testing::Ras;
using testing::read_bytes;
using testing::small_config;
using testing::write_bytes;

class PermissionTest : public ::testing::Test {
 protected:
  PermissionTest() : mn_(small_config()), w_(mn_.add_fast_path()) { mn_.refill_now(); }

  Status rd(const Target& t, size_t n = 8) {
    std::vector<std::byte> b(n);
    return read_bytes(mn_, *w_, t, b);
  }
  Status wr(const Target& t, size_t n = 8) { return write_bytes(mn_, *w_, t, pattern(n, 3)); }
  Status cas(const Target& t) {
    uint64_t old;
    return testing::with_retry(mn_, *w_, [&] { return w_->cas(t, 0, 1, &old); });
  }
  Status faa(const Target& t) {
    uint64_t old;
    return testing::with_retry(mn_, *w_, [&] { return w_->faa(t, 1, &old); });
  }

  MemoryNode mn_;
  std::unique_ptr<FastPath> w_;
};

TEST_F(PermissionTest, ReadOnlyAllocation) {
  Ras r = Ras::create(mn_);
  uint64_t va;
  ASSERT_EQ(mn_.ralloc(r.pid, r.rw, 8192, wire::kFlagReadOnly, &va), Status::kOk);
  EXPECT_EQ(wr(r.at(va)), Status::kPermission);
  EXPECT_EQ(cas(r.at(va)), Status::kPermission);
  EXPECT_EQ(faa(r.at(va + 4096)), Status::kPermission);
  EXPECT_EQ(rd(r.at(va)), Status::kOk);
  // Made writable, written, made read-only again: the write is there and further writes fail,
  // even though the translation was cached in the worker's TLB.
  ASSERT_EQ(mn_.protect(r.pid, r.rw, va, false), Status::kOk);
  ASSERT_EQ(wr(r.at(va)), Status::kOk);
  ASSERT_EQ(mn_.protect(r.pid, r.rw, va, true), Status::kOk);
  EXPECT_EQ(wr(r.at(va)), Status::kPermission);
  std::vector<std::byte> b(8);
  ASSERT_EQ(read_bytes(mn_, *w_, r.at(va), b), Status::kOk);
  EXPECT_EQ(b, pattern(8, 3));
}

TEST_F(PermissionTest, ReadOnlyKey) {
  Ras r = Ras::create(mn_);
  uint64_t va;
  ASSERT_EQ(mn_.ralloc(r.pid, r.rw, 4096, 0, &va), Status::kOk);
  ASSERT_EQ(wr(r.at(va)), Status::kOk);
  EXPECT_EQ(rd(r.ro_at(va)), Status::kOk);
  EXPECT_EQ(wr(r.ro_at(va)), Status::kPermission);
  EXPECT_EQ(cas(r.ro_at(va)), Status::kPermission);
  uint64_t va2;
  EXPECT_EQ(mn_.ralloc(r.pid, r.ro, 4096, 0, &va2), Status::kNoSuchRas)
      << "control operations need the read-write key";
  EXPECT_EQ(mn_.rfree(r.pid, r.ro, va), Status::kNoSuchRas);
  EXPECT_EQ(mn_.destroy_ras(r.pid, r.ro), Status::kNoSuchRas);
}

TEST_F(PermissionTest, OutOfRange) {
  Ras r = Ras::create(mn_);
  uint64_t va;
  ASSERT_EQ(mn_.ralloc(r.pid, r.rw, 2 * 4096, 0, &va), Status::kOk);
  EXPECT_EQ(rd(r.at(va + 2 * 4096)), Status::kUnmapped) << "one past the end";
  EXPECT_EQ(rd(r.at(va - 8)), Status::kUnmapped) << "just before";
  EXPECT_EQ(rd(r.at(0)), Status::kUnmapped);
  EXPECT_EQ(rd(r.at(kVaLimit + va)), Status::kUnmapped);
  EXPECT_EQ(rd(r.at(~uint64_t{0} - 7)), Status::kUnmapped);
}

TEST_F(PermissionTest, OtherAddressSpacesAreInvisible) {
  Ras a = Ras::create(mn_);
  Ras b = Ras::create(mn_);
  uint64_t va_a, va_b;
  ASSERT_EQ(mn_.ralloc(a.pid, a.rw, 4096, 0, &va_a), Status::kOk);
  ASSERT_EQ(mn_.ralloc(b.pid, b.rw, 4096, 0, &va_b), Status::kOk);
  ASSERT_EQ(va_a, va_b) << "both start at the same VA: only the pid tells them apart";
  ASSERT_EQ(wr(a.at(va_a)), Status::kOk);
  // b's pid with a's key, and a's pid with b's key: the key belongs to another address space.
  EXPECT_EQ(rd(Target{b.pid, a.rw, va_b}), Status::kNoSuchRas);
  EXPECT_EQ(rd(Target{a.pid, b.rw, va_a}), Status::kNoSuchRas);
  EXPECT_EQ(rd(Target{a.pid, b.ro, va_a}), Status::kNoSuchRas);
  EXPECT_EQ(mn_.rfree(a.pid, b.rw, va_a), Status::kNoSuchRas);
  // b reads its own page at the same VA: zeros, not a's data.
  std::vector<std::byte> buf(8);
  ASSERT_EQ(read_bytes(mn_, *w_, b.at(va_b), buf), Status::kOk);
  EXPECT_TRUE(testing::all_zero(buf));
  // A pid with no address space, pid 0, pid beyond the table, key 0.
  EXPECT_EQ(rd(Target{b.pid + 100, a.rw, va_a}), Status::kNoSuchRas);
  EXPECT_EQ(rd(Target{0, a.rw, va_a}), Status::kNoSuchRas);
  EXPECT_EQ(rd(Target{1u << 26, a.rw, va_a}), Status::kNoSuchRas);
  EXPECT_EQ(rd(Target{a.pid, 0, va_a}), Status::kNoSuchRas);
}

TEST_F(PermissionTest, AfterRfreeAndDestroy) {
  Ras r = Ras::create(mn_);
  uint64_t va;
  ASSERT_EQ(mn_.ralloc(r.pid, r.rw, 4096, 0, &va), Status::kOk);
  ASSERT_EQ(wr(r.at(va)), Status::kOk);  // cached in the TLB now
  ASSERT_EQ(mn_.rfree(r.pid, r.rw, va), Status::kOk);
  EXPECT_EQ(rd(r.at(va)), Status::kUnmapped);
  EXPECT_EQ(wr(r.at(va)), Status::kUnmapped);
  EXPECT_EQ(mn_.rfree(r.pid, r.rw, va), Status::kUnmapped) << "double free";
  ASSERT_EQ(mn_.ralloc(r.pid, r.rw, 4096, 0, &va), Status::kOk);
  ASSERT_EQ(wr(r.at(va)), Status::kOk);
  ASSERT_EQ(mn_.destroy_ras(r.pid, r.rw), Status::kOk);
  EXPECT_EQ(rd(r.at(va)), Status::kNoSuchRas);
  EXPECT_EQ(rd(r.ro_at(va)), Status::kNoSuchRas);
  EXPECT_EQ(mn_.destroy_ras(r.pid, r.rw), Status::kNoSuchRas);
}

TEST_F(PermissionTest, BadArguments) {
  Ras r = Ras::create(mn_);
  uint64_t va;
  ASSERT_EQ(mn_.ralloc(r.pid, r.rw, 3 * 4096, 0, &va), Status::kOk);
  EXPECT_EQ(rd(r.at(va + 4000), 200), Status::kBadArgument) << "crosses a page";
  EXPECT_EQ(rd(r.at(va), 0), Status::kBadArgument) << "zero length";
  EXPECT_EQ(rd(r.at(va + 4096 - 8), 8), Status::kOk) << "ends exactly at the boundary";
  EXPECT_EQ(cas(r.at(va + 4)), Status::kBadArgument) << "misaligned atomic";
  EXPECT_EQ(faa(r.at(va + 1)), Status::kBadArgument);
  EXPECT_EQ(mn_.rfree(r.pid, r.rw, va + 4096), Status::kBadArgument) << "not the start";
  uint64_t out;
  EXPECT_EQ(mn_.ralloc(r.pid, r.rw, 0, 0, &out), Status::kBadArgument);
  EXPECT_EQ(mn_.ralloc(r.pid, r.rw, 4096, 0x80, &out), Status::kBadArgument) << "unknown flag";
  EXPECT_EQ(mn_.ralloc(r.pid, r.rw, 4096, wire::kFlagFixedVa, &out, va + 100), Status::kBadArgument)
      << "fixed VA not page aligned";
  EXPECT_EQ(mn_.ralloc(r.pid, r.rw, 4096, wire::kFlagFixedVa, &out, va + 4096), Status::kVaInUse);
  EXPECT_EQ(mn_.ralloc(r.pid, r.rw, 8192, wire::kFlagFixedVa, &out, kVaLimit - 4096),
            Status::kBadArgument)
      << "runs past the end of the address space";
  EXPECT_EQ(mn_.ralloc(r.pid, r.rw, uint64_t{1} << 62, 0, &out), Status::kNoMemory);
  EXPECT_EQ(mn_.ralloc(r.pid, r.rw, mn_.page_table().num_slots() * 4096 + 1, 0, &out),
            Status::kNoMemory)
      << "more pages than the table has slots";
  ControlRequest bogus{};
  bogus.op = wire::Opcode::kRead;  // not a control operation
  EXPECT_EQ(mn_.call(bogus).status, Status::kBadArgument);
}

TEST(AddressSpaceTest, ThousandsAreCheapAndPidsRunOut) {
  auto cfg = small_config();
  cfg.max_ras = 5001;
  MemoryNode mn(cfg);
  std::vector<Ras> all;
  for (int i = 0; i < 5000; ++i) all.push_back(Ras::create(mn));
  EXPECT_EQ(mn.stats().ras_live, 5000u);
  EXPECT_EQ(mn.create_ras().status, Status::kTooManyRas);
  ASSERT_EQ(mn.destroy_ras(all[10].pid, all[10].rw), Status::kOk);
  auto again = mn.create_ras();
  ASSERT_EQ(again.status, Status::kOk);
  EXPECT_EQ(again.pid, all[10].pid) << "a freed pid is reused";
  EXPECT_NE(again.key_rw, all[10].rw) << "with a new key: old clients stay locked out";
}

}  // namespace
}  // namespace clio::mn

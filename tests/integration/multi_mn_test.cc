// SPDX-License-Identifier: Apache-2.0
// Several memory nodes, each its own clio-mn process over UDP: placement policies, addresses
// that name their MN, and one MN dying without taking the others' addresses with it.
#include <gtest/gtest.h>

#include <set>

#include "clio/client.h"
#include "common/clock.h"
#include "tests/support/mn_process.h"

namespace clio {
namespace {

std::unique_ptr<testing::MnProcess> start_mn(const char* memory) {
  return std::make_unique<testing::MnProcess>(
      CLIO_MN_BINARY, std::vector<std::string>{"--listen", "udp:host=127.0.0.1,port=0", "--memory",
                                               memory, "--page-size", "4M", "--log-level", "warn"});
}

class MultiMnTest : public ::testing::Test {
 protected:
  MultiMnTest() {
    // 16 MiB = 4 pages of 4 MiB: 8 page-table slots, so 8 one-page allocations fill an MN.
    mns_.push_back(start_mn("16M"));
    mns_.push_back(start_mn("16M"));
    mns_.push_back(start_mn("64M"));
    for (const auto& m : mns_) locators_ += (locators_.empty() ? "" : ";") + m->locator();
  }
  std::vector<std::unique_ptr<testing::MnProcess>> mns_;
  std::string locators_;
};

TEST_F(MultiMnTest, SpreadPlacesRoundRobinAndAddressesNameTheirMn) {
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(locators_, &c), 0);
  ASSERT_EQ(c->mn_count(), 3u);
  EXPECT_EQ(c->placement(), CLIO_PLACE_SPREAD);
  std::vector<uint64_t> addrs;
  for (int i = 0; i < 6; ++i) {
    uint64_t a;
    ASSERT_EQ(c->ralloc(4096, &a), 0);
    addrs.push_back(a);
    EXPECT_EQ(Client::mn_of(a), static_cast<size_t>(i % 3)) << "round robin";
    EXPECT_EQ(clio_mn_of(a), i % 3);
  }
  // Each address reaches its own MN: write all, read all back.
  for (size_t i = 0; i < addrs.size(); ++i) {
    const uint64_t v = 1000 + i;
    ASSERT_EQ(c->rwrite(addrs[i], &v, 8), 0);
  }
  for (size_t i = 0; i < addrs.size(); ++i) {
    uint64_t v = 0;
    ASSERT_EQ(c->rread(addrs[i], &v, 8), 0);
    EXPECT_EQ(v, 1000 + i);
  }
  EXPECT_EQ(c->rread(uint64_t{7} << 48, addrs.data(), 8), -EFAULT) << "no MN 7";
}

TEST_F(MultiMnTest, FillFirstMovesOnWhenAnMnIsFull) {
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(locators_, &c), 0);
  ASSERT_EQ(c->set_placement(CLIO_PLACE_FILL_FIRST), 0);
  EXPECT_EQ(c->set_placement(42), -EINVAL);
  std::vector<size_t> where;
  for (int i = 0; i < 12; ++i) {
    uint64_t a;
    ASSERT_EQ(c->ralloc(4 << 20, &a), 0);
    where.push_back(Client::mn_of(a));
  }
  EXPECT_EQ(where.front(), 0u);
  EXPECT_EQ(std::count(where.begin(), where.end(), 0u), 8) << "MN 0 until its 8 slots are taken";
  EXPECT_EQ(where.back(), 1u) << "then MN 1";
}

TEST_F(MultiMnTest, LeastUsedPicksTheMnWithTheMostFreeMemory) {
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(locators_, &c), 0);
  ASSERT_EQ(c->set_placement(CLIO_PLACE_LEAST_USED), 0);
  uint64_t a;
  ASSERT_EQ(c->ralloc(4096, &a), 0);
  EXPECT_EQ(Client::mn_of(a), 2u) << "the 64 MiB node";
}

TEST_F(MultiMnTest, AFailedMnOnlyFailsItsOwnAddresses) {
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(locators_ + ";deadline_ms=1000", &c), -EINVAL)
      << "CLib keys belong inside a locator";
  ASSERT_EQ(Client::open(mns_[0]->locator() + ",deadline_ms=1000;" + mns_[1]->locator() + ";" +
                             mns_[2]->locator(),
                         &c),
            0);
  std::vector<uint64_t> addrs;
  for (int i = 0; i < 3; ++i) {
    uint64_t a;
    ASSERT_EQ(c->ralloc(4096, &a), 0);
    addrs.push_back(a);
  }
  mns_[1]->kill_now();
  uint64_t v = 5;
  const uint64_t t0 = now_ns();
  EXPECT_EQ(c->rwrite(addrs[1], &v, 8), -ETIMEDOUT) << "MN 1 is gone";
  EXPECT_LT(now_ns() - t0, 3'000'000'000u) << "within the deadline (1 s)";
  EXPECT_EQ(c->rwrite(addrs[0], &v, 8), 0) << "MN 0 is fine";
  EXPECT_EQ(c->rwrite(addrs[2], &v, 8), 0) << "MN 2 is fine";
  // Allocation goes on, around the dead node: at most one ralloc pays its deadline to find out.
  std::set<size_t> used;
  const uint64_t t1 = now_ns();
  for (int i = 0; i < 6; ++i) {
    uint64_t a;
    ASSERT_EQ(c->ralloc(4096, &a), 0);
    used.insert(Client::mn_of(a));
  }
  EXPECT_EQ(used.count(1), 0u);
  EXPECT_LT(now_ns() - t1, 2'500'000'000u) << "the dead MN is not tried again and again";
}

}  // namespace
}  // namespace clio

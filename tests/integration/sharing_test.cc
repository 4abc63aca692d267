// SPDX-License-Identifier: Apache-2.0
// Sharing an address space across processes (compute nodes): export a token, attach from
// another process, permissions checked by the MN, revocation when the owner closes, and locks
// that exclude across processes. clio-mn and the other processes are started by the test.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "clio/client.h"
#include "tests/support/mn_process.h"

namespace clio {
namespace {

struct HelperResult {
  int rc = 1;
  uint64_t value = 0;
};

/// Runs clio_helper with `args` and parses its line.
HelperResult helper(const std::vector<std::string>& args) {
  std::string cmd = CLIO_HELPER_BINARY;
  for (const auto& a : args) cmd += " '" + a + "'";
  HelperResult r;
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return r;
  char line[256] = "";
  if (fgets(line, sizeof line, f) != nullptr) {
    unsigned long long v = 0;
    if (std::sscanf(line, "rc=%d value=%llu", &r.rc, &v) == 2) r.value = v;
  }
  pclose(f);
  return r;
}

std::string hex(uint64_t a) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(a));
  return b;
}

class SharingTest : public ::testing::Test {
 protected:
  SharingTest()
      : mn_(CLIO_MN_BINARY, {"--listen", "udp:host=127.0.0.1,port=0", "--memory", "64M",
                             "--page-size", "4K", "--log-level", "warn"}) {}

  /// An owner with one page allocated at addr_, and a token for it.
  void make_owner(bool writable) {
    ASSERT_EQ(Client::open(mn_.locator(), &owner_), 0);
    ASSERT_EQ(owner_->ralloc(4096, &addr_), 0);
    ASSERT_EQ(owner_->export_token(writable, &token_), 0);
  }

  testing::MnProcess mn_;
  std::unique_ptr<Client> owner_;
  uint64_t addr_ = 0;
  std::string token_;
};

TEST_F(SharingTest, ReadOnlyAttachReadsButCannotWrite) {
  make_owner(false);
  const uint64_t a = addr_;
  std::string ro = token_;
  const uint64_t v = 0x1234;
  ASSERT_EQ(owner_->rwrite(a, &v, 8), 0);
  EXPECT_EQ(ro.rfind("clio1;0;" + std::to_string(owner_->pid()) + ";", 0), 0u) << ro;

  const HelperResult r = helper({"read", ro, hex(a)});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.value, 0x1234u) << "another process sees the owner's data";
  EXPECT_EQ(helper({"write", ro, hex(a), "7"}).rc, -EACCES) << "read-only";
  // In this process too, and control operations need the read-write key.
  std::unique_ptr<Client> attached;
  ASSERT_EQ(Client::attach(ro, &attached), 0);
  uint64_t b;
  EXPECT_EQ(attached->ralloc(4096, &b), -EACCES);
  EXPECT_EQ(attached->export_token(true, &ro), -EACCES) << "only the owner exports";
}

TEST_F(SharingTest, WritableAttachWritesAndDetachFreesNothing) {
  make_owner(true);
  const uint64_t a = addr_;
  const std::string rw = token_;
  Client* owner = owner_.get();
  EXPECT_EQ(helper({"write", rw, hex(a + 8), "99"}).rc, 0);
  uint64_t v = 0;
  ASSERT_EQ(owner->rread(a + 8, &v, 8), 0);
  EXPECT_EQ(v, 99u);
  {
    std::unique_ptr<Client> attached;
    ASSERT_EQ(Client::attach(rw, &attached), 0);
    EXPECT_EQ(attached->close(), 0) << "detaching";
  }
  ASSERT_EQ(owner->rread(a + 8, &v, 8), 0) << "the owner's memory is still there";
  EXPECT_EQ(v, 99u);
}

TEST_F(SharingTest, WrongKeyIsRefused) {
  make_owner(true);
  const uint64_t a = addr_;
  std::string rw = token_;
  // Change one hex digit of the key ("clio1;1;<pid>;<key>;..."): a third process that guessed.
  const size_t key_at = rw.find(';', 8) + 1;
  rw[key_at + 5] = rw[key_at + 5] == 'a' ? 'b' : 'a';
  EXPECT_EQ(helper({"read", rw, hex(a)}).rc, -EACCES);
  EXPECT_EQ(helper({"write", rw, hex(a), "1"}).rc, -EACCES);
  EXPECT_EQ(helper({"read", "not a token", hex(a)}).rc, -EINVAL);
}

TEST_F(SharingTest, OwnerCloseRevokesAttachedClients) {
  make_owner(true);
  const uint64_t a = addr_;
  const std::string rw = token_;
  Client* owner = owner_.get();
  std::unique_ptr<Client> attached;
  ASSERT_EQ(Client::attach(rw, &attached), 0);
  uint64_t v;
  ASSERT_EQ(attached->rread(a, &v, 8), 0);
  ASSERT_EQ(owner->close(), 0);
  EXPECT_EQ(attached->rread(a, &v, 8), -EACCES);
  EXPECT_EQ(attached->rwrite(a, &v, 8), -EACCES);
  EXPECT_EQ(helper({"read", rw, hex(a)}).rc, -EACCES);
}

TEST_F(SharingTest, LocksExcludeAcrossProcessesAndThreads) {
  make_owner(true);
  const uint64_t lock = addr_, counter = addr_ + 64;
  const std::string rw = token_;
  Client* owner = owner_.get();
  constexpr int kEach = 150;
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int p = 0; p < 2; ++p)  // two other processes
    ts.emplace_back([&] {
      if (helper({"lock-increment", rw, hex(lock), hex(counter), std::to_string(kEach)}).rc != 0)
        ++failures;
    });
  for (int t = 0; t < 2; ++t)  // and two threads here
    ts.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        uint64_t v = 0;
        if (owner->rlock(lock) != 0 || owner->rread(counter, &v, 8) != 0) {
          ++failures;
          return;
        }
        ++v;
        if (owner->rwrite(counter, &v, 8) != 0 || owner->runlock(lock) != 0) ++failures;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  uint64_t v = 0;
  ASSERT_EQ(owner->rread(counter, &v, 8), 0);
  EXPECT_EQ(v, 4u * kEach) << "no increment lost: the lock excluded everyone";
}

}  // namespace
}  // namespace clio

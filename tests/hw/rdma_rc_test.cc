// SPDX-License-Identifier: Apache-2.0
// The RDMA RC baseline: RcClient against RcServer in this process, and against the
// clio-rdma-server binary. Skipped where there is no RDMA device.
#include "bench/rdma_rc.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "common/error.h"
#include "hw_device.h"

namespace clio::net {
namespace {

#ifdef CLIO_RDMA_SERVER_BINARY
constexpr const char* kServerBinary = CLIO_RDMA_SERVER_BINARY;
#else
constexpr const char* kServerBinary = "";  // CLIO_BUILD_BENCH=OFF: the binary is not built
#endif

RcDeviceOptions device() {
  RcDeviceOptions d;
  if (const char* v = std::getenv("CLIO_RDMA_DEV"); v != nullptr) d.dev = v;
  if (const char* v = std::getenv("CLIO_RDMA_GID"); v != nullptr && *v != 0) d.gid = std::atoi(v);
  return d;
}

class RcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = testing::verbs_unavailable(); !why.empty()) GTEST_SKIP() << why;
    RcServer::Options o;
    o.device = device();
    o.host = "127.0.0.1";
    o.port = 0;
    o.memory_bytes = 1 << 20;
    server_ = std::make_unique<RcServer>(o);
    thread_ = std::thread([this] { server_->run(); });
    RcClient::Options co;
    co.device = device();
    client_ = RcClient::connect("127.0.0.1", server_->port(), co);
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  std::unique_ptr<RcServer> server_;
  std::thread thread_;
  std::unique_ptr<RcClient> client_;
};

TEST_F(RcTest, WriteThenReadBack) {
  EXPECT_EQ(client_->remote_bytes(), 1u << 20);
  for (uint32_t size : {8u, 100u, 4096u, 65536u}) {
    std::vector<uint8_t> out(size), in(size, 0);
    for (uint32_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(i * 7 + size);
    const uint64_t at = 3 * size;
    ASSERT_EQ(client_->write(at, out.data(), size), 0) << client_->last_error();
    ASSERT_EQ(client_->read(at, in.data(), size), 0) << client_->last_error();
    EXPECT_EQ(in, out) << "size " << size;
  }
}

TEST_F(RcTest, CompareAndSwapAndFetchAndAdd) {
  const uint64_t zero = 0;
  ASSERT_EQ(client_->write(64, &zero, 8), 0);
  uint64_t old = 99;
  ASSERT_EQ(client_->cas(64, 0, 42, &old), 0) << client_->last_error();
  EXPECT_EQ(old, 0u);
  ASSERT_EQ(client_->cas(64, 0, 7, &old), 0);
  EXPECT_EQ(old, 42u) << "a failed compare returns the current value";
  for (uint64_t i = 0; i < 10; ++i) {
    ASSERT_EQ(client_->faa(64, 5, &old), 0) << client_->last_error();
    EXPECT_EQ(old, 42 + 5 * i);
  }
  uint64_t now = 0;
  ASSERT_EQ(client_->read(64, &now, 8), 0);
  EXPECT_EQ(now, 92u);
}

TEST_F(RcTest, OutOfRangeAndMisalignedAreRefused) {
  uint8_t b[16];
  EXPECT_EQ(client_->read((1 << 20) - 8, b, 16), -EINVAL);
  EXPECT_EQ(client_->write(uint64_t{1} << 40, b, 1), -EINVAL);
  uint64_t old;
  EXPECT_EQ(client_->faa(12, 1, &old), -EINVAL) << "atomics need 8-byte alignment";
  EXPECT_EQ(client_->read(0, b, 16), 0) << "the QP still works after refusals";
}

TEST_F(RcTest, SeveralClientsShareTheMemory) {
  RcClient::Options co;
  co.device = device();
  auto other = RcClient::connect("127.0.0.1", server_->port(), co);
  const uint64_t v = 0x1122334455667788ull;
  ASSERT_EQ(client_->write(512, &v, 8), 0);
  uint64_t got = 0;
  ASSERT_EQ(other->read(512, &got, 8), 0) << other->last_error();
  EXPECT_EQ(got, v);
}

/// The binary: prints its serving line, serves, and exits 0 on SIGTERM.
TEST(RdmaServerBinaryTest, ServesAndStopsOnSigterm) {
  if (const std::string why = testing::verbs_unavailable(); !why.empty()) GTEST_SKIP() << why;
  if (*kServerBinary == 0) GTEST_SKIP() << "clio-rdma-server is not built (CLIO_BUILD_BENCH=OFF)";
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  std::vector<std::string> args = {kServerBinary, "--port",    "0",           "--memory", "1M",
                                   "--host",      "127.0.0.1", "--log-level", "warn"};
  const RcDeviceOptions d = device();
  if (!d.dev.empty()) args.insert(args.end(), {"--dev", d.dev});
  if (d.gid >= 0) args.insert(args.end(), {"--gid", std::to_string(d.gid)});
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  FILE* f = fdopen(out[0], "r");
  char line[512] = "";
  const bool got_line = std::fgets(line, sizeof line, f) != nullptr;
  const std::string s = line;
  const size_t at = s.find("port=");
  if (got_line && at != std::string::npos) {
    RcClient::Options co;
    co.device = d;
    auto c =
        RcClient::connect("127.0.0.1", static_cast<uint16_t>(std::atoi(s.c_str() + at + 5)), co);
    uint64_t old = 1;
    EXPECT_EQ(c->faa(0, 3, &old), 0) << c->last_error();
    EXPECT_EQ(old, 0u);
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::fclose(f);
  ASSERT_TRUE(got_line) << "no serving line";
  EXPECT_NE(s.find("clio-rdma-server: serving dev="), std::string::npos) << s;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

// Regions (Fig 5's RDMA-MR): the memory registered again as equal parts, each with its own
// rkey; a read through region i sees the bytes written at i * region_bytes through the whole.
TEST(RcRegionsTest, EachRegionReadsItsOwnPartOfTheMemory) {
  if (const std::string why = testing::verbs_unavailable(); !why.empty()) GTEST_SKIP() << why;
  RcServer::Options o;
  o.device = device();
  o.host = "127.0.0.1";
  o.port = 0;
  o.memory_bytes = 1 << 20;
  o.regions = 3;
  EXPECT_THROW(RcServer{o}, ConfigError) << "3 does not split 1 MiB into multiples of 4 KiB";
  o.regions = 16;
  RcServer server(o);
  std::thread t([&] { server.run(); });
  {
    RcClient::Options co;
    co.device = device();
    auto c = RcClient::connect("127.0.0.1", server.port(), co);
    ASSERT_EQ(c->regions(), 16u);
    ASSERT_EQ(c->region_bytes(), uint64_t{1} << 16);
    for (uint32_t r = 0; r < 16; ++r) {
      const uint64_t v = 0x1000 + r;
      ASSERT_EQ(c->write(r * c->region_bytes() + 8, &v, 8), 0);
    }
    for (uint32_t r = 0; r < 16; ++r) {
      uint64_t v = 0;
      ASSERT_EQ(c->read_region(r, 8, &v, 8), 0) << c->last_error();
      EXPECT_EQ(v, 0x1000u + r) << "region " << r;
    }
    uint64_t v;
    EXPECT_EQ(c->read_region(16, 0, &v, 8), -EINVAL) << "no such region";
    EXPECT_EQ(c->read_region(0, c->region_bytes() - 4, &v, 8), -EINVAL) << "past its end";
  }
  server.stop();
  t.join();
}

}  // namespace
}  // namespace clio::net

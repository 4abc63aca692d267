// SPDX-License-Identifier: Apache-2.0
// clio-mn's listening address: loopback unless told otherwise, a warning for every interface,
// the address bound named in the serving line, and a refusal to start on a port that another
// process serves.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <string>

#include "clio/client.h"
#include "tests/support/mn_process.h"

namespace clio {
namespace {

/// Runs clio-mn with `args` (killed after 20 s if it keeps running); *out receives its stdout
/// and stderr. Returns its exit status, or -1.
int run_mn(const std::string& args, std::string* out) {
  const std::string cmd = "timeout 20 '" + std::string(CLIO_MN_BINARY) + "' " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  out->clear();
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::string> args_for(const std::string& listen, const std::string& workers = "1") {
  return {"--listen", listen,        "--workers", workers,       "--memory",
          "64M",      "--page-size", "4K",        "--log-level", "warn"};
}

size_t open_fds() {
  size_t n = 0;
  for (int fd = 0; fd < 4096; ++fd) n += fcntl(fd, F_GETFD) != -1;
  return n;
}

// The child-process helper (posix_spawn): a binary that cannot run is named at once, and the
// pipes made for it are closed again; a clio-mn that runs is found and stopped, leaking nothing.
TEST(MnListenTest, SpawningLeaksNoDescriptorEitherWay) {
  const size_t before = open_fds();
  try {
    testing::MnProcess p("/nonexistent/clio-mn", args_for("udp:host=127.0.0.1,port=0"));
    ADD_FAILURE() << "started a binary that does not exist";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run /nonexistent/clio-mn"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(open_fds(), before);
  {
    testing::MnProcess p(CLIO_MN_BINARY, args_for("udp:host=127.0.0.1,port=0"));
    EXPECT_NE(p.locator().find("udp:"), std::string::npos);
  }
  EXPECT_EQ(open_fds(), before);
}

TEST(MnListenTest, ASecondMnOnAServedPortExitsWithEaddrinuse) {
  for (const char* workers : {"1", "2"}) {
    testing::MnProcess first(CLIO_MN_BINARY, args_for("udp:host=127.0.0.1,port=0", workers));
    for (const char* second : {"1", "2"}) {
      std::string out;
      const int rc = run_mn("--listen " + first.locator() + " --workers " + second +
                                " --memory 64M --page-size 4K --insecure-no-auth",
                            &out);
      EXPECT_EQ(rc, 1) << "a second clio-mn (" << second << " workers) on " << first.locator()
                       << " served by " << workers << " worker(s): " << out;
      EXPECT_NE(out.find("EADDRINUSE"), std::string::npos) << out;
      EXPECT_NE(out.find("already in use"), std::string::npos) << out;
      EXPECT_EQ(out.find("clio-mn: serving"), std::string::npos) << out;
    }
    // The first one still serves.
    std::unique_ptr<Client> c;
    ASSERT_EQ(Client::open(first.locator() + ",deadline_ms=5000", &c), 0) << first.locator();
    EXPECT_EQ(c->close(), 0);
  }
}

TEST(MnListenTest, TheDefaultIsLoopbackAndHelpSaysHowToServeOtherHosts) {
  std::string out;
  ASSERT_EQ(run_mn("--help", &out), 0) << out;
  EXPECT_NE(out.find("udp:host=127.0.0.1,port=7400"), std::string::npos) << out;
  EXPECT_EQ(out.find("0.0.0.0,port=7400"), std::string::npos) << out;
  EXPECT_NE(out.find("pass host= explicitly"), std::string::npos) << out;
}

TEST(MnListenTest, EveryInterfaceIsNamedAndWarnedAbout) {
  testing::MnProcess mn(CLIO_MN_BINARY, args_for("udp:host=0.0.0.0,port=0"));
  EXPECT_EQ(mn.locator().rfind("udp:host=0.0.0.0,port=", 0), 0u) << mn.locator();
  EXPECT_EQ(mn.locator().find("port=0"), std::string::npos) << "the port bound: " << mn.locator();
  std::string err;
  EXPECT_EQ(mn.signal_and_collect(SIGTERM, &err), 0) << err;
  EXPECT_NE(err.find("reachable from every interface"), std::string::npos) << err;
}

TEST(MnListenTest, AHostNameIsServedAsTheAddressItResolvedTo) {
  testing::MnProcess mn(CLIO_MN_BINARY, args_for("udp:host=localhost,port=0"));
  EXPECT_EQ(mn.locator().find("localhost"), std::string::npos) << mn.locator();
  EXPECT_TRUE(mn.locator().rfind("udp:host=127.0.0.1,port=", 0) == 0 ||
              mn.locator().rfind("udp:host=::1,port=", 0) == 0)
      << mn.locator();
  std::string err;
  EXPECT_EQ(mn.signal_and_collect(SIGTERM, &err), 0) << err;
  EXPECT_EQ(err.find("every interface"), std::string::npos) << err;
}

}  // namespace
}  // namespace clio

// SPDX-License-Identifier: Apache-2.0
// The verbs backend's set-up errors say what is wrong and what to do.
#include <gtest/gtest.h>

#include "hw_device.h"

namespace clio::net {
namespace {

class VerbsErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = testing::verbs_unavailable(); !why.empty()) GTEST_SKIP() << why;
  }
};

std::string listen_error(const std::string& locator) {
  try {
    (void)listen(locator);
  } catch (const TransportError& e) {
    return e.what();
  }
  return "";
}

TEST_F(VerbsErrorsTest, MissingDeviceListsTheDevicesThatExist) {
  const std::string e = listen_error("verbs:dev=no_such_dev0,host=127.0.0.1,port=0");
  EXPECT_NE(e.find("no RDMA device 'no_such_dev0'"), std::string::npos) << e;
  EXPECT_NE(e.find("this host has:"), std::string::npos) << e;
}

TEST_F(VerbsErrorsTest, EmptyGidListsThePortsGidsAndSuggestsOne) {
  std::string dev;
  if (const char* d = std::getenv("CLIO_RDMA_DEV"); d != nullptr) dev = d;
  const std::string e = listen_error("verbs:" + (dev.empty() ? "" : "dev=" + dev + ",") +
                                     "gid=200,host=127.0.0.1,port=0");
  ASSERT_FALSE(e.empty()) << "gid=200 was accepted";
  EXPECT_NE(e.find("gid=200"), std::string::npos) << e;
  EXPECT_NE(e.find("GIDs of"), std::string::npos) << e;
  EXPECT_NE(e.find("Use "), std::string::npos) << "a suggestion: " << e;
}

TEST_F(VerbsErrorsTest, NoServerMeansATimeoutNamingTheAddress) {
  // A port where nothing answers the hello: connect gives up after timeout_ms, saying where.
  auto l = listen(testing::verbs_locator("host=127.0.0.1,port=0"));
  const std::string loc = l->locator();
  const std::string port = loc.substr(loc.rfind("port=") + 5);
  l.reset();  // nobody listens there any more
  Endpoint server;
  try {
    (void)connect(testing::verbs_locator("host=127.0.0.1,port=" + port + ",timeout_ms=600"),
                  &server);
    FAIL() << "connected to nothing";
  } catch (const TransportError& e) {
    EXPECT_NE(std::string(e.what()).find("no endpoint answer from 127.0.0.1:" + port),
              std::string::npos)
        << e.what();
  }
}

TEST(VerbsLocatorTest, BadKeysAreConfigErrors) {
  // Checked before any device is opened: runs wherever the backend is built.
  if (find_backend("verbs") == nullptr) GTEST_SKIP() << "the verbs backend is not built in";
  EXPECT_THROW((void)listen(testing::verbs_locator("port=0,poll=sometimes")), ConfigError);
  EXPECT_THROW((void)listen(testing::verbs_locator("port=0,colour=blue")), ConfigError);
  Endpoint s;
  EXPECT_THROW((void)connect(testing::verbs_locator("port=7400"), &s), ConfigError)
      << "host= is required";
}

}  // namespace
}  // namespace clio::net

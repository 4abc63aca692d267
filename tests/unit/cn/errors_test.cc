// SPDX-License-Identifier: Apache-2.0
// CLib's errors (cn/errors.h): the errno each MN status becomes, and error_string's sentences,
// which come from common/status.cc's table where one status explains the errno and from CLib's
// own short table otherwise, so that each sentence is written once.
#include "cn/errors.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <map>
#include <set>
#include <string>

#include "clio/client.h"

namespace clio::cn {
namespace {

TEST(ErrorsTest, EveryStatusMapsToItsErrno) {
  const std::map<Status, int> expected = {
      {Status::kOk, 0},
      {Status::kRetryLater, -EAGAIN},
      {Status::kUnmapped, -EFAULT},
      {Status::kPermission, -EACCES},
      {Status::kNoSuchRas, -EACCES},
      {Status::kNoMemory, -ENOMEM},
      {Status::kFixedVaUnavailable, -EADDRINUSE},
      {Status::kVaInUse, -EEXIST},
      {Status::kBadArgument, -EINVAL},
      {Status::kTooManyRas, -EMFILE},
      {Status::kShuttingDown, -ESHUTDOWN},
      {Status::kStale, -EIO},
      {Status::kIdMismatch, -EPROTO},
      {Status::kAuthRequired, -ENOKEY},
      {Status::kBadCredential, -EKEYREJECTED},
      {Status::kQuotaMemory, -EDQUOT},
      {Status::kQuotaSlots, -ENOBUFS},
  };
  for (const auto& [s, err] : expected) EXPECT_EQ(status_to_errno(s), err) << status_name(s);
  for (const StatusInfo& s : all_statuses()) {
    if (is_packet_error(s.status) || s.status == Status::kUnproven) {
      EXPECT_EQ(status_to_errno(s.status), -EPROTO) << s.name << ": the MN misunderstood us";
    } else {
      EXPECT_TRUE(expected.contains(s.status)) << s.name << " has no expected errno here";
    }
  }
  EXPECT_EQ(status_to_errno(static_cast<Status>(200)), -EPROTO) << "not a status at all";
}

TEST(ErrorsTest, StatusTableIsInEnumOrderAndFindsEveryRow) {
  std::set<std::string> names;
  int last = -1;
  for (const StatusInfo& s : all_statuses()) {
    EXPECT_GT(static_cast<int>(s.status), last);
    last = static_cast<int>(s.status);
    EXPECT_EQ(&status_info(s.status), &s);
    EXPECT_TRUE(names.insert(s.name).second) << s.name;
  }
  EXPECT_EQ(all_statuses().size(), 27u);
  EXPECT_STREQ(status_name(static_cast<Status>(99)), "kUnknownStatus");
}

// An errno that exactly one status maps to shows that status's sentence, and CLib's own table
// does not say it a second time.
TEST(ErrorsTest, AnErrnoOfOneStatusShowsThatStatusSentence) {
  std::map<int, int> statuses_of;
  for (const StatusInfo& s : all_statuses()) ++statuses_of[s.err];
  int shared = 0;
  for (const StatusInfo& s : all_statuses()) {
    EXPECT_STRNE(error_string(-s.err), "unknown error") << s.name;
    if (statuses_of[s.err] == 1 && clib_error_message(s.err) == nullptr) {
      EXPECT_STREQ(error_string(-s.err), s.message) << s.name;
      ++shared;
    }
  }
  EXPECT_GE(shared, 12) << "most statuses' sentences are shared";
  for (const auto& [err, n] : statuses_of)
    if (n > 1) {
      EXPECT_NE(clib_error_message(err), nullptr) << "errno " << err << " of several statuses";
    }
  EXPECT_STREQ(error_string(0), "success");
  EXPECT_STREQ(error_string(-EFAULT), status_message(Status::kUnmapped));
}

TEST(ErrorsTest, ClibsOwnErrnosHaveDistinctSentences) {
  std::set<std::string> seen;
  for (int err :
       {EACCES, ETIMEDOUT, EAGAIN, EPROTO, EPERM, EDEADLK, ECONNREFUSED, ENETUNREACH, ENOSPC}) {
    ASSERT_NE(clib_error_message(err), nullptr) << err;
    EXPECT_STREQ(error_string(-err), clib_error_message(err));
    EXPECT_TRUE(seen.insert(error_string(-err)).second) << error_string(-err);
  }
  EXPECT_STREQ(error_string(-EACCES),
               "permission denied: read-only memory or key, or the address space was closed");
}

TEST(ErrorsTest, AnythingElseIsUnknown) {
  for (int err : {1, EFAULT, -ENOTDIR, -9999, INT_MIN, INT_MAX})
    EXPECT_STREQ(error_string(err), "unknown error") << err;
}

}  // namespace
}  // namespace clio::cn

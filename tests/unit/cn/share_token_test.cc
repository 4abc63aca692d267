// SPDX-License-Identifier: Apache-2.0
// The share token's format (cn/share_token.h): what export writes, attach reads back exactly,
// and every kind of malformed token is refused for its own reason.
#include "cn/share_token.h"

#include <gtest/gtest.h>

#include <string>

#include "cn/address.h"

namespace clio::cn {
namespace {

bool same(const ShareToken& a, const ShareToken& b) {
  if (a.writable != b.writable || a.mns.size() != b.mns.size()) return false;
  for (size_t i = 0; i < a.mns.size(); ++i) {
    const TokenMn &x = a.mns[i], &y = b.mns[i];
    if (x.pid != y.pid || x.key != y.key || x.page_bytes != y.page_bytes || x.locator != y.locator)
      return false;
  }
  return true;
}

TEST(ShareTokenTest, FormatIsTheDocumentedOne) {
  ShareToken t;
  t.writable = true;
  t.mns.push_back({7, 0xAB, 4096, "inproc:name=a"});
  EXPECT_EQ(format_share_token(t), "clio1;1;7;00000000000000ab;4096;inproc:name=a");
  t.writable = false;
  t.mns.push_back({0xFFFFFFFF, 0xFEDCBA9876543210ull, 1 << 21, "udp:host=10.0.0.2,port=8888"});
  EXPECT_EQ(format_share_token(t),
            "clio1;0;7;00000000000000ab;4096;inproc:name=a;"
            "4294967295;fedcba9876543210;2097152;udp:host=10.0.0.2,port=8888");
}

TEST(ShareTokenTest, RoundTrips) {
  for (const bool writable : {false, true}) {
    for (const size_t n : {size_t{1}, size_t{3}, kMaxMns}) {
      ShareToken t;
      t.writable = writable;
      for (size_t i = 0; i < n; ++i)
        t.mns.push_back({static_cast<uint32_t>(1 + i * 977), (uint64_t{1} << (i % 64)) | 1,
                         uint64_t{4096} << (i % 10),
                         "udp:host=10.0.0." + std::to_string(i) + ",port=" + std::to_string(i)});
      const std::string text = format_share_token(t);
      ShareToken back;
      ASSERT_EQ(parse_share_token(text, &back), TokenError::kNone) << text;
      EXPECT_TRUE(same(t, back)) << text;
      EXPECT_EQ(format_share_token(back), text);
    }
  }
}

TEST(ShareTokenTest, RefusesEveryMalformedToken) {
  const std::string mn = ";7;00000000000000ab;4096;inproc:name=a";
  struct Case {
    std::string text;
    TokenError why;
  };
  const Case cases[] = {
      {"", TokenError::kNotAToken},
      {"clio1", TokenError::kNotAToken},
      {"clio1;1", TokenError::kNotAToken},  // no memory node
      {"clio2;1" + mn, TokenError::kNotAToken},
      {"CLIO1;1" + mn, TokenError::kNotAToken},
      {"clio1;2" + mn, TokenError::kNotAToken},
      {"clio1;" + mn, TokenError::kNotAToken},
      {"clio1;1;7;00000000000000ab;4096", TokenError::kNotAToken},  // a field short
      {"clio1;1" + mn + ";extra", TokenError::kNotAToken},
      {"clio1;1" + mn + ";", TokenError::kNotAToken},
      {"clio1;1;;00000000000000ab;4096;inproc:name=a", TokenError::kBadPid},
      {"clio1;1;0;00000000000000ab;4096;inproc:name=a", TokenError::kBadPid},
      {"clio1;1;7x;00000000000000ab;4096;inproc:name=a", TokenError::kBadPid},
      {"clio1;1;x7;00000000000000ab;4096;inproc:name=a", TokenError::kBadPid},
      {"clio1;1;4294967296;00000000000000ab;4096;inproc:name=a", TokenError::kBadPid},
      {"clio1;1;7;0000000000000ab;4096;inproc:name=a", TokenError::kBadKey},     // 15 digits
      {"clio1;1;7;000000000000000ab;4096;inproc:name=a", TokenError::kBadKey},   // 17 digits
      {"clio1;1;7;00000000000000ag;4096;inproc:name=a", TokenError::kBadKey},    // not hex
      {"clio1;1;7;0000000000000000;4096;inproc:name=a", TokenError::kBadKey},    // 0
      {"clio1;1;7;00000000000000ab;;inproc:name=a", TokenError::kBadPageSize},   // empty
      {"clio1;1;7;00000000000000ab;0;inproc:name=a", TokenError::kBadPageSize},  // 0
      {"clio1;1;7;00000000000000ab;3000;inproc:name=a", TokenError::kBadPageSize},
      {"clio1;1;7;00000000000000ab;4k;inproc:name=a", TokenError::kBadPageSize},
      // The second memory node's group is the bad one.
      {"clio1;1" + mn + ";0;00000000000000ab;4096;inproc:name=b", TokenError::kBadPid},
  };
  for (const Case& c : cases) {
    ShareToken t;
    EXPECT_EQ(parse_share_token(c.text, &t), c.why) << "'" << c.text << "'";
    EXPECT_STRNE(token_error_message(c.why), token_error_message(TokenError::kNone));
  }
}

TEST(ShareTokenTest, RefusesMoreMemoryNodesThanAClientHas) {
  std::string text = "clio1;0";
  for (size_t i = 0; i < kMaxMns; ++i) text += ";7;00000000000000ab;4096;inproc:name=a";
  ShareToken t;
  ASSERT_EQ(parse_share_token(text, &t), TokenError::kNone);
  EXPECT_EQ(t.mns.size(), kMaxMns);
  EXPECT_FALSE(t.writable);
  text += ";7;00000000000000ab;4096;inproc:name=a";
  EXPECT_EQ(parse_share_token(text, &t), TokenError::kMnCount);
}

}  // namespace
}  // namespace clio::cn

// SPDX-License-Identifier: Apache-2.0
#include "common/wire.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/rng.h"

namespace clio::wire {
namespace {

std::vector<std::byte> packet(Header h, size_t payload_bytes, uint8_t fill = 0xAB) {
  std::vector<std::byte> p(kHeaderBytes + payload_bytes, std::byte{fill});
  std::span<const std::byte> payload(p.data() + kHeaderBytes, payload_bytes);
  seal(h, payload);
  std::memcpy(p.data(), &h, kHeaderBytes);
  return p;
}

Header write_req(uint32_t len) {
  Header h = make_header(Opcode::kWrite);
  h.pid = 7;
  h.key = 0x1234;
  h.va = 0x1'0000'0000;
  h.length = len;
  h.session = 1;
  h.seq = 99;
  return h;
}

TEST(WireTest, WellFormedPacketsValidate) {
  Header out{};
  auto w = packet(write_req(64), 64);
  ASSERT_EQ(validate(w, &out), Status::kOk);
  EXPECT_EQ(out.length, 64u);
  EXPECT_EQ(out.seq, 99u);

  Header r = make_header(Opcode::kRead);
  r.length = 4096;
  r.session = 1;
  r.seq = 1;
  EXPECT_EQ(validate(packet(r, 0)), Status::kOk);

  Header reply = r;
  reply.flags = kFlagReply;
  EXPECT_EQ(validate(packet(reply, 4096)), Status::kOk);
  reply.status = static_cast<uint8_t>(Status::kUnmapped);
  EXPECT_EQ(validate(packet(reply, 0)), Status::kOk) << "an error reply carries no data";

  Header cas = make_header(Opcode::kCas);
  cas.length = 8;
  cas.session = 1;
  cas.seq = 2;
  EXPECT_EQ(validate(packet(cas, 0)), Status::kOk);

  Header ralloc = make_header(Opcode::kRalloc);
  ralloc.flags = kFlagReadOnly | kFlagFixedVa;
  ralloc.arg0 = 1 << 20;
  ralloc.session = 1;
  ralloc.seq = 3;
  EXPECT_EQ(validate(packet(ralloc, 0)), Status::kOk);
}

TEST(WireTest, EveryTruncationIsRejected) {
  auto w = packet(write_req(100), 100);
  for (size_t n = 0; n < w.size(); ++n) {
    // An exact-size copy, so that a read past the end shows under AddressSanitizer.
    std::vector<std::byte> prefix(w.begin(), w.begin() + static_cast<long>(n));
    const Status s = validate(prefix);
    EXPECT_NE(s, Status::kOk) << "prefix of " << n << " bytes";
    if (n < kHeaderBytes) {
      EXPECT_EQ(s, Status::kTruncated);
    }
  }
}

TEST(WireTest, LyingLengthsAreRejected) {
  // Length larger than the payload present, smaller, and beyond the protocol limit.
  EXPECT_EQ(validate(packet(write_req(200), 100)), Status::kBadLength);
  EXPECT_EQ(validate(packet(write_req(50), 100)), Status::kBadLength);
  EXPECT_EQ(validate(packet(write_req(kMaxAccessBytes + 1), 0)), Status::kBadLength);
  EXPECT_EQ(validate(packet(write_req(0), 0)), Status::kBadLength);
  Header r = make_header(Opcode::kRead);
  r.length = 64;
  r.session = 1;
  r.seq = 4;
  EXPECT_EQ(validate(packet(r, 64)), Status::kBadLength) << "a read request carries no data";
  r.flags = kFlagReply;
  EXPECT_EQ(validate(packet(r, 63)), Status::kBadLength) << "a read reply carries `length` bytes";
  Header faa = make_header(Opcode::kFaa);
  faa.length = 4;
  faa.session = 1;
  faa.seq = 5;
  EXPECT_EQ(validate(packet(faa, 0)), Status::kBadLength);
  Header rfree = make_header(Opcode::kRfree);
  rfree.session = 1;
  rfree.seq = 6;
  EXPECT_EQ(validate(packet(rfree, 8)), Status::kBadLength);
}

TEST(WireTest, BadFieldsGetTheirOwnStatus) {
  Header h = write_req(8);
  h.magic = 0xBEEF;
  EXPECT_EQ(validate(packet(h, 8)), Status::kBadMagic);
  h = write_req(8);
  h.version = 1;
  EXPECT_EQ(validate(packet(h, 8)), Status::kBadVersion);
  h = write_req(8);
  h.opcode = 77;
  EXPECT_EQ(validate(packet(h, 8)), Status::kBadOpcode);
  h = write_req(8);
  h.flags = kFlagFixedVa;  // only ralloc may carry it
  EXPECT_EQ(validate(packet(h, 8)), Status::kBadFlags);
  h = write_req(8);
  h.status = 3;  // requests carry no status
  EXPECT_EQ(validate(packet(h, 8)), Status::kBadReserved);
  h = write_req(8);
  h.session = 1;
  h.seq = 0;
  EXPECT_EQ(validate(packet(h, 8)), Status::kBadRequestId);
}

TEST(WireTest, AnyCorruptionIsCaughtByTheChecksum) {
  auto good = packet(write_req(256), 256);
  Rng rng(1);
  for (int i = 0; i < 20000; ++i) {
    auto p = good;
    const size_t at = rng.below(p.size());
    p[at] ^= std::byte{static_cast<uint8_t>(1u << rng.below(8))};
    EXPECT_NE(validate(p), Status::kOk) << "bit flip at byte " << at;
  }
}

TEST(WireTest, RandomByteStringsNeverValidate) {
  Rng rng(2);
  int valid_magic = 0;
  for (int i = 0; i < 200000; ++i) {
    std::vector<std::byte> p(rng.below(300));
    for (auto& b : p) b = std::byte{static_cast<uint8_t>(rng.next())};
    // Give half of them a plausible start so they get past the first checks.
    if (p.size() >= 4 && (i & 1)) {
      const uint16_t m = kMagic;
      std::memcpy(p.data(), &m, 2);
      p[2] = std::byte{kVersion};
      ++valid_magic;
    }
    EXPECT_NE(validate(p), Status::kOk);
  }
  EXPECT_GT(valid_magic, 0);
}

TEST(WireTest, OversizedPacketsAreRejected) {
  // Payload far beyond any access: the length field cannot match it.
  Header h = write_req(kMaxAccessBytes);
  auto p = packet(h, kMaxAccessBytes + 4096);
  EXPECT_EQ(validate(p), Status::kBadLength);
}

// The reference vectors of the SipHash paper (key 00 01 .. 0f, messages 00 01 .. n-1).
TEST(WireTest, SipHashMatchesTheReferenceVectors) {
  const SipKey key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  std::byte msg[15];
  for (int i = 0; i < 15; ++i) msg[i] = std::byte{static_cast<uint8_t>(i)};
  EXPECT_EQ(siphash24(key, std::span(msg, 0)), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ(siphash24(key, std::span(msg, 15)), 0xa129ca6149be45e5ull);
  EXPECT_NE(credential_proof(key, 1, 2), credential_proof(key, 1, 3));
  EXPECT_NE(credential_proof(key, 1, 2), credential_proof(derive_key("another secret"), 1, 2));
}

TEST(WireTest, StatusNamesAndMessagesExist) {
  for (int v = 0; v < 256; ++v) {
    const auto s = static_cast<Status>(v);
    EXPECT_NE(status_name(s), nullptr);
    EXPECT_NE(status_message(s), nullptr);
  }
  EXPECT_STREQ(status_name(Status::kUnmapped), "kUnmapped");
  EXPECT_TRUE(is_packet_error(Status::kBadChecksum));
  EXPECT_FALSE(is_packet_error(Status::kPermission));
}

// A damaged request gets a NACK that validates as a reply, matches the request (session, seq,
// opcode), echoes no pid or address, is header-sized, and carries the length the client expects
// of that opcode's answers; a header that no longer reads as a request gets none.
TEST(WireTest, NacksAnswerDamagedRequestsOnly) {
  struct Case {
    Opcode op;
    uint32_t length;
  };
  for (const Case c : {Case{Opcode::kRead, 1}, Case{Opcode::kWrite, 1}, Case{Opcode::kCas, 8},
                       Case{Opcode::kFaa, 8}, Case{Opcode::kRalloc, 0}, Case{Opcode::kStats, 0}}) {
    Header req = make_header(c.op);
    req.session = 77;
    req.seq = 5;
    req.pid = 9;
    req.va = 0x1000;
    ASSERT_TRUE(may_nack(req)) << opcode_name(c.op);
    const Header n = make_nack(req);
    Header back;
    ASSERT_EQ(validate(std::as_bytes(std::span(&n, 1)), &back), Status::kOk) << opcode_name(c.op);
    EXPECT_TRUE(back.flags & kFlagReply);
    EXPECT_EQ(back.status, static_cast<uint8_t>(Status::kBadChecksum));
    EXPECT_EQ(back.session, 77u);
    EXPECT_EQ(back.seq, 5u);
    EXPECT_EQ(back.opcode, static_cast<uint8_t>(c.op));
    EXPECT_EQ(back.pid, 0u);
    EXPECT_EQ(back.va, 0u);
    EXPECT_EQ(back.length, c.length) << opcode_name(c.op);
  }
  Header h = make_header(Opcode::kRead);
  h.session = 1;
  h.seq = 1;
  EXPECT_TRUE(may_nack(h));
  Header reply = h;
  reply.flags = kFlagReply;
  EXPECT_FALSE(may_nack(reply)) << "a reply is never answered";
  Header no_session = h;
  no_session.session = 0;
  EXPECT_FALSE(may_nack(no_session));
  Header no_seq = h;
  no_seq.seq = 0;
  EXPECT_FALSE(may_nack(no_seq));
  Header unknown = h;
  unknown.opcode = 99;
  EXPECT_FALSE(may_nack(unknown));
}

}  // namespace
}  // namespace clio::wire

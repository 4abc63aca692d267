// SPDX-License-Identifier: Apache-2.0
// The memory node's wire protocol, spoken by hand: exactly-once execution of retransmissions and
// late originals, and malformed packets of every kind sent at a running MN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>

#include "clio/client.h"
#include "common/clock.h"
#include "common/rng.h"
#include "common/siphash.h"
#include "mn/memory_node.h"
#include "mn/server.h"
#include "tests/support/embedded_mn.h"
#include "verbs_shim/registry.h"
#include "workload.h"

namespace clio {
namespace {

using wire::Header;
using wire::Opcode;

/// A client that writes packets by hand.
class RawClient {
 public:
  explicit RawClient(const std::string& locator) : t_(net::connect(locator, &server_)) {}

  void send(Header h, std::span<const std::byte> payload = {}) {
    wire::seal(h, payload);
    push(net::TxItem{server_, std::as_bytes(std::span(&h, 1)), payload});
  }
  void send_bytes(std::span<const std::byte> raw) { push(net::TxItem{server_, raw, {}}); }
  /// A full receive ring refuses a packet (tx_burst returns 0): try again until it is taken.
  void push(const net::TxItem& it) {
    const uint64_t deadline = now_ns() + 5'000'000'000ull;
    while (t_->tx_burst(std::span(&it, 1)) == 0)
      ASSERT_LT(now_ns(), deadline) << "the MN stopped taking packets";
  }
  /// The next packet, or nothing after 5 s. *payload receives its payload.
  std::optional<Header> receive(std::vector<std::byte>* payload = nullptr) {
    const uint64_t deadline = now_ns() + 5'000'000'000ull;
    net::PacketView v;
    while (now_ns() < deadline) {
      if (t_->rx_burst(std::span(&v, 1)) == 0) {
        t_->wait(1'000'000);
        continue;
      }
      Header h;
      const Status s = wire::validate(v.data, &h);
      if (payload) payload->assign(v.data.begin() + wire::kHeaderBytes, v.data.end());
      t_->release(std::span(&v, 1));
      EXPECT_EQ(s, Status::kOk) << "the MN sent a malformed packet";
      return h;
    }
    return std::nullopt;
  }
  /// The answer to request `seq`, skipping any other packet (NACKs of junk sent earlier).
  std::optional<Header> receive_for(uint64_t seq, std::vector<std::byte>* payload = nullptr) {
    for (int i = 0; i < 10000; ++i) {
      auto r = receive(payload);
      if (!r || r->seq == seq) return r;
    }
    return std::nullopt;
  }
  Header call(Header h, std::span<const std::byte> payload = {},
              std::vector<std::byte>* out = nullptr) {
    send(h, payload);
    auto r = receive_for(h.seq, out);
    EXPECT_TRUE(r.has_value()) << "no answer";
    return r.value_or(Header{});
  }

 private:
  net::Endpoint server_;
  std::unique_ptr<net::Transport> t_;
};

/// A request header with a fresh identity in `session`.
Header fresh(Opcode op, uint64_t session, uint64_t* next_seq) {
  Header h = wire::make_header(op);
  h.session = session;
  h.seq = (*next_seq)++;
  if (op == Opcode::kCas || op == Opcode::kFaa) h.length = 8;
  return h;
}

/// The same request sent again: same identity, a later attempt, `age_ms` after the first.
Header resend(Header h, uint32_t age_ms, uint16_t attempt = 1) {
  h.attempt = attempt;
  h.age_ms = age_ms;
  return h;
}

class MnProtocolTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    mn::ServerConfig sc =
        testing::EmbeddedMn::serving(GetParam() == "udp" ? "udp:host=127.0.0.1,port=0,poll=epoll"
                                                         : testing::EmbeddedMn::inproc("proto"));
    sc.dedup_entries = 1 << 12;
    mn_ = std::make_unique<testing::EmbeddedMn>(testing::EmbeddedMn::small_node(), sc);
    raw_ = std::make_unique<RawClient>(mn_->locator());
    Header h = fresh(Opcode::kRasCreate, session_, &next_id_);
    const Header r = raw_->call(h);
    ASSERT_EQ(r.status, 0);
    pid_ = r.pid;
    key_ = r.arg0;
    Header a = request(Opcode::kRalloc);
    a.arg0 = 64 * 1024;
    const Header ra = raw_->call(a);
    ASSERT_EQ(ra.status, 0);
    va_ = ra.va;
  }

  Header request(Opcode op) {
    Header h = fresh(op, session_, &next_id_);
    h.pid = pid_;
    h.key = key_;
    h.va = va_;
    if (op == Opcode::kCas || op == Opcode::kFaa) h.length = 8;
    return h;
  }
  uint64_t read_word(uint64_t va) {
    Header h = request(Opcode::kRead);
    h.va = va;
    h.length = 8;
    std::vector<std::byte> out;
    const Header r = raw_->call(h, {}, &out);
    EXPECT_EQ(r.status, 0);
    uint64_t v = 0;
    if (out.size() == 8) std::memcpy(&v, out.data(), 8);
    return v;
  }

  std::unique_ptr<testing::EmbeddedMn> mn_;
  std::unique_ptr<RawClient> raw_;
  uint64_t next_id_ = 1000;
  uint64_t session_ = 0x5e55'1000'0000'0001ull;
  uint32_t pid_ = 0;
  uint64_t key_ = 0, va_ = 0;
};

TEST_P(MnProtocolTest, LateOriginalWriteNeverOverwritesANewerOne) {
  const uint64_t a = 0xAAAAAAAAAAAAAAAAull, b = 0xBBBBBBBBBBBBBBBBull;
  Header wa = request(Opcode::kWrite);
  wa.length = 8;
  const auto pa = std::as_bytes(std::span(&a, 1));
  // The original of write A is "lost"; its retry runs; then write B; then the original lands.
  const Header retry = resend(wa, 2);
  EXPECT_EQ(raw_->call(retry, pa).status, 0);
  Header wb = request(Opcode::kWrite);
  wb.length = 8;
  EXPECT_EQ(raw_->call(wb, std::as_bytes(std::span(&b, 1))).status, 0);
  const Header late = raw_->call(wa, pa);
  EXPECT_EQ(late.status, 0) << "answered from memory";
  EXPECT_EQ(late.seq, wa.seq);
  EXPECT_EQ(read_word(va_), b) << "the late original was not executed: no lost update";
  EXPECT_EQ(mn_->server().stats().dedup_hits, 1u);
}

TEST_P(MnProtocolTest, RetriedAtomicRunsOnceAndReturnsTheFirstResult) {
  Header faa = request(Opcode::kFaa);
  faa.arg0 = 5;
  EXPECT_EQ(raw_->call(faa).arg0, 0u);
  for (int i = 0; i < 3; ++i) {
    const Header again = resend(faa, 1 + i, static_cast<uint16_t>(1 + i));
    const Header r = raw_->call(again);
    EXPECT_EQ(r.arg0, 0u) << "the recorded old value, not 5";
    EXPECT_EQ(r.seq, faa.seq);
    EXPECT_EQ(r.attempt, 1 + i);
  }
  EXPECT_EQ(raw_->call(faa).arg0, 0u) << "a duplicate of the original, too";
  EXPECT_EQ(read_word(va_), 5u) << "added once";

  Header cas = request(Opcode::kCas);
  cas.va = va_ + 8;
  cas.arg0 = 0;
  cas.arg1 = 9;
  EXPECT_EQ(raw_->call(cas).arg0, 0u);
  EXPECT_EQ(raw_->call(cas).arg0, 0u) << "a replayed CAS reports the first outcome";
  EXPECT_EQ(read_word(va_ + 8), 9u);
}

TEST_P(MnProtocolTest, RetriedControlOperationsRunOnce) {
  Header ra = request(Opcode::kRalloc);
  ra.arg0 = 4096;
  const Header first = raw_->call(ra);
  ASSERT_EQ(first.status, 0);
  const Header again = resend(ra, 1);
  EXPECT_EQ(raw_->call(again).va, first.va) << "the same allocation, not a second one";
  EXPECT_EQ(mn_->node().stats().rallocs, 2u) << "setup's and this one";

  Header rf = request(Opcode::kRfree);
  rf.va = first.va;
  EXPECT_EQ(raw_->call(rf).status, 0);
  EXPECT_EQ(raw_->call(rf).status, 0) << "a retried rfree reports success, not a double free";
  EXPECT_EQ(mn_->node().stats().rfrees, 1u);
}

// A retransmitted kRasDestroy finds its address space gone; it still gets its own answer.
TEST_P(MnProtocolTest, RetriedDestroyGetsItsFirstAnswer) {
  Header d = request(Opcode::kRasDestroy);
  EXPECT_EQ(raw_->call(d).status, 0);
  EXPECT_EQ(raw_->call(resend(d, 2)).status, 0) << "from its record, not kNoSuchRas";
  Header other = request(Opcode::kRasDestroy);  // a new request: the space is gone
  EXPECT_EQ(raw_->call(other).status, static_cast<uint8_t>(Status::kNoSuchRas));
}

TEST_P(MnProtocolTest, RecordedAnswersGoOnlyToTheirSender) {
  // Another sender replaying someone's request ids gets nothing: not the keys of an address
  // space someone created, not an atomic's result, and the atomic does not run again.
  const Header create = fresh(Opcode::kRasCreate, session_, &next_id_);
  ASSERT_EQ(raw_->call(create).status, 0);
  Header faa = request(Opcode::kFaa);
  faa.arg0 = 1;
  ASSERT_EQ(raw_->call(faa).status, 0);
  RawClient stranger(mn_->locator());
  stranger.send(create);
  stranger.send(faa);
  // A request of the stranger's own, sent last: on one path packets are served in order, so
  // the first answer the stranger sees tells whether the replays were answered.
  uint64_t own_seq = 0x5eed;
  const Header own = fresh(Opcode::kRasCreate, 0x0770, &own_seq);
  stranger.send(own);
  const auto r = stranger.receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->seq, own.seq) << "a replayed request was answered to a stranger";
  EXPECT_EQ(read_word(va_), 1u) << "the replayed atomic did not run";
  EXPECT_EQ(mn_->server().stats().foreign_replays, 2u);
}

// A read and then a write of the same word, sent back to back so that they often share one
// receive burst: the read's reply (sealed before the write runs) must still be well formed and
// hold the value from before the write, whole.
TEST_P(MnProtocolTest, ReadThenWriteInOneBurstAnswersTheOldValue) {
  constexpr uint64_t kPairs = 100;  // 200 answers: they fit the 256-slot inproc ring
  std::vector<uint64_t> values(kPairs + 1);
  for (uint64_t i = 0; i <= kPairs; ++i) values[i] = 0x0101010101010101ull * (i % 255 + 1);
  Header w0 = request(Opcode::kWrite);
  w0.length = 8;
  ASSERT_EQ(raw_->call(w0, std::as_bytes(std::span(&values[0], 1))).status, 0);
  std::vector<uint64_t> read_seq(kPairs);
  for (uint64_t i = 0; i < kPairs; ++i) {
    Header rd = request(Opcode::kRead);
    rd.length = 8;
    read_seq[i] = rd.seq;
    raw_->send(rd);
    Header wr = request(Opcode::kWrite);
    wr.length = 8;
    raw_->send(wr, std::as_bytes(std::span(&values[i + 1], 1)));
  }
  size_t reads = 0;
  for (uint64_t n = 0; n < 2 * kPairs; ++n) {
    std::vector<std::byte> out;
    const auto r = raw_->receive(&out);  // EXPECTs a well-formed packet
    ASSERT_TRUE(r.has_value()) << "no answer";
    ASSERT_EQ(r->status, 0);
    if (r->opcode != static_cast<uint8_t>(Opcode::kRead)) continue;
    const auto it = std::find(read_seq.begin(), read_seq.end(), r->seq);
    ASSERT_NE(it, read_seq.end());
    ASSERT_EQ(out.size(), 8u);
    uint64_t v = 0;
    std::memcpy(&v, out.data(), 8);
    EXPECT_EQ(v, values[static_cast<size_t>(it - read_seq.begin())]) << "read " << r->seq;
    ++reads;
  }
  EXPECT_EQ(reads, kPairs);
}

// Malformed packets of every kind at a running MN: each is dropped and counted by reason, a
// corrupted one is NACKed, nothing crashes, and clients keep getting correct answers.
TEST_P(MnProtocolTest, MalformedPacketsAreCountedAndDropped) {
  uint64_t sent = 0;
  auto settle = [&] {
    // The MN counts what it dropped; wait (polling, 10 s at most) until it has seen them all.
    const uint64_t deadline = now_ns() + 10'000'000'000ull;
    while (now_ns() < deadline) {
      const mn::ServerStats s = mn_->server().stats();
      if (s.dropped_total() + s.stray_replies >= sent) return;
    }
  };
  Rng rng(99);
  // Random byte strings, some with a plausible start.
  for (int i = 0; i < 3000; ++i) {
    std::vector<std::byte> junk(rng.below(300));
    for (auto& b : junk) b = std::byte{static_cast<uint8_t>(rng.next())};
    if (junk.size() >= 3 && (i & 1)) {
      const uint16_t m = wire::kMagic;
      std::memcpy(junk.data(), &m, 2);
      junk[2] = std::byte{wire::kVersion};
    }
    raw_->send_bytes(junk);
    ++sent;
    if (i % 200 == 0) settle();
  }
  // Every truncation of a valid write.
  Header w = request(Opcode::kWrite);
  w.length = 64;
  std::vector<std::byte> data(64, std::byte{0x42});
  std::vector<std::byte> pkt(wire::kHeaderBytes + 64);
  wire::seal(w, data);
  std::memcpy(pkt.data(), &w, wire::kHeaderBytes);
  std::memcpy(pkt.data() + wire::kHeaderBytes, data.data(), 64);
  for (size_t n = 0; n < pkt.size(); ++n) {
    raw_->send_bytes(std::span(pkt.data(), n));
    ++sent;
  }
  settle();
  // Lying lengths, bad fields, a reply sent to the MN; each sealed so only that one thing is wrong.
  auto bad = [&](auto mutate, size_t payload_bytes) {
    Header h = request(Opcode::kWrite);
    h.length = 64;
    mutate(h);
    std::vector<std::byte> p(payload_bytes, std::byte{1});
    raw_->send(h, p);
    ++sent;
  };
  bad([](Header& h) { h.length = 100; }, 64);  // claims more than it carries
  bad([](Header& h) { h.length = 10; }, 64);   // claims less
  bad([](Header& h) { h.length = wire::kMaxAccessBytes + 1; }, 0);
  bad([](Header& h) { h.magic = 0x1234; }, 64);
  bad([](Header& h) { h.version = 9; }, 64);
  bad([](Header& h) { h.opcode = 200; }, 64);
  bad([](Header& h) { h.flags = 0x80; }, 64);
  bad([](Header& h) { h.flags = wire::kFlagReply; }, 0);  // a reply: the MN expects none
  bad([](Header& h) { h.seq = 0; }, 64);
  bad([](Header& h) { h.session = 0; }, 64);
  settle();
  const mn::ServerStats s = mn_->server().stats();
  EXPECT_EQ(s.dropped_total() + s.stray_replies, sent);
  EXPECT_GT(s.dropped[static_cast<uint8_t>(Status::kTruncated) - 32], 70u);
  EXPECT_GE(s.dropped[static_cast<uint8_t>(Status::kBadLength) - 32], 3u);
  EXPECT_GE(s.dropped[static_cast<uint8_t>(Status::kBadMagic) - 32], 1u);
  EXPECT_EQ(s.stray_replies, 1u);

  // A corrupted request: dropped, and NACKed so that the sender retransmits at once.
  std::vector<std::byte> flipped = pkt;
  flipped[wire::kHeaderBytes + 5] ^= std::byte{0x10};
  raw_->send_bytes(flipped);
  const auto nack = raw_->receive_for(w.seq);
  ASSERT_TRUE(nack.has_value());
  EXPECT_EQ(nack->status, static_cast<uint8_t>(Status::kBadChecksum));
  EXPECT_EQ(nack->seq, w.seq);
  EXPECT_EQ(read_word(va_), 0u) << "the corrupted write did not touch memory";

  // And the MN still serves correct answers.
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(mn_->locator(), &c), 0);
  testing::WorkloadOptions o;
  o.ops = 3000;
  const auto rep = testing::run_workload(*c, o);
  EXPECT_EQ(rep.counter_actual, rep.counter_expected);
}

// --- The exactly-once rules of docs/protocol.md, one test each, on an MN with a tiny table. ---

/// An inproc MN with a small dedup table, spoken to by hand.
class SmallTableTest : public ::testing::Test {
 protected:
  void start(size_t entries, uint64_t mpl_ms = 1000, SipKey auth = {}) {
    mn::ServerConfig sc = testing::EmbeddedMn::serving(testing::EmbeddedMn::inproc("small"));
    sc.dedup_entries = entries;
    sc.max_packet_lifetime_ms = mpl_ms;
    sc.auth = auth;
    if (epoch_shift_ != 0) sc.token_epoch_shift = epoch_shift_;
    mn_ = std::make_unique<testing::EmbeddedMn>(testing::EmbeddedMn::small_node(), sc);
    raw_ = std::make_unique<RawClient>(mn_->locator());
  }
  uint32_t epoch_shift_ = 0;  ///< set before start(): the address tokens' epoch, 2^shift ms
  struct Ras {
    uint32_t pid;
    uint64_t key;
    uint64_t va;
  };
  /// A new address space with one 4 KiB allocation.
  Ras make_ras(uint64_t session) {
    Header create = fresh(Opcode::kRasCreate, session, &seq_);
    const Header r = raw_->call(create);
    EXPECT_EQ(r.status, 0);
    Header ra = fresh(Opcode::kRalloc, session, &seq_);
    ra.pid = r.pid;
    ra.key = r.arg0;
    ra.arg0 = 4096;
    const Header a = raw_->call(ra);
    EXPECT_EQ(a.status, 0);
    return Ras{r.pid, r.arg0, a.va};
  }
  /// A fresh request of `op` in `session` on r's allocation, with r's key.
  Header on(const Ras& r, Opcode op, uint64_t session) {
    Header h = fresh(op, session, &seq_);
    h.pid = r.pid;
    h.key = r.key;
    h.va = r.va;
    return h;
  }
  Header faa(const Ras& r, uint64_t session, uint64_t add = 1) {
    Header h = on(r, Opcode::kFaa, session);
    h.arg0 = add;
    return h;
  }
  /// A 1 KiB read of r's allocation: more than 3x its request, so it needs the address token.
  Header large_read(const Ras& r) {
    Header rd = on(r, Opcode::kRead, 3);
    rd.length = 1024;
    return rd;
  }
  uint64_t read_word(const Ras& r) {
    Header h = on(r, Opcode::kRead, 77);
    h.length = 8;
    std::vector<std::byte> out;
    EXPECT_EQ(raw_->call(h, {}, &out).status, 0);
    uint64_t v = 0;
    if (out.size() == 8) std::memcpy(&v, out.data(), 8);
    return v;
  }
  std::unique_ptr<testing::EmbeddedMn> mn_;
  std::unique_ptr<RawClient> raw_;
  uint64_t seq_ = 1;
};

/// Spins until the MN's millisecond clock has surely moved on by `ms` (time itself is what is
/// under test here: records age, and horizons grow with it).
void let_time_pass(uint64_t ms) {
  const uint64_t until = now_ns() + ms * 1'000'000;
  while (now_ns() < until) std::this_thread::yield();
}

// A retransmission whose record was evicted gets kStale, never a second execution.
TEST_F(SmallTableTest, ForgottenRequestIsNotRunAgain) {
  start(16, /*mpl_ms=*/5);
  const Ras r = make_ras(1);
  const Header first = faa(r, 1);
  EXPECT_EQ(raw_->call(first).arg0, 0u);
  EXPECT_EQ(raw_->call(resend(first, 1)).status, 0) << "still remembered: answered from memory";
  // Push it out of the 16-entry table, slowly enough that the table's horizon stays above the
  // 5 ms packet lifetime (else the MN would rightly refuse these too).
  for (int i = 0; i < 40; ++i) {
    let_time_pass(1);
    EXPECT_EQ(raw_->call(faa(r, 1)).status, 0);
  }
  const Header late = raw_->call(resend(first, 5000, 9));
  EXPECT_EQ(late.status, static_cast<uint8_t>(Status::kStale));
  EXPECT_EQ(read_word(r), 41u) << "1 + 40: the stale retransmission did not add";
  EXPECT_EQ(mn_->server().stats().stale, 1u);
}

// When the table's horizon is shorter than the packet lifetime, the MN cannot prove that any
// request is new: it refuses them all rather than guess, and says so in its horizon.
TEST_F(SmallTableTest, TableShorterThanThePacketLifetimeRefusesRatherThanGuesses) {
  start(16, /*mpl_ms=*/60'000);
  const Ras r = make_ras(1);
  uint64_t ran = 0, stale = 0;
  for (int i = 0; i < 100; ++i) {
    const Header rep = raw_->call(faa(r, 1));
    if (rep.status == 0) ++ran;
    if (rep.status == static_cast<uint8_t>(Status::kStale)) {
      ++stale;
      EXPECT_LT(rep.age_ms, 60'000u) << "the reply carries the short horizon";
    }
  }
  EXPECT_EQ(ran + stale, 100u);
  EXPECT_GT(stale, 0u);
  EXPECT_EQ(read_word(r), ran) << "exactly the acknowledged ones ran";
}

// Finding 3: a late original (attempt 0, age 0) whose retransmission ran and whose record was
// then evicted ran again. The packet-lifetime margin covers its time in the network.
TEST_F(SmallTableTest, LateOriginalAfterEvictionIsRefused) {
  start(16, /*mpl_ms=*/60'000);
  const Ras quiet = make_ras(1);
  const Ras other = make_ras(2);
  const Header original = faa(quiet, 1);
  EXPECT_EQ(raw_->call(resend(original, 3)).arg0, 0u) << "the retransmission ran first";
  for (int i = 0; i < 12; ++i) EXPECT_EQ(raw_->call(faa(quiet, 1)).status, 0);
  // The other address space takes back its fair share, evicting the quiet one's oldest.
  // (16 entries, 3 holders: a share of 5; the quiet one holds 12, oldest first.)
  for (int i = 0; i < 3; ++i) EXPECT_EQ(raw_->call(faa(other, 2)).status, 0);
  const Header late = raw_->call(original);  // the original, delayed in the network
  EXPECT_EQ(late.status, static_cast<uint8_t>(Status::kStale));
  EXPECT_EQ(read_word(quiet), 13u) << "the late original did not add again";
}

// Finding 3: a retransmission claiming a small age, arriving after its record left the table:
// the age says nothing about the time in transit, so it is refused too.
TEST_F(SmallTableTest, SmallClaimedAgeDoesNotBypassTheTransitMargin) {
  start(16, /*mpl_ms=*/60'000);
  const Ras quiet = make_ras(1);
  const Ras other = make_ras(2);
  const Header first = faa(quiet, 1);
  EXPECT_EQ(raw_->call(first).arg0, 0u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(raw_->call(faa(quiet, 1)).status, 0);
  // (16 entries, 3 holders: a share of 5; the quiet one holds 12, oldest first.)
  for (int i = 0; i < 3; ++i) EXPECT_EQ(raw_->call(faa(other, 2)).status, 0);
  EXPECT_EQ(raw_->call(resend(first, 100)).status, static_cast<uint8_t>(Status::kStale));
  EXPECT_EQ(read_word(quiet), 13u);
}

// Finding 1: an identity reused by a different request is refused, never answered from the
// other request's record (the old code matched records on (pid, family) alone).
TEST_F(SmallTableTest, ReusedIdentityWithOtherContentIsRefused) {
  start(64);
  const Ras r = make_ras(1);
  Header a = faa(r, 1, 5);
  EXPECT_EQ(raw_->call(a).arg0, 0u);
  Header other = a;
  other.arg0 = 7;  // same session and seq, different addend
  EXPECT_EQ(raw_->call(other).status, static_cast<uint8_t>(Status::kIdMismatch));
  Header w = on(r, Opcode::kWrite, 1);
  w.va = r.va + 8;
  w.length = 8;
  const uint64_t x = 1, y = 2;
  EXPECT_EQ(raw_->call(w, std::as_bytes(std::span(&x, 1))).status, 0);
  EXPECT_EQ(raw_->call(w, std::as_bytes(std::span(&y, 1))).status,
            static_cast<uint8_t>(Status::kIdMismatch))
      << "same identity, other payload";
  EXPECT_EQ(read_word(r), 5u);
  EXPECT_EQ(mn_->server().stats().id_mismatch, 2u);
}

// Finding 3: answers to unauthenticated requests are never recorded, so a keyless flood cannot
// evict an honest client's records.
TEST_F(SmallTableTest, KeylessFloodEvictsNothing) {
  start(16);
  const Ras r = make_ras(1);
  const Header honest = faa(r, 1);
  EXPECT_EQ(raw_->call(honest).arg0, 0u);
  RawClient stranger(mn_->locator());
  uint64_t sseq = 1;
  for (int i = 0; i < 500; ++i) {
    Header h = fresh(i % 2 ? Opcode::kFaa : Opcode::kWrite, 0xbad, &sseq);
    h.pid = r.pid + static_cast<uint32_t>(i % 3);  // its own pid, and others
    h.key = 0x1234 + static_cast<uint64_t>(i);
    h.va = r.va;
    h.arg0 = 1;
    const uint64_t v = 9;
    if (h.opcode == static_cast<uint8_t>(Opcode::kWrite)) {
      h.length = 8;
      EXPECT_EQ(stranger.call(h, std::as_bytes(std::span(&v, 1))).status,
                static_cast<uint8_t>(Status::kNoSuchRas));
    } else {
      EXPECT_EQ(stranger.call(h).status, static_cast<uint8_t>(Status::kNoSuchRas));
    }
  }
  const Header again = raw_->call(resend(honest, 2));
  EXPECT_EQ(again.status, 0) << "answered from its record, which the flood did not evict";
  EXPECT_EQ(read_word(r), 1u);
  EXPECT_EQ(mn_->server().stats().unauthenticated, 500u);
}

// Finding 3: one address space's traffic cannot evict another's records below its share.
TEST_F(SmallTableTest, OneAddressSpaceCannotEvictAnothers) {
  start(64);
  const Ras quiet = make_ras(1);
  const Ras busy = make_ras(2);
  std::vector<Header> mine;
  for (int i = 0; i < 8; ++i) {
    mine.push_back(faa(quiet, 1));
    EXPECT_EQ(raw_->call(mine.back()).arg0, static_cast<uint64_t>(i));
  }
  uint64_t busy_ran = 0;
  Header last{};
  for (int i = 0; i < 2000; ++i) {
    last = raw_->call(faa(busy, 2));
    busy_ran += last.status == 0;
  }
  for (const Header& h : mine)
    EXPECT_EQ(raw_->call(resend(h, 5)).status, 0) << "still recorded despite the other's flood";
  EXPECT_EQ(read_word(quiet), 8u);
  EXPECT_EQ(read_word(busy), busy_ran) << "the busy one ran exactly what it was told ran";
  // The busy one lost records: its horizon is bounded; the quiet one's is not.
  EXPECT_NE(last.age_ms, wire::kHorizonUnbounded);
  const Header quiet_reply = raw_->call(faa(quiet, 1));
  EXPECT_EQ(quiet_reply.status, 0);
  EXPECT_EQ(quiet_reply.age_ms, wire::kHorizonUnbounded) << "its records were never evicted";
}

// Finding 4 and 6: creating an address space needs the operator's credential; refusals are
// not recorded, and a proof is bound to the identity it was made for.
TEST_F(SmallTableTest, CreatingAnAddressSpaceNeedsTheCredential) {
  const SipKey cred = derive_key("correct horse battery staple");
  start(64, 1000, cred);
  Header none = fresh(Opcode::kRasCreate, 5, &seq_);
  EXPECT_EQ(raw_->call(none).status, static_cast<uint8_t>(Status::kAuthRequired));
  Header wrong = fresh(Opcode::kRasCreate, 5, &seq_);
  wrong.key = wire::credential_proof(derive_key("wrong secret, wrong"), wrong.session, wrong.seq);
  EXPECT_EQ(raw_->call(wrong).status, static_cast<uint8_t>(Status::kBadCredential));
  Header replayed = fresh(Opcode::kRasCreate, 5, &seq_);
  replayed.key = wire::credential_proof(cred, 5, 1);  // a proof made for another request
  EXPECT_EQ(raw_->call(replayed).status, static_cast<uint8_t>(Status::kBadCredential));
  Header good = fresh(Opcode::kRasCreate, 5, &seq_);
  good.key = wire::credential_proof(cred, good.session, good.seq);
  const Header r = raw_->call(good);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.pid, 0u);
  EXPECT_NE(r.token, 0u) << "the create reply hands out the address token";
  EXPECT_EQ(mn_->server().stats().bad_credential, 3u);
  EXPECT_EQ(mn_->node().stats().ras_live, 1u);
}

// Finding 13: kStats answers only holders of a key.
TEST_F(SmallTableTest, StatsNeedAKey) {
  start(64);
  Header anon = fresh(Opcode::kStats, 9, &seq_);
  EXPECT_EQ(raw_->call(anon).status, static_cast<uint8_t>(Status::kNoSuchRas));
  const Ras r = make_ras(1);
  Header st = fresh(Opcode::kStats, 9, &seq_);
  st.pid = r.pid;
  st.key = r.key;
  const Header ok = raw_->call(st);
  EXPECT_EQ(ok.status, 0);
  EXPECT_EQ(ok.va, 4096u);
}

// An address token stays good for its epoch and the next only, even after the MN has seen it
// (it remembers recently proven addresses, and that memory must expire with the token).
TEST_F(SmallTableTest, AddressTokensExpire) {
  epoch_shift_ = 7;  // 128 ms epochs
  start(64);
  const Ras r = make_ras(1);
  Header rd = large_read(r);
  const Header refused = raw_->call(rd);
  ASSERT_EQ(refused.status, static_cast<uint8_t>(Status::kUnproven));
  Header proven = rd;
  proven.seq = seq_++;
  proven.token = refused.token;
  ASSERT_EQ(raw_->call(proven).status, 0);
  // Two epochs on at least, plus what the MN's token clock may lag (64 idle waits of 1 ms).
  let_time_pass(3 * 128 + 64 + 10);
  Header late = proven;
  late.seq = seq_++;
  EXPECT_EQ(raw_->call(late).status, static_cast<uint8_t>(Status::kUnproven))
      << "an expired token was accepted";
}

// Finding 9: no amplification toward an address that has not proven itself.
TEST_F(SmallTableTest, LargeReadsNeedTheAddressToken) {
  start(64);
  const Ras r = make_ras(1);
  Header rd = large_read(r);
  std::vector<std::byte> out;
  const Header refused = raw_->call(rd, {}, &out);
  EXPECT_EQ(refused.status, static_cast<uint8_t>(Status::kUnproven));
  EXPECT_TRUE(out.empty()) << "the refusal is header-sized";
  EXPECT_NE(refused.token, 0u);
  Header small = rd;
  small.seq = seq_++;
  small.length = wire::kUnprovenReadBytes;  // at most 3x the request: no token needed
  EXPECT_EQ(raw_->call(small, {}, &out).status, 0);
  EXPECT_EQ(out.size(), wire::kUnprovenReadBytes);
  Header forged = rd;
  forged.seq = seq_++;
  forged.token = refused.token ^ 1;
  EXPECT_EQ(raw_->call(forged).status, static_cast<uint8_t>(Status::kUnproven));
  Header proven = rd;
  proven.seq = seq_++;
  proven.token = refused.token;
  EXPECT_EQ(raw_->call(proven, {}, &out).status, 0);
  EXPECT_EQ(out.size(), 1024u);
  // Another endpoint cannot use this endpoint's token.
  RawClient other(mn_->locator());
  Header theirs = proven;
  theirs.seq = seq_++;
  EXPECT_EQ(other.call(theirs).status, static_cast<uint8_t>(Status::kUnproven));
  EXPECT_EQ(mn_->server().stats().unproven, 3u);
}

INSTANTIATE_TEST_SUITE_P(Transports, MnProtocolTest, ::testing::Values("inproc", "udp"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace clio

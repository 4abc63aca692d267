// The memory node's wire protocol, spoken by hand: exactly-once execution of retransmissions and
// late originals, and malformed packets of every kind sent at a running MN.
#include <gtest/gtest.h>

#include <cstring>
#include <optional>

#include "clio/client.h"
#include "common/clock.h"
#include "common/rng.h"
#include "mn/memory_node.h"
#include "mn/server.h"
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
  /// The answer to request `req_id`, skipping any other packet (NACKs of junk sent earlier).
  std::optional<Header> receive_for(uint64_t req_id, std::vector<std::byte>* payload = nullptr) {
    for (int i = 0; i < 10000; ++i) {
      auto r = receive(payload);
      if (!r || r->req_id == req_id) return r;
    }
    return std::nullopt;
  }
  Header call(Header h, std::span<const std::byte> payload = {}, std::vector<std::byte>* out = nullptr) {
    send(h, payload);
    auto r = receive_for(h.req_id, out);
    EXPECT_TRUE(r.has_value()) << "no answer";
    return r.value_or(Header{});
  }

 private:
  net::Endpoint server_;
  std::unique_ptr<net::Transport> t_;
};

class MnProtocolTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    mn::MnConfig c;
    c.pool_bytes = uint64_t{64} << 20;
    c.page_bytes = 4096;
    node_ = std::make_unique<mn::MemoryNode>(c);
    mn::ServerConfig sc;
    static int n = 0;
    sc.listen = GetParam() == "udp" ? "udp:host=127.0.0.1,port=0,poll=epoll"
                                    : "inproc:name=proto" + std::to_string(n++) + ",poll=sleep";
    server_ = std::make_unique<mn::MnServer>(*node_, sc);
    raw_ = std::make_unique<RawClient>(server_->locator());
    Header h = wire::make_header(Opcode::kRasCreate);
    h.req_id = next_id_++;
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
    Header h = wire::make_header(op);
    h.req_id = next_id_++;
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

  std::unique_ptr<mn::MemoryNode> node_;
  std::unique_ptr<mn::MnServer> server_;
  std::unique_ptr<RawClient> raw_;
  uint64_t next_id_ = 1000;
  uint32_t pid_ = 0;
  uint64_t key_ = 0, va_ = 0;
};

TEST_P(MnProtocolTest, LateOriginalWriteNeverOverwritesANewerOne) {
  const uint64_t a = 0xAAAAAAAAAAAAAAAAull, b = 0xBBBBBBBBBBBBBBBBull;
  Header wa = request(Opcode::kWrite);
  wa.length = 8;
  const auto pa = std::as_bytes(std::span(&a, 1));
  // The original of write A is "lost"; its retry runs; then write B; then the original lands.
  Header retry = wa;
  retry.req_id = next_id_++;
  retry.retry_of = wa.req_id;
  EXPECT_EQ(raw_->call(retry, pa).status, 0);
  Header wb = request(Opcode::kWrite);
  wb.length = 8;
  EXPECT_EQ(raw_->call(wb, std::as_bytes(std::span(&b, 1))).status, 0);
  const Header late = raw_->call(wa, pa);
  EXPECT_EQ(late.status, 0) << "answered from memory";
  EXPECT_EQ(late.req_id, wa.req_id);
  EXPECT_EQ(read_word(va_), b) << "the late original was not executed: no lost update";
  EXPECT_EQ(server_->stats().dedup_hits, 1u);
}

TEST_P(MnProtocolTest, RetriedAtomicRunsOnceAndReturnsTheFirstResult) {
  Header faa = request(Opcode::kFaa);
  faa.arg0 = 5;
  EXPECT_EQ(raw_->call(faa).arg0, 0u);
  for (int i = 0; i < 3; ++i) {
    Header again = faa;
    again.req_id = next_id_++;
    again.retry_of = faa.req_id;
    const Header r = raw_->call(again);
    EXPECT_EQ(r.arg0, 0u) << "the recorded old value, not 5";
    EXPECT_EQ(r.retry_of, faa.req_id);
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
  Header again = ra;
  again.req_id = next_id_++;
  again.retry_of = ra.req_id;
  EXPECT_EQ(raw_->call(again).va, first.va) << "the same allocation, not a second one";
  EXPECT_EQ(node_->stats().rallocs, 2u) << "setup's and this one";

  Header rf = request(Opcode::kRfree);
  rf.va = first.va;
  EXPECT_EQ(raw_->call(rf).status, 0);
  EXPECT_EQ(raw_->call(rf).status, 0) << "a retried rfree reports success, not a double free";
  EXPECT_EQ(node_->stats().rfrees, 1u);
}

TEST_P(MnProtocolTest, RecordedAnswersGoOnlyToTheirSender) {
  // Another sender replaying someone's request ids gets nothing: not the keys of an address
  // space someone created, not an atomic's result, and the atomic does not run again.
  Header create = wire::make_header(Opcode::kRasCreate);
  create.req_id = next_id_++;
  ASSERT_EQ(raw_->call(create).status, 0);
  Header faa = request(Opcode::kFaa);
  faa.arg0 = 1;
  ASSERT_EQ(raw_->call(faa).status, 0);
  RawClient stranger(server_->locator());
  stranger.send(create);
  stranger.send(faa);
  // A request of the stranger's own, sent last: on one path packets are served in order, so
  // the first answer the stranger sees tells whether the replays were answered.
  Header own = wire::make_header(Opcode::kRasCreate);
  own.req_id = 0x5eed;
  stranger.send(own);
  const auto r = stranger.receive();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->req_id, own.req_id) << "a replayed request was answered to a stranger";
  EXPECT_EQ(read_word(va_), 1u) << "the replayed atomic did not run";
}

// Malformed packets of every kind at a running MN: each is dropped and counted by reason, a
// corrupted one is NACKed, nothing crashes, and clients keep getting correct answers.
TEST_P(MnProtocolTest, MalformedPacketsAreCountedAndDropped) {
  uint64_t sent = 0;
  auto settle = [&] {
    // The MN counts what it dropped; wait (polling, 10 s at most) until it has seen them all.
    const uint64_t deadline = now_ns() + 10'000'000'000ull;
    while (now_ns() < deadline) {
      const mn::ServerStats s = server_->stats();
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
  bad([](Header& h) { h.length = 100; }, 64);                  // claims more than it carries
  bad([](Header& h) { h.length = 10; }, 64);                   // claims less
  bad([](Header& h) { h.length = wire::kMaxAccessBytes + 1; }, 0);
  bad([](Header& h) { h.magic = 0x1234; }, 64);
  bad([](Header& h) { h.version = 9; }, 64);
  bad([](Header& h) { h.opcode = 200; }, 64);
  bad([](Header& h) { h.reserved0 = 7; }, 64);
  bad([](Header& h) { h.age_ms = 7; }, 64);                   // an age without retry_of
  bad([](Header& h) { h.flags = 0x80; }, 64);
  bad([](Header& h) { h.flags = wire::kFlagReply; }, 0);       // a reply: the MN expects none
  bad([](Header& h) { h.req_id = 0; }, 64);
  settle();
  const mn::ServerStats s = server_->stats();
  EXPECT_EQ(s.dropped_total() + s.stray_replies, sent);
  EXPECT_GT(s.dropped[static_cast<uint8_t>(Status::kTruncated) - 32], 70u);
  EXPECT_GE(s.dropped[static_cast<uint8_t>(Status::kBadLength) - 32], 3u);
  EXPECT_GE(s.dropped[static_cast<uint8_t>(Status::kBadMagic) - 32], 1u);
  EXPECT_EQ(s.stray_replies, 1u);

  // A corrupted request: dropped, and NACKed so that the sender retransmits at once.
  std::vector<std::byte> flipped = pkt;
  flipped[wire::kHeaderBytes + 5] ^= std::byte{0x10};
  raw_->send_bytes(flipped);
  const auto nack = raw_->receive_for(w.req_id);
  ASSERT_TRUE(nack.has_value());
  EXPECT_EQ(nack->status, static_cast<uint8_t>(Status::kBadChecksum));
  EXPECT_EQ(nack->req_id, w.req_id);
  EXPECT_EQ(read_word(va_), 0u) << "the corrupted write did not touch memory";

  // And the MN still serves correct answers.
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(server_->locator(), &c), 0);
  testing::WorkloadOptions o;
  o.ops = 3000;
  const auto rep = testing::run_workload(*c, o);
  EXPECT_EQ(rep.counter_actual, rep.counter_expected);
}

// A retransmission whose record was evicted gets kStale, never a second execution.
TEST(MnProtocolStaleTest, ForgottenFamilyIsNotRunAgain) {
  mn::MnConfig c;
  c.pool_bytes = uint64_t{64} << 20;
  c.page_bytes = 4096;
  mn::MemoryNode node(c);
  mn::ServerConfig sc;
  sc.listen = "inproc:name=proto-stale,poll=sleep";
  sc.dedup_entries = 16;
  mn::MnServer server(node, sc);
  RawClient raw(server.locator());
  uint64_t id = 1;
  Header create = wire::make_header(Opcode::kRasCreate);
  create.req_id = id++;
  const Header ras = raw.call(create);
  Header ra = wire::make_header(Opcode::kRalloc);
  ra.req_id = id++;
  ra.pid = ras.pid;
  ra.key = ras.arg0;
  ra.arg0 = 4096;
  const uint64_t va = raw.call(ra).va;
  auto faa = [&](uint64_t req, uint64_t retry_of, uint32_t age) {
    Header h = wire::make_header(Opcode::kFaa);
    h.req_id = req;
    h.retry_of = retry_of;
    h.age_ms = age;
    h.pid = ras.pid;
    h.key = ras.arg0;
    h.va = va;
    h.length = 8;
    h.arg0 = 1;
    return raw.call(h);
  };
  const uint64_t family = id++;
  EXPECT_EQ(faa(family, 0, 0).arg0, 0u);
  EXPECT_EQ(faa(id++, family, 0).status, 0) << "still remembered: answered from memory";
  for (int i = 0; i < 40; ++i) faa(id++, 0, 0);  // push the family out of the 16-entry table
  const Header late = faa(id++, family, 5000);
  EXPECT_EQ(late.status, static_cast<uint8_t>(Status::kStale));
  Header rd = wire::make_header(Opcode::kRead);
  rd.req_id = id++;
  rd.pid = ras.pid;
  rd.key = ras.arg0;
  rd.va = va;
  rd.length = 8;
  std::vector<std::byte> out;
  ASSERT_EQ(raw.call(rd, {}, &out).status, 0);
  uint64_t v;
  std::memcpy(&v, out.data(), 8);
  EXPECT_EQ(v, 41u) << "1 + 40: the stale retransmission did not add";
  EXPECT_EQ(server.stats().stale, 1u);
}

INSTANTIATE_TEST_SUITE_P(Transports, MnProtocolTest, ::testing::Values("inproc", "udp"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace clio

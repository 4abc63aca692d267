// SPDX-License-Identifier: Apache-2.0
// The protocol's guarantees through CLib's API (docs/protocol.md), one test per finding of the
// hostile review: identities that never repeat, deadlines that hold under NACKs, credentials,
// address tokens, replies only from the MN.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "clio/client.h"
#include "common/clock.h"
#include "common/siphash.h"
#include "mn/memory_node.h"
#include "mn/server.h"
#include "tests/support/embedded_mn.h"
#include "verbs_shim/registry.h"

namespace clio {
namespace {

mn::MnConfig small_mn() { return testing::EmbeddedMn::small_node(uint64_t{64} << 20); }

std::string unique_name(const char* base, bool sleep = true) {
  return testing::EmbeddedMn::inproc(base, sleep ? "poll=sleep" : "");
}

// Finding 1: a synchronous thread's request identity repeated every 2^20 requests, and the MN
// answered the new request from the old one's record: the second FAA returned a stale value and
// did not run. Identities now never repeat.
TEST(ExactlyOnceTest, SecondAtomicAfterAMillionReadsRuns) {
  // A million round trips: busy-poll.
  testing::EmbeddedMn embedded(small_mn(), unique_name("eo-wrap", /*sleep=*/false));
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(embedded.locator(), &c), 0);
  uint64_t addr, old = 99;
  ASSERT_EQ(c->ralloc(4096, &addr), 0);
  ASSERT_EQ(c->rfaa(addr, 1, &old), 0);
  EXPECT_EQ(old, 0u);
  uint64_t word;
  for (uint32_t i = 0; i < (1u << 20) - 1; ++i) ASSERT_EQ(c->rread(addr + 8, &word, 8), 0);
  ASSERT_EQ(c->rfaa(addr, 1, &old), 0);
  EXPECT_EQ(old, 1u) << "the second FAA ran, on the value the first left";
  ASSERT_EQ(c->rread(addr, &word, 8), 0);
  EXPECT_EQ(word, 2u);
}

// The same with the counter shrunk to 3 bits: the thread draws a new session every few requests,
// and every write and atomic still runs exactly once.
TEST(ExactlyOnceTest, SessionsRotateBeforeTheCounterWraps) {
  mn::ServerConfig sc = testing::EmbeddedMn::serving(unique_name("eo-rotate"));
  sc.dedup_entries = 1 << 16;
  testing::EmbeddedMn embedded(small_mn(), sc);
  ClientOptions o;
  o.seq_bits = 3;
  std::unique_ptr<Client> c;
  ASSERT_EQ(Client::open(embedded.locator(), o, &c), 0);
  uint64_t addr;
  ASSERT_EQ(c->ralloc(4096, &addr), 0);
  for (uint64_t i = 0; i < 20000; ++i) {
    uint64_t old;
    ASSERT_EQ(c->rfaa(addr, 1, &old), 0);
    ASSERT_EQ(old, i);
    const uint64_t v = i;
    ASSERT_EQ(c->rwrite(addr + 8 + 8 * (i % 64), &v, 8), 0);
  }
  EXPECT_GT(c->counters().sessions, 5000u);
  EXPECT_EQ(embedded.server().stats().id_mismatch, 0u);
}

// Finding 2: NACKs resent at once and reset the send time, so a path that corrupts every request
// kept a call alive forever at ~47 K resends a second. Now: the deadline holds, resends are paced.
TEST(ExactlyOnceTest, DeadlineHoldsWhenEveryRequestIsCorrupted) {
  testing::EmbeddedMn embedded(small_mn(), unique_name("eo-nack"));
  std::unique_ptr<Client> good;
  ASSERT_EQ(Client::open(embedded.locator(), &good), 0);
  // A second client whose every packet arrives with a bit flipped: the MN NACKs them all.
  std::unique_ptr<Client> c;
  const uint64_t t0 = now_ns();
  const int rc = Client::open(embedded.locator() + ",corrupt=1,deadline_ms=300", &c);
  const uint64_t ms = (now_ns() - t0) / 1'000'000;
  EXPECT_EQ(rc, -ETIMEDOUT);
  EXPECT_GE(ms, 290u);
  EXPECT_LT(ms, 300u + 100u + 200u) << "deadline + one maximal RTO + scheduling slack";
  EXPECT_GT(embedded.server().stats().nacks, 0u) << "the MN did answer, with NACKs";
  EXPECT_LT(embedded.server().stats().nacks, 3000u) << "paced, not ~14 K in 300 ms";
}

// Finding 6: creating an address space needs the operator's credential; each refusal is its own
// documented error.
TEST(ExactlyOnceTest, OpenNeedsTheCredential) {
  char path[] = "/tmp/clio-cred-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string secret = "a secret of more than sixteen characters\n";
  ASSERT_EQ(write(fd, secret.data(), secret.size()), static_cast<ssize_t>(secret.size()));
  close(fd);
  char wrong[] = "/tmp/clio-cred-XXXXXX";
  const int fd2 = mkstemp(wrong);
  ASSERT_GE(fd2, 0);
  ASSERT_EQ(write(fd2, "not the same secret at all\n", 27), 27);
  close(fd2);

  mn::ServerConfig sc = testing::EmbeddedMn::serving(unique_name("eo-auth"));
  sc.auth = load_credential(path);
  testing::EmbeddedMn embedded(small_mn(), sc);
  std::unique_ptr<Client> c;
  ClientOptions none;
  unsetenv("CLIO_AUTH_FILE");
  EXPECT_EQ(Client::open(embedded.locator(), none, &c), -ENOKEY);
  EXPECT_EQ(Client::open(embedded.locator() + ",auth_file=" + wrong, &c), -EKEYREJECTED);
  EXPECT_EQ(Client::open(embedded.locator() + ",auth_file=/nonexistent/x", &c), -EINVAL);
  EXPECT_EQ(Client::open(embedded.locator() + ",auth_file=" + path, &c), 0);
  uint64_t addr;
  EXPECT_EQ(c->ralloc(4096, &addr), 0);
  EXPECT_EQ(embedded.server().stats().bad_credential, 2u);
  EXPECT_EQ(embedded.node().stats().ras_live, 1u) << "refused opens left nothing behind";
  chmod(path, 0644);
  std::unique_ptr<Client> c2;
  EXPECT_EQ(Client::open(embedded.locator() + ",auth_file=" + path, &c2), -EINVAL)
      << "a credential file others can read is refused";
  unlink(path);
  unlink(wrong);
  EXPECT_STRNE(error_string(-ENOKEY), "unknown error");
  EXPECT_STRNE(error_string(-EKEYREJECTED), "unknown error");
}

// Finding 9: a client that never created an address space (attach) proves its address with one
// header-sized round trip before its first large read; small reads need nothing.
TEST(ExactlyOnceTest, AttachedClientsProveTheirAddressOnce) {
  testing::EmbeddedMn embedded(small_mn(), unique_name("eo-token"));
  std::unique_ptr<Client> owner;
  ASSERT_EQ(Client::open(embedded.locator(), &owner), 0);
  uint64_t addr;
  ASSERT_EQ(owner->ralloc(8192, &addr), 0);
  std::vector<uint8_t> data(3000, 0x5a), back(3000);
  ASSERT_EQ(owner->rwrite(addr, data.data(), data.size()), 0);
  ASSERT_EQ(owner->rread(addr, back.data(), back.size()), 0) << "the owner has its token";
  EXPECT_EQ(owner->counters().unproven, 0u);
  std::string token;
  ASSERT_EQ(owner->export_token(false, &token), 0);
  std::unique_ptr<Client> reader;
  ASSERT_EQ(Client::attach(token, &reader), 0);
  ASSERT_EQ(reader->rread(addr, back.data(), 100), 0);
  EXPECT_EQ(reader->counters().unproven, 0u) << "a small read needs no token";
  ASSERT_EQ(reader->rread(addr, back.data(), back.size()), 0);
  EXPECT_EQ(back, data);
  EXPECT_GE(reader->counters().unproven, 1u);
  EXPECT_LE(reader->counters().unproven, 2u) << "one per packet of the first large read";
  const uint64_t before = reader->counters().unproven;
  ASSERT_EQ(reader->rread(addr, back.data(), back.size()), 0);
  EXPECT_EQ(reader->counters().unproven, before) << "proven once, for this endpoint";
}

// Finding 10: CLib took replies from any source address. A forged answer to a client's first
// request, sent from another port before the MN's own, is now ignored and counted.
TEST(ExactlyOnceTest, RepliesFromAnyoneButTheMnAreIgnored) {
  // A fake MN in front: it sees the client's first packet, has a third party forge an answer
  // to it, then forwards the request to the real MN and relays the real answer.
  const std::string fake = unique_name("eo-fake");
  net::Endpoint unused;
  auto front = net::listen(fake, 0, 1);
  testing::EmbeddedMn embedded(small_mn(), unique_name("eo-real"));
  mn::MnServer& server = embedded.server();
  net::Endpoint real_ep;
  auto to_real = net::connect(server.locator(), &real_ep);
  net::Endpoint front_ep;
  auto forger = net::connect(front->locator(), &front_ep);

  std::unique_ptr<Client> c;
  int rc = 1;
  uint64_t foreign = 0;
  uint32_t pid = 0;
  std::thread opener([&] {
    rc = Client::open(front->locator() + ",deadline_ms=5000", &c);
    if (rc != 0) return;
    foreign = c->counters().foreign;  // the opening thread's own counters
    pid = c->pid();
    c.reset();  // closes from this thread's endpoint, through the relay
  });
  net::Endpoint client_ep{};
  std::vector<std::byte> request;
  const uint64_t deadline = now_ns() + 5'000'000'000ull;
  net::PacketView v;
  while (request.empty() && now_ns() < deadline) {
    if (front->rx_burst(std::span(&v, 1)) == 1) {
      client_ep = v.from;
      request.assign(v.data.begin(), v.data.end());
      front->release(std::span(&v, 1));
    }
  }
  ASSERT_FALSE(request.empty());
  wire::Header h;
  ASSERT_EQ(wire::validate(request, &h), Status::kOk);
  wire::Header forged = wire::make_header(wire::Opcode::kRasCreate);
  forged.flags = wire::kFlagReply;
  forged.session = h.session;
  forged.seq = h.seq;
  forged.pid = 4242;
  forged.arg0 = forged.arg1 = 0x1111;
  forged.va = 4096;
  wire::seal(forged, {});
  net::TxItem item{client_ep, std::as_bytes(std::span(&forged, 1)), {}};
  ASSERT_EQ(forger->tx_burst(std::span(&item, 1)), 1u);
  // Relay the genuine request and its answer (and any retransmissions) until open returns.
  std::atomic<bool> done{false};
  std::thread relay([&] {
    bool first = true;
    while (!done.load()) {
      if (first) {
        net::TxItem fwd{real_ep, request, {}};
        while (to_real->tx_burst(std::span(&fwd, 1)) == 0) {
        }
        first = false;
      }
      net::PacketView in;
      if (front->rx_burst(std::span(&in, 1)) == 1) {
        net::TxItem fwd{real_ep, in.data, {}};
        while (to_real->tx_burst(std::span(&fwd, 1)) == 0) {
        }
        front->release(std::span(&in, 1));
      }
      net::PacketView out;
      if (to_real->rx_burst(std::span(&out, 1)) == 1) {
        net::TxItem back{client_ep, out.data, {}};
        while (front->tx_burst(std::span(&back, 1)) == 0) {
        }
        to_real->release(std::span(&out, 1));
      }
    }
  });
  opener.join();
  EXPECT_EQ(rc, 0);
  EXPECT_NE(pid, 4242u) << "the forged answer was not taken";
  EXPECT_EQ(pid, 1u);
  EXPECT_EQ(foreign, 1u);
  done = true;
  relay.join();
  (void)unused;
}

}  // namespace
}  // namespace clio

namespace clio {
namespace {

uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Finding 12: each (client, thread) cost about 2.2 MB up front. Now it starts small and grows
// with the depth it uses.
TEST(ExactlyOnceTest, AnIdleClientThreadCostsLittleMemory) {
  // Over udp: an inproc port's receive ring is the fabric's memory (a full ring per port), not
  // CLib's; a udp client endpoint costs a socket and the buffers it actually receives into.
  testing::EmbeddedMn embedded(small_mn(), "udp:host=127.0.0.1,port=0");
  mn::MnServer& server = embedded.server();
  std::unique_ptr<Client> owner;
  ASSERT_EQ(Client::open(server.locator(), &owner), 0);
  uint64_t addr;
  ASSERT_EQ(owner->ralloc(4096, &addr), 0);
  std::string token;
  ASSERT_EQ(owner->export_token(true, &token), 0);
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<Client>> clients(kClients);
  const uint64_t before = rss_bytes();
  for (auto& c : clients) {
    ASSERT_EQ(Client::attach(token, &c), 0);
    uint64_t v;
    ASSERT_EQ(c->rread(addr, &v, 8), 0);
  }
  const uint64_t per = (rss_bytes() - before) / kClients;
  RecordProperty("bytes_per_client_thread", static_cast<int>(per));
  EXPECT_LT(per, 64u * 1024) << per << " bytes per idle (client, thread)";
}

}  // namespace
}  // namespace clio

#include "clio/clio.h"

namespace clio {
namespace {

// Findings 11 and 14: a malformed locator inside a token is -EINVAL (it was -101, ENETUNREACH),
// and clio_export says how much room a token needs.
TEST(ExactlyOnceTest, TokensAndLocatorsGiveDocumentedErrors) {
  std::unique_ptr<Client> c;
  EXPECT_EQ(Client::attach("clio1;1;5;0123456789abcdef;4096;carrier-pigeon:x=1", &c), -EINVAL);
  EXPECT_EQ(Client::attach("clio1;1;5;0123456789abcdef;4096;udp:host=127.0.0.1", &c), -EINVAL);
  EXPECT_EQ(Client::attach("clio1;1;5;0123456789abcdef;4096;udp:host=127.0.0.1,port=x", &c),
            -EINVAL);
  EXPECT_EQ(Client::attach("clio1;1;5;0123456789abcdef;4096;inproc:nome=x", &c), -EINVAL);

  testing::EmbeddedMn embedded(small_mn(), unique_name("eo-token-len"));
  clio_client* cc = nullptr;
  ASSERT_EQ(clio_open(embedded.locator().c_str(), &cc), 0);
  size_t need = 0;
  ASSERT_EQ(clio_export_len(cc, 1, &need), 0);
  std::vector<char> buf(need);
  EXPECT_EQ(clio_export(cc, 1, buf.data(), need - 1), -ENOSPC);
  ASSERT_EQ(clio_export(cc, 1, buf.data(), need), 0);
  EXPECT_EQ(std::strlen(buf.data()) + 1, need);
  EXPECT_LT(need, static_cast<size_t>(CLIO_TOKEN_MAX));
  EXPECT_EQ(clio_close(cc), 0);
}

}  // namespace
}  // namespace clio

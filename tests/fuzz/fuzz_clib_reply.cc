// SPDX-License-Identifier: Apache-2.0
// CLib's reply path: a fake MN on an inproc port answers the client's requests with what the
// input says, and the client (clio::Client::open with a 20 ms deadline, then a few calls) must
// return 0 or a negative errno without crashing, and must never send a malformed request.
//
// Input: a byte of calls to make (kCall* bits), a byte that sets the read length, then a
// script: one step per request packet the fake MN receives, in arrival order. A step is a
// control byte and its operands:
//   action (bits 0-1)  kGood:  the reply a healthy MN would send, then the patch below
//                      kRaw:   2-byte length, that many bytes as the whole reply
//                      kDrop:  no answer (the client times out and resends)
//                      kPlain: the healthy reply, no operands
//   kKeepId  (bit 2)   after patching, copy the request's identity back in (opcode, session,
//                      seq, reply flag), so that the client's matching accepts the packet
//   kReseal  (bit 3)   then recompute the checksum
//   kTwice   (bit 4)   send the reply twice (a duplicate)
//   patch (kGood): offset byte, count byte, that many bytes written over the header at
//                  offset % header size; then a payload byte p: 0 keeps the healthy payload,
//                  else the payload is the next p - 1 bytes
// When the script runs out every request gets its healthy reply, so each input ends quickly.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clio/client.h"
#include "common/log.h"
#include "common/wire.h"
#include "tests/fuzz/formats.h"
#include "tests/fuzz/fuzz_util.h"
#include "verbs_shim/inproc_transport.h"
#include "verbs_shim/registry.h"

namespace {

using namespace clio;
using wire::Header;
using wire::Opcode;

using namespace clio::fuzz::clib_reply;

constexpr const char* kLocator = "inproc:name=fzclib,poll=sleep";
constexpr uint64_t kVa = uint64_t{1} << 32;  // where the fake MN "allocates"

/// The fake MN: a thread answering from the current input's script.
class FakeMn {
 public:
  FakeMn() : t_(net::listen(kLocator)), thread_([this] { run(); }) {}

  /// Starts an input: requests are answered from `script` from now on.
  void begin(const uint8_t* data, size_t size) {
    std::lock_guard lock(mu_);
    script_ = fuzz::Bytes(data, size);
  }
  /// Ends an input (the client is gone): waits until every packet it sent has been dropped.
  void end() {
    std::unique_lock lock(mu_);
    script_ = fuzz::Bytes(nullptr, 0);
    const uint64_t want = ++drain_asked_;
    cv_.wait(lock, [&] { return drain_done_ == want; });
  }

 private:
  void run() {
    net::PacketView v[32];
    for (;;) {
      const size_t n = t_->rx_burst(v);
      {
        std::lock_guard lock(mu_);
        for (size_t i = 0; i < n; ++i) answer(v[i]);
        if (n == 0 && drain_done_ != drain_asked_) {
          drain_done_ = drain_asked_;  // the client's transport is closed: nothing more comes
          cv_.notify_all();
        }
      }
      t_->release(std::span(v, n));
      if (n == 0) t_->wait(200'000);
    }
  }

  /// The reply a healthy MN would send to `req`; *payload receives its payload.
  static Header healthy(const Header& req, std::vector<std::byte>* payload) {
    Header r = wire::reply_header(req, Status::kOk);
    r.age_ms = wire::kHorizonUnbounded;
    payload->clear();
    switch (static_cast<Opcode>(req.opcode)) {
      case Opcode::kRasCreate:
        r.pid = 7;
        r.arg0 = 0x1111'2222'3333'4444ull;
        r.arg1 = 0x5555'6666'7777'8888ull;
        r.va = 4096;
        r.token = 0x70C3'E000'0000'0001ull;
        break;
      case Opcode::kRead:
        payload->assign(req.length, std::byte{0x5A});
        break;
      case Opcode::kRalloc:
        r.va = kVa;
        break;
      case Opcode::kStats:
        r.va = 4096;
        r.arg0 = 1000;
        r.arg1 = 16384;
        break;
      default:
        break;
    }
    return r;
  }

  void answer(const net::PacketView& p) {
    Header req;
    if (drain_done_ != drain_asked_) return;                    // a closed client's leftovers
    FUZZ_REQUIRE(wire::validate(p.data, &req) == Status::kOk);  // CLib sends well-formed packets
    FUZZ_REQUIRE(!(req.flags & wire::kFlagReply));
    std::vector<std::byte> payload;
    Header r = healthy(req, &payload);
    wire::seal(r, payload);
    std::vector<std::byte> pkt;
    const uint8_t ctl = script_.empty() ? kPlain : script_.u8();
    switch (ctl & 3) {
      case kDrop:
        return;
      case kRaw: {
        const auto raw = script_.take(script_.u16() % (net::InProcTransport::kMtu + 1));
        pkt.assign(raw.begin(), raw.end());
        break;
      }
      case kGood: {
        auto* h = reinterpret_cast<std::byte*>(&r);
        const size_t off = script_.u8() % wire::kHeaderBytes;
        const auto patch = script_.take(script_.u8());
        for (size_t i = 0; i < patch.size() && off + i < wire::kHeaderBytes; ++i)
          h[off + i] = patch[i];
        if (const uint8_t pl = script_.u8(); pl != 0) {
          const auto bytes = script_.take(pl - 1u);
          payload.assign(bytes.begin(), bytes.end());
        }
        [[fallthrough]];
      }
      case kPlain:
        pkt.resize(wire::kHeaderBytes);
        std::memcpy(pkt.data(), &r, wire::kHeaderBytes);
        pkt.insert(pkt.end(), payload.begin(), payload.end());
        break;
    }
    if (pkt.size() >= wire::kHeaderBytes && (ctl & (kKeepId | kReseal))) {
      std::memcpy(&r, pkt.data(), wire::kHeaderBytes);
      if (ctl & kKeepId) {
        r.opcode = req.opcode;
        r.session = req.session;
        r.seq = req.seq;
        r.flags |= wire::kFlagReply;
      }
      if (ctl & kReseal) wire::seal(r, wire::payload_of(pkt));
      std::memcpy(pkt.data(), &r, wire::kHeaderBytes);
    }
    const net::TxItem it{p.from, pkt, {}};
    for (int k = (ctl & kTwice) ? 2 : 1; k > 0; --k) (void)t_->tx_burst(std::span(&it, 1));
  }

  std::unique_ptr<net::Transport> t_;
  std::mutex mu_;
  std::condition_variable cv_;
  fuzz::Bytes script_{nullptr, 0};
  uint64_t drain_asked_ = 0, drain_done_ = 0;
  std::thread thread_;  // last: starts once the rest is ready; never joined (lives forever)
};

FakeMn* fake = nullptr;

/// A result the API documents: 0 or a negative errno.
void check_rc(int rc) { FUZZ_REQUIRE(rc <= 0 && rc > -4096); }

void run_calls(Client& c, uint8_t calls, size_t read_len) {
  std::vector<std::byte> buf(read_len);
  const uint64_t addr = kVa + 4000;  // near a page end: longer reads cross it
  if (calls & kCallRead) check_rc(c.rread(addr, buf.data(), buf.size()));
  if (calls & kCallWrite) {
    const uint8_t data[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    check_rc(c.rwrite(kVa + 8, data, sizeof data));
  }
  uint64_t old = 0;
  if (calls & kCallFaa) check_rc(c.rfaa(kVa, 1, &old));
  if (calls & kCallCas) check_rc(c.rcas(kVa + 8, 0, 1, &old));
  if (calls & kCallRalloc) {
    uint64_t a = 0;
    const int rc = c.ralloc(8192, &a);
    check_rc(rc);
    if (rc == 0) check_rc(c.rfree(a));
  }
  if (calls & kCallAsync) {
    Handle h[2];
    std::vector<std::byte> out(64, std::byte{7});
    check_rc(c.rread_async(kVa, buf.data(), std::min<size_t>(buf.size(), 64), &h[0]));
    check_rc(c.rwrite_async(kVa + 64, out.data(), out.size(), &h[1]));
    int results[2] = {CLIO_PENDING, CLIO_PENDING};
    const int done = c.rpoll(h, results);
    FUZZ_REQUIRE(done >= 0 && done <= 2);
    for (Handle& one : h)
      if (one.valid()) check_rc(c.rwait(std::move(one)));
    check_rc(c.rfence());
  }
  check_rc(c.rrelease());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  set_log_level(LogLevel::kOff);
  fake = new FakeMn;  // never destroyed: its thread runs until the process exits
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes in(data, size);
  const uint8_t calls = in.u8();
  const size_t read_len = 1 + size_t{in.u8()} * 33;  // 1 .. 8416 bytes
  const auto script = in.rest();
  fake->begin(reinterpret_cast<const uint8_t*>(script.data()), script.size());
  {
    ClientOptions o;
    o.deadline_ms = 20;
    o.rto_us = 200;
    o.max_rto_us = 4000;
    o.keepalive_ms = 0;
    std::unique_ptr<Client> c;
    const int rc = Client::open(kLocator, o, &c);
    check_rc(rc);
    FUZZ_REQUIRE((rc == 0) == (c != nullptr));
    if (c) {
      run_calls(*c, calls, read_len);
      check_rc(c->close());
    }
  }
  fake->end();
  return 0;
}

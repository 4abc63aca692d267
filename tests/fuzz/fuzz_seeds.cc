// SPDX-License-Identifier: Apache-2.0
// Writes the fuzz targets' seed corpora: a handful of small valid inputs per target, built with
// wire::make_header and wire::seal, so that they follow the wire format when it changes.
//
//   fuzz_seeds OUT_DIR           every target: OUT_DIR/<target>/<seed>
//   fuzz_seeds --text OUT_DIR    only the targets whose inputs do not depend on the wire format
//                                (fuzz_locator, fuzz_token): how tests/fuzz/corpus/ was written
//
// The build runs the first form into the build tree (tests/fuzz/CMakeLists.txt), and
// scripts/fuzz.sh gives the fuzzers both that and tests/fuzz/corpus/.
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/wire.h"
#include "tests/fuzz/formats.h"

namespace {

using namespace clio;
using wire::Header;
using wire::Opcode;
using Bytes = std::vector<std::byte>;

std::filesystem::path out_dir;

void write(const std::string& target, const std::string& name, const Bytes& b) {
  const auto dir = out_dir / target;
  std::filesystem::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!f) {
    std::fprintf(stderr, "fuzz_seeds: cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}
void write(const std::string& target, const std::string& name, std::string_view text) {
  write(target, name,
        Bytes(reinterpret_cast<const std::byte*>(text.data()),
              reinterpret_cast<const std::byte*>(text.data() + text.size())));
}

/// A sealed packet: `h` and `payload`.
Bytes packet(Header h, const Bytes& payload = {}) {
  wire::seal(h, payload);
  Bytes b(wire::kHeaderBytes);
  std::memcpy(b.data(), &h, wire::kHeaderBytes);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

uint64_t next_seq = 1;

/// A request with an identity, an address space and an address.
Header request(Opcode op, uint32_t length = 0) {
  Header h = wire::make_header(op);
  h.session = 0x5EED'0000'0000'0001ull;
  h.seq = next_seq++;
  h.pid = 1;
  h.key = 0x0123'4567'89AB'CDEFull;
  h.va = uint64_t{1} << 32;
  h.length = length;
  return h;
}

Header reply(Header req, Status s) {
  req.flags = wire::kFlagReply;
  req.status = static_cast<uint8_t>(s);
  req.key = 0;
  return req;
}

/// One of each well-formed request the MN serves.
std::vector<std::pair<std::string, Bytes>> requests() {
  std::vector<std::pair<std::string, Bytes>> r;
  r.emplace_back("read", packet(request(Opcode::kRead, 8)));
  r.emplace_back("write", packet(request(Opcode::kWrite, 8), Bytes(8, std::byte{0x42})));
  Header cas = request(Opcode::kCas, 8);
  cas.arg0 = 0;
  cas.arg1 = 7;
  r.emplace_back("cas", packet(cas));
  Header faa = request(Opcode::kFaa, 8);
  faa.arg0 = 1;
  r.emplace_back("faa", packet(faa));
  Header ralloc = request(Opcode::kRalloc);
  ralloc.arg0 = 8192;
  ralloc.va = 0;
  r.emplace_back("ralloc", packet(ralloc));
  Header fixed = request(Opcode::kRalloc);
  fixed.flags = wire::kFlagFixedVa | wire::kFlagReadOnly;
  fixed.arg0 = 4096;
  fixed.va = (uint64_t{1} << 40);
  r.emplace_back("ralloc_fixed", packet(fixed));
  Header protect = request(Opcode::kProtect);
  protect.flags = wire::kFlagReadOnly;
  r.emplace_back("protect", packet(protect));
  r.emplace_back("rfree", packet(request(Opcode::kRfree)));
  r.emplace_back("stats", packet(request(Opcode::kStats)));
  Header create = request(Opcode::kRasCreate);
  create.pid = 0;
  create.key = 0;
  create.va = 0;
  r.emplace_back("ras_create", packet(create));
  r.emplace_back("ras_destroy", packet(request(Opcode::kRasDestroy)));
  r.emplace_back("read_large", packet(request(Opcode::kRead, 4096)));
  return r;
}

void wire_validate() {
  const std::string t = "fuzz_wire_validate";
  for (const auto& [name, pkt] : requests()) write(t, "req_" + name, pkt);
  write(t, "reply_read",
        packet(reply(request(Opcode::kRead, 8), Status::kOk), Bytes(8, std::byte{0x17})));
  write(t, "reply_write", packet(reply(request(Opcode::kWrite, 8), Status::kOk)));
  write(t, "reply_unmapped", packet(reply(request(Opcode::kRead, 8), Status::kUnmapped)));
  Header unproven = reply(request(Opcode::kRead, 4096), Status::kUnproven);
  unproven.token = 0x70C3'E000'0000'0001ull;
  write(t, "reply_unproven", packet(unproven));
  Header nack = reply(request(Opcode::kWrite, 1), Status::kBadChecksum);
  write(t, "reply_nack", packet(nack));
  Bytes truncated = packet(request(Opcode::kRead, 8));
  truncated.resize(wire::kHeaderBytes / 2);
  write(t, "truncated", truncated);
}

/// fuzz_mn_serve: a mode byte, then packets, each after its 2-byte length.
Bytes serve_input(uint8_t mode, const std::vector<Bytes>& pkts) {
  Bytes in{std::byte{mode}};
  for (const Bytes& p : pkts) {
    in.push_back(std::byte(p.size() & 0xFF));
    in.push_back(std::byte(p.size() >> 8));
    in.insert(in.end(), p.begin(), p.end());
  }
  return in;
}

void mn_serve() {
  using namespace fuzz::mn_serve;
  const std::string t = "fuzz_mn_serve";
  std::vector<Bytes> all;
  for (const auto& [name, pkt] : requests()) {
    // Alone, as it is (no address space: refused, or for ras_create a new one).
    write(t, "raw_" + name, serve_input(0, {pkt}));
    // In the harness's address space, resealed: served for real.
    write(t, "live_" + name, serve_input(kSetup | kAuth | kVa | kIdentity | kReseal, {pkt}));
    if (name != "ras_destroy") all.push_back(pkt);
  }
  write(t, "live_all", serve_input(kSetup | kAuth | kVa | kIdentity | kReseal, all));
  write(t, "read_only_all",
        serve_input(kSetup | kAuth | kReadOnly | kVa | kIdentity | kReseal, all));
  // Patched but not resealed: every packet arrives "corrupted" (NACKs).
  write(t, "corrupt_all", serve_input(kSetup | kAuth | kVa, all));
  // The same write twice with one identity: the second is answered from the records.
  const Bytes w = packet(request(Opcode::kWrite, 8), Bytes(8, std::byte{0x42}));
  write(t, "retry_write", serve_input(kSetup | kAuth | kVa | kReseal, {w, w}));
  write(t, "empty", serve_input(kSetup, {}));
}

void clib_reply() {
  using namespace fuzz::clib_reply;
  const std::string t = "fuzz_clib_reply";
  auto input = [](uint8_t calls, uint8_t read_len, const Bytes& script) {
    Bytes in{std::byte{calls}, std::byte{read_len}};
    in.insert(in.end(), script.begin(), script.end());
    return in;
  };
  // A good reply with its status byte set to `s`: identity kept, resealed.
  auto status_step = [](Status s) {
    return Bytes{std::byte{kGood | kKeepId | kReseal}, std::byte{offsetof(Header, status)},
                 std::byte{1}, std::byte{static_cast<uint8_t>(s)}, std::byte{0}};
  };
  auto cat = [](std::initializer_list<Bytes> parts) {
    Bytes b;
    for (const Bytes& p : parts) b.insert(b.end(), p.begin(), p.end());
    return b;
  };
  write(t, "healthy", input(kCallAll, 0, {}));
  write(t, "healthy_long_read", input(kCallRead, 200, {}));
  write(t, "open_fails", input(kCallAll, 0, status_step(Status::kTooManyRas)));
  write(t, "busy_then_ok",
        input(kCallRead, 0, cat({Bytes{std::byte{kPlain}}, status_step(Status::kRetryLater)})));
  write(t, "nack_then_ok",
        input(kCallWrite, 0, cat({Bytes{std::byte{kPlain}}, status_step(Status::kBadChecksum)})));
  write(t, "unmapped",
        input(kCallFaa | kCallCas, 0,
              cat({Bytes{std::byte{kPlain}}, status_step(Status::kUnmapped)})));
  write(t, "drop_then_ok",
        input(kCallRead, 0, Bytes{std::byte{kPlain}, std::byte{kDrop}, std::byte{kDrop}}));
  write(t, "duplicate",
        input(kCallAll, 0, Bytes{std::byte{kPlain | kTwice}, std::byte{kPlain | kTwice}}));
  Bytes raw{std::byte{kPlain}, std::byte{kRaw | kKeepId | kReseal},
            std::byte{wire::kHeaderBytes + 8}, std::byte{0}};
  raw.resize(raw.size() + wire::kHeaderBytes + 8, std::byte{0x33});
  write(t, "raw_reply", input(kCallRead, 0, raw));
  // A page size of 1 in the kRasCreate answer (a header patch of its va).
  uint64_t one = 1;
  Bytes page{std::byte{kGood | kKeepId | kReseal}, std::byte{offsetof(Header, va)}, std::byte{8}};
  for (size_t i = 0; i < 8; ++i) page.push_back(std::byte((one >> (8 * i)) & 0xFF));
  page.push_back(std::byte{0});
  write(t, "tiny_pages", input(kCallRead, 0, page));
}

void locator() {
  const std::string t = "fuzz_locator";
  write(t, "inproc", "inproc:name=mn0");
  write(t, "inproc_faults", "inproc:name=mn0,drop=0.01,dup=0.5,seed=7,delay_max_us=100");
  write(t, "udp", "udp:host=127.0.0.1,port=7400,poll=epoll");
  write(t, "raweth", "raweth:if=eth0,mac=02:00:00:00:00:01,ring=v3");
  write(t, "verbs", "verbs:dev=rxe0,gid=1,host=10.0.0.1,port=7400");
  write(t, "bare", "udp");
  write(t, "clib_keys", "inproc:name=mn0,deadline_ms=20,rto_us=100,cc=off");
}

void token() {
  const std::string t = "fuzz_token";
  write(t, "one_mn", "clio1;1;1;0123456789abcdef;4096;inproc:name=fztok");
  write(t, "read_only", "clio1;0;3;00000000000000ff;4194304;inproc:name=fztok,poll=sleep");
  write(t, "two_mns",
        "clio1;1;1;0123456789abcdef;4096;inproc:name=fztok;2;fedcba9876543210;8192;"
        "inproc:name=fztok");
  write(t, "no_server", "clio1;1;1;0123456789abcdef;4096;inproc:name=nobody");
}

}  // namespace

int main(int argc, char** argv) {
  const bool text_only = argc == 3 && std::string_view(argv[1]) == "--text";
  if (argc != 2 && !text_only) {
    std::fprintf(stderr, "usage: fuzz_seeds [--text] OUT_DIR\n");
    return 2;
  }
  out_dir = argv[argc - 1];
  locator();
  token();
  if (!text_only) {
    wire_validate();
    mn_serve();
    clib_reply();
  }
  return 0;
}

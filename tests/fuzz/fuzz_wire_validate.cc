// SPDX-License-Identifier: Apache-2.0
// wire::validate on arbitrary bytes, as they arrive, and again with the checksum resealed (so
// the checks behind the checksum are reached). On kOk the decoded header must be the packet's
// own bytes and its length fields must agree with the bytes present.
#include <cstring>
#include <vector>

#include "common/wire.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using clio::Status;
using namespace clio::wire;

/// Statuses validate() returns only after it has computed the payload's CRC.
bool crc_computed(Status s) {
  return s != Status::kTruncated && s != Status::kBadMagic && s != Status::kBadVersion;
}

void check_one(std::span<const std::byte> pkt) {
  Header h;
  uint32_t crc = 0;
  const Status s = validate(pkt, &h, &crc);
  FUZZ_REQUIRE(s == Status::kOk || clio::is_packet_error(s));
  FUZZ_REQUIRE(validate(pkt) == s);  // the same verdict without the out-parameters
  if (crc_computed(s)) FUZZ_REQUIRE(crc == payload_crc(payload_of(pkt)));
  if (s != Status::kOk) return;
  FUZZ_REQUIRE(pkt.size() >= kHeaderBytes);
  const std::span<const std::byte> payload = payload_of(pkt);
  FUZZ_REQUIRE(std::memcmp(&h, pkt.data(), kHeaderBytes) == 0);
  FUZZ_REQUIRE(h.magic == kMagic && h.version == kVersion && known_opcode(h.opcode));
  FUZZ_REQUIRE(checksum(h, payload) == h.checksum);
  const auto op = static_cast<Opcode>(h.opcode);
  const bool reply = (h.flags & kFlagReply) != 0;
  FUZZ_REQUIRE(payload.size() <= kMaxAccessBytes);
  if (op == Opcode::kRead || op == Opcode::kWrite) {
    FUZZ_REQUIRE(h.length >= 1 && h.length <= kMaxAccessBytes);
    const bool carries = op == Opcode::kWrite ? !reply : reply && h.status == 0;
    FUZZ_REQUIRE(payload.size() == (carries ? h.length : 0));
  } else {
    FUZZ_REQUIRE(payload.empty());
    FUZZ_REQUIRE(h.length == (op == Opcode::kCas || op == Opcode::kFaa ? 8u : 0u));
  }
  if (!reply) FUZZ_REQUIRE(h.session != 0 && h.seq != 0 && h.status == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-sized copy, so that AddressSanitizer sees any read past the packet.
  std::vector<std::byte> pkt(size);
  if (size != 0) std::memcpy(pkt.data(), data, size);
  check_one(pkt);
  // Whatever the header says, once resealed its checksum must hold.
  if (size >= kHeaderBytes) {
    Header h;
    std::memcpy(&h, pkt.data(), kHeaderBytes);
    seal(h, payload_of(pkt));
    std::memcpy(pkt.data(), &h, kHeaderBytes);
    FUZZ_REQUIRE(validate(pkt) != Status::kBadChecksum);
    check_one(pkt);
  }
  return 0;
}

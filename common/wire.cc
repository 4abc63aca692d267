// SPDX-License-Identifier: Apache-2.0
#include "common/wire.h"

#include <cstring>

#include "common/crc32c.h"

namespace clio::wire {

const char* opcode_name(Opcode op) {
  switch (op) {
    case Opcode::kRead:
      return "read";
    case Opcode::kWrite:
      return "write";
    case Opcode::kCas:
      return "cas";
    case Opcode::kFaa:
      return "faa";
    case Opcode::kRalloc:
      return "ralloc";
    case Opcode::kRfree:
      return "rfree";
    case Opcode::kProtect:
      return "protect";
    case Opcode::kRasCreate:
      return "ras_create";
    case Opcode::kRasDestroy:
      return "ras_destroy";
    case Opcode::kStats:
      return "stats";
  }
  return "unknown";
}

uint32_t payload_crc(std::span<const std::byte> payload) {
  return crc32c_3way(0, payload.data(), payload.size());
}

uint32_t checksum(const Header& h, uint32_t payload_crc) {
  return crc32c_3way(payload_crc, &h, kChecksummedHeaderBytes);
}

Header make_nack(const Header& damaged) {
  const auto op = static_cast<Opcode>(damaged.opcode);
  Header r = reply_header(damaged, Status::kBadChecksum);
  r.pid = 0;
  r.va = 0;
  r.length = op == Opcode::kCas || op == Opcode::kFaa ? 8 : is_data_opcode(op) ? 1 : 0;
  seal(r, {});
  return r;
}

bool known_opcode(uint8_t op) {
  switch (static_cast<Opcode>(op)) {
    case Opcode::kRead:
    case Opcode::kWrite:
    case Opcode::kCas:
    case Opcode::kFaa:
    case Opcode::kRalloc:
    case Opcode::kRfree:
    case Opcode::kProtect:
    case Opcode::kRasCreate:
    case Opcode::kRasDestroy:
    case Opcode::kStats:
      return true;
  }
  return false;
}

namespace {

/// Flag bits a request of this opcode may carry.
uint8_t request_flags(Opcode op) {
  switch (op) {
    case Opcode::kRalloc:
      return kFlagReadOnly | kFlagFixedVa;
    case Opcode::kProtect:
      return kFlagReadOnly;
    default:
      return 0;
  }
}

Status check_lengths(const Header& h, size_t payload_bytes) {
  const auto op = static_cast<Opcode>(h.opcode);
  const bool reply = h.flags & kFlagReply;
  switch (op) {
    case Opcode::kRead:
      if (h.length == 0 || h.length > kMaxAccessBytes) return Status::kBadLength;
      if (!reply) return payload_bytes == 0 ? Status::kOk : Status::kBadLength;
      if (h.status == static_cast<uint8_t>(Status::kOk))
        return payload_bytes == h.length ? Status::kOk : Status::kBadLength;
      return payload_bytes == 0 ? Status::kOk : Status::kBadLength;
    case Opcode::kWrite:
      if (h.length == 0 || h.length > kMaxAccessBytes) return Status::kBadLength;
      if (reply) return payload_bytes == 0 ? Status::kOk : Status::kBadLength;
      return payload_bytes == h.length ? Status::kOk : Status::kBadLength;
    case Opcode::kCas:
    case Opcode::kFaa:
      return h.length == 8 && payload_bytes == 0 ? Status::kOk : Status::kBadLength;
    default:
      return h.length == 0 && payload_bytes == 0 ? Status::kOk : Status::kBadLength;
  }
}

}  // namespace

Status validate(std::span<const std::byte> pkt, Header* out, uint32_t* crc) {
  if (pkt.size() < kHeaderBytes) return Status::kTruncated;
  Header h;
  std::memcpy(&h, pkt.data(), kHeaderBytes);
  if (h.magic != kMagic) return Status::kBadMagic;
  if (h.version != kVersion) return Status::kBadVersion;
  const uint32_t pcrc = payload_crc(payload_of(pkt));
  if (crc != nullptr) *crc = pcrc;
  if (checksum(h, pcrc) != h.checksum) return Status::kBadChecksum;
  if (!known_opcode(h.opcode)) return Status::kBadOpcode;
  const bool reply = h.flags & kFlagReply;
  if (reply) {
    if (h.flags != kFlagReply) return Status::kBadFlags;
  } else {
    if (h.flags & ~request_flags(static_cast<Opcode>(h.opcode))) return Status::kBadFlags;
    if (h.status != 0) return Status::kBadReserved;
    if (h.session == 0 || h.seq == 0) return Status::kBadRequestId;
  }
  if (Status s = check_lengths(h, pkt.size() - kHeaderBytes); s != Status::kOk) return s;
  if (out != nullptr) *out = h;
  return Status::kOk;
}

}  // namespace clio::wire

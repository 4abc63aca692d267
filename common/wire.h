// SPDX-License-Identifier: Apache-2.0
// The Clio wire format: one fixed 80-byte header in front of every request and reply.
//
// A packet is `Header` followed by `payload` bytes (write data in requests, read data in replies).
// Each packet is self-describing (PID, key, VA, length, request identity), so the memory node
// serves every packet on its own, in any order, with no per-client state. All fields are
// little-endian; this build only targets little-endian hosts (checked below), so structs are
// copied as they are.
//
// Request identity: (session, seq). A session is a random 64-bit incarnation that CLib draws for
// each thread context (and draws again before its sequence numbers could repeat); seq numbers the
// session's requests. Every attempt of a request (the first and each retransmission) carries the
// same (session, seq) and a growing `attempt`; docs/protocol.md says why an identity is never
// reused while any MN may remember it.
//
// Per-opcode use of the fields (requests; a reply echoes opcode, pid, session, seq, attempt and va
// and sets kFlagReply and status):
//   kRead        va, length = bytes to read (1..kMaxAccessBytes, not across a page); no payload.
//                Reply payload: `length` bytes when status is kOk, else none. A read whose reply
//                would be more than kAmplification times the request needs a valid `token`.
//   kWrite       va, length = payload bytes (1..kMaxAccessBytes, not across a page).
//   kCas         va (8-byte aligned), length = 8, arg0 = expected, arg1 = desired.
//                Reply arg0 = the old value (the swap happened iff old == expected).
//   kFaa         va (8-byte aligned), length = 8, arg0 = addend. Reply arg0 = the old value.
//   kRalloc      arg0 = size in bytes; flags kFlagReadOnly, kFlagFixedVa (then va = the address).
//                Reply va = the start of the allocation.
//   kRfree       va = the start of an allocation.
//   kProtect     va = the start of an allocation; kFlagReadOnly set or clear.
//   kRasCreate   pid = 0, key = the credential proof (0 when the MN needs none; see
//                credential_proof()). Reply pid, arg0 = read-write key, arg1 = read-only key,
//                va = the MN's page size in bytes, token = the sender's address token.
//   kRasDestroy  pid, key = the read-write key.
//   kStats       pid, key = either key of a live address space (renews its lease). Reply
//                va = page size, arg0 = free pages (free and queued for faults), arg1 = all
//                pages: the figures CLib's least-used placement uses.
// A kUnproven reply carries the token the sender must resend with.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/siphash.h"
#include "common/status.h"

namespace clio::wire {

static_assert(std::endian::native == std::endian::little,
              "the wire format is little-endian and this build copies structs as they are");

inline constexpr uint16_t kMagic = 0xC110;
inline constexpr uint8_t kVersion = 2;
/// Largest read or write one packet may carry; transports' MTUs are usually smaller.
inline constexpr uint32_t kMaxAccessBytes = 1u << 16;
/// A source that has not proven its address gets replies of at most this many times the bytes
/// it sent (QUIC's anti-amplification factor).
inline constexpr uint32_t kAmplification = 3;

enum class Opcode : uint8_t {
  kRead = 1,
  kWrite = 2,
  kCas = 3,
  kFaa = 4,
  kRalloc = 16,
  kRfree = 17,
  kProtect = 18,
  kRasCreate = 19,
  kRasDestroy = 20,
  kStats = 21,
};

/// Name such as "read", "ralloc"; "unknown" for values outside the enum. Never null.
const char* opcode_name(Opcode op);
/// True for the opcodes above.
bool known_opcode(uint8_t op);

/// True for opcodes the fast path serves (data and atomics); the rest go to the slow path.
constexpr bool is_data_opcode(Opcode op) { return static_cast<uint8_t>(op) < 16; }
/// True for requests that change state and are therefore recorded for exactly-once execution.
constexpr bool is_mutation(Opcode op) { return op != Opcode::kRead && op != Opcode::kStats; }

// Flag bits (Header::flags).
inline constexpr uint8_t kFlagReply = 1u << 0;     ///< this packet is a reply
inline constexpr uint8_t kFlagReadOnly = 1u << 1;  ///< kRalloc / kProtect: read-only allocation
inline constexpr uint8_t kFlagFixedVa = 1u << 2;   ///< kRalloc: place the allocation at `va`

/// Header::age_ms in a reply when the MN has never forgotten a record of that address space.
inline constexpr uint32_t kHorizonUnbounded = UINT32_MAX;

struct Header {
  uint16_t magic;     ///< [0,2)   kMagic
  uint8_t version;    ///< [2,3)   kVersion
  uint8_t opcode;     ///< [3,4)   Opcode
  uint8_t flags;      ///< [4,5)   kFlag* bits
  uint8_t status;     ///< [5,6)   Status; 0 in requests
  uint16_t attempt;   ///< [6,8)   0 on a request's first transmission, n on its n-th resend
                      ///<         (saturating); echoed in the reply
  uint32_t pid;       ///< [8,12)  remote address space, assigned by the MN (0: none)
  uint32_t length;    ///< [12,16) bytes accessed (see the opcode table above)
  uint64_t session;   ///< [16,24) the sender's incarnation, random, never 0; echoed
  uint64_t seq;       ///< [24,32) the request's number in its session, never 0; echoed
  uint64_t va;        ///< [32,40) virtual address in the address space
  uint64_t key;       ///< [40,48) the address space's secret key (read-write or read-only)
  uint64_t arg0;      ///< [48,56) opcode argument / result (see above)
  uint64_t arg1;      ///< [56,64) opcode argument (see above)
  uint64_t token;     ///< [64,72) address token: requests carry the last one the MN handed
                      ///<         out (0: none); kRasCreate and kUnproven replies carry one
  uint32_t age_ms;    ///< [72,76) requests: ms since the request's first transmission (the
                      ///<         client's clock; 0 on the first). Replies: the MN's record
                      ///<         horizon for the address space (kHorizonUnbounded: complete)
  uint32_t checksum;  ///< [76,80) checksum() of bytes [0,76) and the payload
};

inline constexpr size_t kHeaderBytes = 80;
inline constexpr size_t kChecksummedHeaderBytes = 76;
static_assert(sizeof(Header) == kHeaderBytes);
static_assert(alignof(Header) == 8);
static_assert(offsetof(Header, magic) == 0 && offsetof(Header, version) == 2 &&
              offsetof(Header, opcode) == 3 && offsetof(Header, flags) == 4 &&
              offsetof(Header, status) == 5 && offsetof(Header, attempt) == 6 &&
              offsetof(Header, pid) == 8 && offsetof(Header, length) == 12 &&
              offsetof(Header, session) == 16 && offsetof(Header, seq) == 24 &&
              offsetof(Header, va) == 32 && offsetof(Header, key) == 40 &&
              offsetof(Header, arg0) == 48 && offsetof(Header, arg1) == 56 &&
              offsetof(Header, token) == 64 && offsetof(Header, age_ms) == 72 &&
              offsetof(Header, checksum) == 76);
static_assert(offsetof(Header, checksum) == kChecksummedHeaderBytes);
static_assert(std::is_trivially_copyable_v<Header> && std::is_standard_layout_v<Header>);
/// Largest read a source that has not proven its address may ask for (reply <= 3 x request).
inline constexpr uint32_t kUnprovenReadBytes = (kAmplification - 1) * kHeaderBytes;

/// CRC32C (three interleaved lanes, common/crc32c.h) of a payload: also the payload's digest in
/// the MN's records.
uint32_t payload_crc(std::span<const std::byte> payload);
/// The checksum a packet must carry: crc32c_3way over header bytes [0,76), seeded with the
/// payload's CRC (so validate() gets the payload digest for free).
/// Pure function of its inputs; the MN and CLib compute the same value.
uint32_t checksum(const Header& h, uint32_t payload_crc);
inline uint32_t checksum(const Header& h, std::span<const std::byte> payload) {
  return checksum(h, payload_crc(payload));
}

/// A request header for `op` with magic and version set and every other field zero.
constexpr Header make_header(Opcode op) {
  Header h{};
  h.magic = kMagic;
  h.version = kVersion;
  h.opcode = static_cast<uint8_t>(op);
  return h;
}

/// The skeleton of the reply to `req` with status `s`: its opcode and identity (session, seq,
/// attempt) echoed with its pid, va and length; never its key. The MN and fakes of it share it.
constexpr Header reply_header(const Header& req, Status s) {
  Header r = make_header(static_cast<Opcode>(req.opcode));
  r.flags = kFlagReply;
  r.status = static_cast<uint8_t>(s);
  r.pid = req.pid;
  r.length = req.length;
  r.session = req.session;
  r.seq = req.seq;
  r.attempt = req.attempt;
  r.va = req.va;
  return r;
}

/// The NACK for a request that arrived damaged (status kBadChecksum: "send it again"), sealed:
/// header-sized, so never larger than what arrived, with no pid or address echoed, and the
/// length an answer to that opcode carries (8 for atomics, 1 for reads and writes, 0 for
/// control), so that the client matches it to its request. Only for a header that still reads
/// as a request (known opcode, not a reply, session and seq not 0): see may_nack().
Header make_nack(const Header& damaged);
/// Whether a damaged packet's header still reads as a request worth a NACK.
inline bool may_nack(const Header& h) {
  return !(h.flags & kFlagReply) && h.session != 0 && h.seq != 0 && known_opcode(h.opcode);
}

/// Sets h.checksum for this header and payload.
inline void seal(Header& h, std::span<const std::byte> payload) {
  h.checksum = checksum(h, payload);
}

/// Checks any byte string as a packet; never reads outside `pkt`. Returns kOk when it is a
/// well-formed request or reply (magic, version, checksum, opcode, reserved fields, flags, and
/// length consistent with both the opcode and the bytes present, session and seq not 0 in
/// requests), else the first problem found.
/// On kOk and when `out` is not null, *out holds the decoded header.
/// When `crc` is not null, *crc receives payload_crc() of the payload (whatever the result, once
/// the header was read).
[[nodiscard]] Status validate(std::span<const std::byte> pkt, Header* out = nullptr,
                              uint32_t* crc = nullptr);

/// kRasCreate's `key`: proof that the sender knows the operator's credential, bound to this one
/// request's identity (so a captured proof is worth nothing for another request). Never 0.
inline uint64_t credential_proof(const SipKey& credential, uint64_t session, uint64_t seq) {
  const uint64_t in[2] = {session, seq};
  const uint64_t p = siphash24(credential, std::as_bytes(std::span(in)));
  return p | (p == 0);
}

/// The payload of a packet that validate() accepted.
inline std::span<const std::byte> payload_of(std::span<const std::byte> pkt) {
  return pkt.subspan(kHeaderBytes);
}

}  // namespace clio::wire

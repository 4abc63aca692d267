// The Clio wire format: one fixed 72-byte header in front of every request and reply.
//
// A packet is `Header` followed by `payload` bytes (write data in requests, read data in replies).
// Each packet is self-describing (PID, key, VA, length, request id), so the memory node serves
// every packet on its own, in any order, with no per-client state. All fields are little-endian;
// this build only targets little-endian hosts (checked below), so structs are copied as they are.
//
// Per-opcode use of the fields (requests; a reply echoes opcode, pid, req_id and va and sets
// kFlagReply and status):
//   kRead        va, length = bytes to read (1..kMaxAccessBytes, not across a page); no payload.
//                Reply payload: `length` bytes when status is kOk, else none.
//   kWrite       va, length = payload bytes (1..kMaxAccessBytes, not across a page).
//   kCas         va (8-byte aligned), length = 8, arg0 = expected, arg1 = desired.
//                Reply arg0 = the old value (the swap happened iff old == expected).
//   kFaa         va (8-byte aligned), length = 8, arg0 = addend. Reply arg0 = the old value.
//   kRalloc      arg0 = size in bytes; flags kFlagReadOnly, kFlagFixedVa (then va = the address).
//                Reply va = the start of the allocation.
//   kRfree       va = the start of an allocation.
//   kProtect     va = the start of an allocation; kFlagReadOnly set or clear.
//   kRasCreate   pid = 0, key = 0. Reply pid, arg0 = read-write key, arg1 = read-only key,
//                va = the MN's page size in bytes.
//   kRasDestroy  pid, key = the read-write key.
//   kStats       no fields. Reply va = page size, arg0 = free pages (free and queued for
//                faults), arg1 = all pages: the figures CLib's least-used placement uses.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.h"

namespace clio::wire {

static_assert(std::endian::native == std::endian::little,
              "the wire format is little-endian and this build copies structs as they are");

inline constexpr uint16_t kMagic = 0xC110;
inline constexpr uint8_t kVersion = 1;
/// Largest read or write one packet may carry; transports' MTUs are usually smaller.
inline constexpr uint32_t kMaxAccessBytes = 1u << 16;

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

/// True for opcodes the fast path serves (data and atomics); the rest go to the slow path.
constexpr bool is_data_opcode(Opcode op) { return static_cast<uint8_t>(op) < 16; }

// Flag bits (Header::flags).
inline constexpr uint8_t kFlagReply = 1u << 0;     ///< this packet is a reply
inline constexpr uint8_t kFlagReadOnly = 1u << 1;  ///< kRalloc / kProtect: read-only allocation
inline constexpr uint8_t kFlagFixedVa = 1u << 2;   ///< kRalloc: place the allocation at `va`

struct Header {
  uint16_t magic;      ///< [0,2)   kMagic
  uint8_t version;     ///< [2,3)   kVersion
  uint8_t opcode;      ///< [3,4)   Opcode
  uint8_t flags;       ///< [4,5)   kFlag* bits
  uint8_t status;      ///< [5,6)   Status; 0 in requests
  uint16_t reserved0;  ///< [6,8)   must be 0
  uint32_t pid;        ///< [8,12)  remote address space, assigned by the MN (0: none)
  uint32_t length;     ///< [12,16) bytes accessed (see the opcode table above)
  uint64_t req_id;     ///< [16,24) request id, unique per client, never 0; echoed in the reply
  uint64_t retry_of;   ///< [24,32) a retransmission: the id of the first attempt (its
                       ///<         "family"); 0 on a first attempt. Echoed in the reply.
  uint64_t va;         ///< [32,40) virtual address in the address space
  uint64_t key;        ///< [40,48) the address space's secret key (read-write or read-only)
  uint64_t arg0;       ///< [48,56) opcode argument / result (see above)
  uint64_t arg1;       ///< [56,64) opcode argument (see above)
  uint32_t age_ms;     ///< [64,68) a retransmission: ms since its family's first attempt (the
                       ///<         client's clock); 0 on a first attempt and in replies
  uint32_t checksum;   ///< [68,72) checksum() of bytes [0,68) and the payload
};

inline constexpr size_t kHeaderBytes = 72;
inline constexpr size_t kChecksummedHeaderBytes = 68;
static_assert(sizeof(Header) == kHeaderBytes);
static_assert(alignof(Header) == 8);
static_assert(offsetof(Header, magic) == 0 && offsetof(Header, version) == 2 &&
              offsetof(Header, opcode) == 3 && offsetof(Header, flags) == 4 &&
              offsetof(Header, status) == 5 && offsetof(Header, reserved0) == 6 &&
              offsetof(Header, pid) == 8 && offsetof(Header, length) == 12 &&
              offsetof(Header, req_id) == 16 && offsetof(Header, retry_of) == 24 &&
              offsetof(Header, va) == 32 && offsetof(Header, key) == 40 &&
              offsetof(Header, arg0) == 48 && offsetof(Header, arg1) == 56 &&
              offsetof(Header, age_ms) == 64 && offsetof(Header, checksum) == 68);
static_assert(offsetof(Header, checksum) == kChecksummedHeaderBytes);
static_assert(std::is_trivially_copyable_v<Header> && std::is_standard_layout_v<Header>);

/// The checksum a packet must carry: crc32c_3way over header bytes [0,68), seeding the same over
/// the payload (see common/crc32c.h: CRC32C in three interleaved lanes, three times faster on
/// headers and small payloads than one CRC32C chain).
/// Pure function of its inputs; the MN and CLib compute the same value.
uint32_t checksum(const Header& h, std::span<const std::byte> payload);

/// A request header for `op` with magic and version set and every other field zero.
constexpr Header make_header(Opcode op) {
  Header h{};
  h.magic = kMagic;
  h.version = kVersion;
  h.opcode = static_cast<uint8_t>(op);
  return h;
}

/// Sets h.checksum for this header and payload.
inline void seal(Header& h, std::span<const std::byte> payload) { h.checksum = checksum(h, payload); }

/// Checks any byte string as a packet; never reads outside `pkt`. Returns kOk when it is a
/// well-formed request or reply (magic, version, checksum, opcode, reserved fields, flags, and
/// length consistent with both the opcode and the bytes present), else the first problem found.
/// On kOk and when `out` is not null, *out holds the decoded header.
[[nodiscard]] Status validate(std::span<const std::byte> pkt, Header* out = nullptr);

/// The payload of a packet that validate() accepted.
inline std::span<const std::byte> payload_of(std::span<const std::byte> pkt) {
  return pkt.subspan(kHeaderBytes);
}

}  // namespace clio::wire

// SPDX-License-Identifier: Apache-2.0
// Status codes shared by the memory node (MN) and CLib: the result of every remote operation.
//
// The numeric values are part of the wire format (the reply header's `status` byte): never
// renumber or reuse one; add new codes at the end of their group.
#pragma once

#include <cstdint>
#include <span>

namespace clio {

/// Outcome of a remote operation or of validating a packet.
enum class Status : uint8_t {
  // --- Operation results (set by the MN in replies) -------------------------------------------
  kOk = 0,                  ///< done
  kRetryLater = 1,          ///< transient: nothing ready (free-page buffer empty, queue full)
  kUnmapped = 2,            ///< the VA is in no allocation of this address space (or was freed)
  kPermission = 3,          ///< the access is against the allocation's or the key's rights
  kNoSuchRas = 4,           ///< no live address space with that PID, or the key does not match
  kNoMemory = 5,            ///< out of virtual range, page-table slots or physical pages
  kFixedVaUnavailable = 6,  ///< fixed-VA ralloc: a page of the range has a full bucket
  kVaInUse = 7,             ///< fixed-VA ralloc overlaps an existing allocation
  kBadArgument = 8,         ///< well formed but invalid: zero or page-crossing length,
                            ///< misaligned atomic, VA not the start of an allocation, ...
  kTooManyRas = 9,          ///< the MN's table of address spaces is full
  kShuttingDown = 10,       ///< the MN is stopping
  kStale = 11,              ///< a retransmission older than the MN's memory of executed
                            ///< requests: it cannot tell whether the first attempt ran, so it
                            ///< does not run it again; the outcome is unknown
  kIdMismatch = 12,         ///< the request reuses the identity (session, seq) of a different
                            ///< recorded request (opcode, va, length, key or payload differ)
  kAuthRequired = 13,       ///< kRasCreate without a credential, and the MN requires one
  kBadCredential = 14,      ///< kRasCreate with a credential that does not match the MN's
  kQuotaMemory = 15,        ///< ralloc past the address space's memory quota
  kQuotaSlots = 16,         ///< ralloc past the address space's page-table slot quota
  kUnproven = 17,           ///< the reply would be over 3x the request and the source address
                            ///< has not proven itself: the reply carries the token to resend with

  // --- Packet validation (wire::validate); such packets are dropped, never served ------------
  kTruncated = 32,     ///< shorter than a header
  kBadMagic = 33,      ///< not a Clio packet
  kBadVersion = 34,    ///< a protocol version this build does not speak
  kBadOpcode = 35,     ///< unknown opcode
  kBadLength = 36,     ///< length field disagrees with the packet or the opcode's limits
  kBadFlags = 37,      ///< flag bits undefined for the opcode
  kBadChecksum = 38,   ///< corrupted in flight
  kBadReserved = 39,   ///< a reserved field is not zero
  kBadRequestId = 40,  ///< a request with session or seq 0
};

/// One row of the status table (status.cc), the single source of what each status means.
struct StatusInfo {
  Status status;
  const char* name;     ///< short and stable, e.g. "kUnmapped"
  int err;              ///< the errno CLib's API returns for it, positive (0 for kOk)
  const char* message;  ///< one sentence a person understands
};

/// Every status, in the enum's order.
std::span<const StatusInfo> all_statuses();

/// The row of `s`; a value that is no status gets a row named "kUnknownStatus" with EPROTO.
const StatusInfo& status_info(Status s);

/// Short stable name, e.g. "kUnmapped". Never null.
inline const char* status_name(Status s) { return status_info(s).name; }

/// One sentence a person understands, e.g. "remote address is not in any allocation ...".
/// Never null.
inline const char* status_message(Status s) { return status_info(s).message; }

/// True for the statuses that only packet validation returns.
constexpr bool is_packet_error(Status s) { return static_cast<uint8_t>(s) >= 32; }

}  // namespace clio

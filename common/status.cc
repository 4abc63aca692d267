// SPDX-License-Identifier: Apache-2.0
#include "common/status.h"

#include <array>
#include <cerrno>

namespace clio {

namespace {

// The one table of statuses: each one's name, the errno CLib returns for it, and its sentence.
// CLib's error_string (cn/errors.cc) shows these sentences for the errnos that one status
// explains, so each is written here once.
constexpr StatusInfo kStatuses[] = {
    {Status::kOk, "kOk", 0, "success"},
    {Status::kRetryLater, "kRetryLater", EAGAIN, "memory node busy, try again"},
    {Status::kUnmapped, "kUnmapped", EFAULT,
     "remote address is not in any allocation (never allocated, or freed)"},
    {Status::kPermission, "kPermission", EACCES, "permission denied for this access"},
    {Status::kNoSuchRas, "kNoSuchRas", EACCES, "no such remote address space, or wrong key"},
    {Status::kNoMemory, "kNoMemory", ENOMEM, "the memory node is out of remote memory"},
    {Status::kFixedVaUnavailable, "kFixedVaUnavailable", EADDRINUSE,
     "fixed address refused: its page-table buckets are full"},
    {Status::kVaInUse, "kVaInUse", EEXIST, "fixed address overlaps an existing allocation"},
    {Status::kBadArgument, "kBadArgument", EINVAL, "invalid argument"},
    {Status::kTooManyRas, "kTooManyRas", EMFILE,
     "the memory node has no room for another address space"},
    {Status::kShuttingDown, "kShuttingDown", ESHUTDOWN, "the memory node is shutting down"},
    {Status::kStale, "kStale", EIO,
     "outcome unknown: the memory node could not prove the write or atomic had not run (its "
     "records of executed requests do not reach back far enough), so it refused it"},
    {Status::kIdMismatch, "kIdMismatch", EPROTO,
     "request identity reused by a different request (client bug or forgery)"},
    {Status::kAuthRequired, "kAuthRequired", ENOKEY,
     "the memory node requires a credential: set CLIO_AUTH_FILE or the locator key auth_file= "
     "to its --auth-file"},
    {Status::kBadCredential, "kBadCredential", EKEYREJECTED,
     "the memory node rejected the credential (not the secret of its --auth-file)"},
    {Status::kQuotaMemory, "kQuotaMemory", EDQUOT,
     "the address space's memory quota on the memory node is used up"},
    {Status::kQuotaSlots, "kQuotaSlots", ENOBUFS,
     "the address space's page-table slot quota on the memory node is used up"},
    {Status::kUnproven, "kUnproven", EPROTO,
     "large reply to an address that has not proven itself: resend with the token"},
    // A packet-level status in an answer means the MN misunderstood us: EPROTO.
    {Status::kTruncated, "kTruncated", EPROTO, "packet shorter than its header"},
    {Status::kBadMagic, "kBadMagic", EPROTO, "not a Clio packet (bad magic)"},
    {Status::kBadVersion, "kBadVersion", EPROTO, "unsupported protocol version"},
    {Status::kBadOpcode, "kBadOpcode", EPROTO, "unknown opcode"},
    {Status::kBadLength, "kBadLength", EPROTO, "length field disagrees with the packet"},
    {Status::kBadFlags, "kBadFlags", EPROTO, "undefined flag bits"},
    {Status::kBadChecksum, "kBadChecksum", EPROTO, "checksum mismatch (corrupted packet)"},
    {Status::kBadReserved, "kBadReserved", EPROTO, "reserved header field is not zero"},
    {Status::kBadRequestId, "kBadRequestId", EPROTO, "request session or sequence number is zero"},
};

/// Status byte -> its row in kStatuses (kNone: not a status).
constexpr uint8_t kNone = 0xFF;
constexpr auto kRowOf = [] {
  std::array<uint8_t, 256> rows{};
  rows.fill(kNone);
  for (size_t i = 0; i < std::size(kStatuses); ++i)
    rows[static_cast<uint8_t>(kStatuses[i].status)] = static_cast<uint8_t>(i);
  return rows;
}();
static_assert(std::size(kStatuses) < kNone);

/// What a byte that is no status reads as: CLib treats it like a packet-level status.
constexpr StatusInfo kUnknown{Status{0xFF}, "kUnknownStatus", EPROTO, "unknown status code"};

}  // namespace

std::span<const StatusInfo> all_statuses() { return kStatuses; }

const StatusInfo& status_info(Status s) {
  const uint8_t row = kRowOf[static_cast<uint8_t>(s)];
  return row == kNone ? kUnknown : kStatuses[row];
}

}  // namespace clio

// SPDX-License-Identifier: Apache-2.0
#include "common/status.h"

namespace clio {

const char* status_name(Status s) {
  switch (s) {
    case Status::kOk:
      return "kOk";
    case Status::kRetryLater:
      return "kRetryLater";
    case Status::kUnmapped:
      return "kUnmapped";
    case Status::kPermission:
      return "kPermission";
    case Status::kNoSuchRas:
      return "kNoSuchRas";
    case Status::kNoMemory:
      return "kNoMemory";
    case Status::kFixedVaUnavailable:
      return "kFixedVaUnavailable";
    case Status::kVaInUse:
      return "kVaInUse";
    case Status::kBadArgument:
      return "kBadArgument";
    case Status::kTooManyRas:
      return "kTooManyRas";
    case Status::kShuttingDown:
      return "kShuttingDown";
    case Status::kStale:
      return "kStale";
    case Status::kIdMismatch:
      return "kIdMismatch";
    case Status::kAuthRequired:
      return "kAuthRequired";
    case Status::kBadCredential:
      return "kBadCredential";
    case Status::kQuotaMemory:
      return "kQuotaMemory";
    case Status::kQuotaSlots:
      return "kQuotaSlots";
    case Status::kUnproven:
      return "kUnproven";
    case Status::kTruncated:
      return "kTruncated";
    case Status::kBadMagic:
      return "kBadMagic";
    case Status::kBadVersion:
      return "kBadVersion";
    case Status::kBadOpcode:
      return "kBadOpcode";
    case Status::kBadLength:
      return "kBadLength";
    case Status::kBadFlags:
      return "kBadFlags";
    case Status::kBadChecksum:
      return "kBadChecksum";
    case Status::kBadReserved:
      return "kBadReserved";
    case Status::kBadRequestId:
      return "kBadRequestId";
  }
  return "kUnknownStatus";
}

const char* status_message(Status s) {
  switch (s) {
    case Status::kOk:
      return "success";
    case Status::kRetryLater:
      return "memory node busy, try again";
    case Status::kUnmapped:
      return "address is not in any allocation (never allocated, or freed)";
    case Status::kPermission:
      return "permission denied for this access";
    case Status::kNoSuchRas:
      return "no such remote address space, or wrong key";
    case Status::kNoMemory:
      return "out of remote memory";
    case Status::kFixedVaUnavailable:
      return "fixed address refused: its page-table buckets are full, choose another address";
    case Status::kVaInUse:
      return "fixed address overlaps an existing allocation";
    case Status::kBadArgument:
      return "invalid argument";
    case Status::kTooManyRas:
      return "memory node has no room for another address space";
    case Status::kShuttingDown:
      return "memory node is shutting down";
    case Status::kStale:
      return "too old: the memory node cannot prove the request has not run, so it refused it";
    case Status::kIdMismatch:
      return "request identity reused by a different request (client bug or forgery)";
    case Status::kAuthRequired:
      return "the memory node requires a credential (--auth-file)";
    case Status::kBadCredential:
      return "the credential does not match the memory node's";
    case Status::kQuotaMemory:
      return "the address space's memory quota is used up";
    case Status::kQuotaSlots:
      return "the address space's page-table slot quota is used up";
    case Status::kUnproven:
      return "large reply to an address that has not proven itself: resend with the token";
    case Status::kTruncated:
      return "packet shorter than its header";
    case Status::kBadMagic:
      return "not a Clio packet (bad magic)";
    case Status::kBadVersion:
      return "unsupported protocol version";
    case Status::kBadOpcode:
      return "unknown opcode";
    case Status::kBadLength:
      return "length field disagrees with the packet";
    case Status::kBadFlags:
      return "undefined flag bits";
    case Status::kBadChecksum:
      return "checksum mismatch (corrupted packet)";
    case Status::kBadReserved:
      return "reserved header field is not zero";
    case Status::kBadRequestId:
      return "request session or sequence number is zero";
  }
  return "unknown status code";
}

}  // namespace clio

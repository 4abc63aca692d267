// SPDX-License-Identifier: Apache-2.0
// Control operations: what the fast path hands to the slow path (ralloc, rfree, protect,
// address-space create/destroy) and what comes back. Plain values, copied through SPSC rings.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "common/wire.h"

namespace clio::mn {

struct ControlRequest {
  wire::Opcode op;  ///< kRalloc, kRfree, kProtect, kRasCreate or kRasDestroy
  uint8_t flags;    ///< wire::kFlagReadOnly, wire::kFlagFixedVa
  uint32_t pid;     ///< address space (0 for kRasCreate)
  uint64_t key;     ///< its read-write key (0 for kRasCreate)
  uint64_t va;      ///< kRfree/kProtect: start of the allocation; kRalloc with kFlagFixedVa
  uint64_t size;    ///< kRalloc: bytes
  uint64_t cookie;  ///< caller's; returned unchanged in the reply
};

struct ControlReply {
  Status status;
  uint32_t pid;     ///< kRasCreate: the new address space
  uint64_t va;      ///< kRalloc: start of the allocation
  uint64_t key_rw;  ///< kRasCreate: read-write key
  uint64_t key_ro;  ///< kRasCreate: read-only key
  uint64_t cookie;  ///< the request's
};

}  // namespace clio::mn

// SPDX-License-Identifier: Apache-2.0
// Internal to CLib: what its API returns for an MN's status. The messages behind
// clio::error_string (declared in clio/client.h, defined in errors.cc) come from common/status.cc's
// table for the errnos one status explains, and from errors.cc's own short table for the rest
// (local conditions, and errnos that several statuses share).
#pragma once

#include "common/status.h"

namespace clio::cn {

/// Maps an MN status to the negative errno the API returns (kOk -> 0; a value that is no status,
/// or a packet-level one, -EPROTO). Never throws.
inline int status_to_errno(Status s) { return -status_info(s).err; }

/// The sentence for an errno CLib's own code returns (not one status's), or nullptr.
const char* clib_error_message(int err);

}  // namespace clio::cn

// SPDX-License-Identifier: Apache-2.0
// Invariant checks. CLIO_CHECK is always on and cheap; CLIO_DCHECK compiles out under NDEBUG.
// Neither is a test oracle: tests assert with GoogleTest.
#pragma once

namespace clio {
[[noreturn]] void check_failed(const char* expr, const char* file, int line, const char* msg);
}  // namespace clio

#define CLIO_CHECK_MSG(cond, msg)                           \
  do {                                                      \
    if (!(cond)) [[unlikely]]                               \
      ::clio::check_failed(#cond, __FILE__, __LINE__, msg); \
  } while (0)
#define CLIO_CHECK(cond) CLIO_CHECK_MSG(cond, "")

#ifdef NDEBUG
#define CLIO_DCHECK(cond) \
  do {                    \
  } while (0)
#else
#define CLIO_DCHECK(cond) CLIO_CHECK(cond)
#endif

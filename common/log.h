// SPDX-License-Identifier: Apache-2.0
// Logging: a compile-time floor, a runtime level, a tag per component, and a capture hook for
// tests.
//
// Levels, from the most to the least frequent:
//   TRACE  per packet or per operation. Too frequent for anything but debugging; below the
//          default compile-time floor (CLIO_LOG_LEVEL=DEBUG keeps it out of the datapath).
//   DEBUG  per control operation (ralloc, rfree, address-space create/destroy, retransmission).
//   INFO   lifecycle: start, stop, configuration, statistics dumps.
//   WARN   something unusual the system recovered from (malformed packet dropped, refill late).
//   ERROR  a failure the user must act on.
// Tags name the component: "mn", "mn.slow", "cn", "net.udp", ...
#pragma once

#include <string>
#include <string_view>
#include <vector>

#ifndef CLIO_LOG_FLOOR
#define CLIO_LOG_FLOOR 1  // DEBUG
#endif

namespace clio {

enum class LogLevel : int { kTrace = 0, kDebug = 1, kInfo = 2, kWarn = 3, kError = 4, kOff = 5 };

namespace log_levels {  // spellings used by CLIO_LOG(LEVEL, ...)
inline constexpr LogLevel TRACE = LogLevel::kTrace;
inline constexpr LogLevel DEBUG = LogLevel::kDebug;
inline constexpr LogLevel INFO = LogLevel::kInfo;
inline constexpr LogLevel WARN = LogLevel::kWarn;
inline constexpr LogLevel ERROR = LogLevel::kError;
}  // namespace log_levels

/// Messages below `level` are discarded at run time. Thread-safe. Default: INFO.
void set_log_level(LogLevel level);
LogLevel log_level();

/// Parses "trace", "debug", "info", "warn", "error", "off" (any case). False on anything else.
bool parse_log_level(std::string_view text, LogLevel* out);

/// Writes one line "<time> <LEVEL> [tag] message" to stderr, or to the active LogCapture.
/// Thread-safe; lines from different threads never interleave. Prefer CLIO_LOG.
void log_write(LogLevel level, const char* tag, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

/// While alive, log lines go to this object instead of stderr (tests assert on them). At most
/// one at a time; thread-safe.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::vector<std::string> lines() const;
  /// True when some captured line contains `needle`.
  bool contains(std::string_view needle) const;
};

}  // namespace clio

/// CLIO_LOG(WARN, "mn", "dropped %u packets", n): compiled out below CLIO_LOG_FLOOR.
#define CLIO_LOG(LEVEL, TAG, ...)                                                  \
  do {                                                                             \
    if constexpr (static_cast<int>(::clio::log_levels::LEVEL) >= CLIO_LOG_FLOOR) { \
      if (::clio::log_levels::LEVEL >= ::clio::log_level())                        \
        ::clio::log_write(::clio::log_levels::LEVEL, TAG, __VA_ARGS__);            \
    }                                                                              \
  } while (0)

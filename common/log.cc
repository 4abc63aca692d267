// SPDX-License-Identifier: Apache-2.0
#include "common/log.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace clio {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mu;
std::vector<std::string>* g_capture = nullptr;  // guarded by g_mu

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace:
      return "TRACE";
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kOff:
      return "OFF";
  }
  return "?";
}

}  // namespace

void set_log_level(LogLevel level) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

bool parse_log_level(std::string_view text, LogLevel* out) {
  std::string t;
  for (char c : text) t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  static constexpr std::pair<const char*, LogLevel> kNames[] = {
      {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug},  {"info", LogLevel::kInfo},
      {"warn", LogLevel::kWarn},   {"warning", LogLevel::kWarn}, {"error", LogLevel::kError},
      {"off", LogLevel::kOff}};
  for (const auto& [name, level] : kNames) {
    if (t == name) {
      *out = level;
      return true;
    }
  }
  return false;
}

void log_write(LogLevel level, const char* tag, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char line[1200];
  int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%06ld %-5s [%s] %s\n", t.tm_hour, t.tm_min,
                   t.tm_sec, ts.tv_nsec / 1000, level_name(level), tag, msg);
  if (n < 0) return;
  size_t len = std::min(static_cast<size_t>(n), sizeof line - 1);

  std::lock_guard lock(g_mu);
  if (g_capture != nullptr) {
    g_capture->emplace_back(line, len - 1);  // without the newline
    return;
  }
  fwrite(line, 1, len, stderr);
}

LogCapture::LogCapture() {
  std::lock_guard lock(g_mu);
  g_capture = new std::vector<std::string>();
}

LogCapture::~LogCapture() {
  std::lock_guard lock(g_mu);
  delete g_capture;
  g_capture = nullptr;
}

std::vector<std::string> LogCapture::lines() const {
  std::lock_guard lock(g_mu);
  return *g_capture;
}

bool LogCapture::contains(std::string_view needle) const {
  std::lock_guard lock(g_mu);
  for (const auto& l : *g_capture)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace clio

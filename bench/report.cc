// SPDX-License-Identifier: Apache-2.0
#include "bench/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/clock.h"

namespace clio::bench {

std::string to_text(const Value& v) {
  char buf[64];
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v)) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(*i));
    return buf;
  }
  const double d = std::get<double>(v);
  if (std::fabs(d) >= 1e6)
    std::snprintf(buf, sizeof buf, "%.3g", d);
  else if (std::fabs(d) >= 100)
    std::snprintf(buf, sizeof buf, "%.0f", d);
  else
    std::snprintf(buf, sizeof buf, "%.3g", d);
  return buf;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {  // control characters: \u00XX
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

std::string to_json(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return json_string(*s);
  char buf[64];
  if (const auto* i = std::get_if<int64_t>(&v)) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(*i));
    return buf;
  }
  const double d = std::get<double>(v);
  if (!std::isfinite(d)) return "null";  // JSON has no nan or inf
  std::snprintf(buf, sizeof buf, "%.6g", d);
  return buf;
}

std::string json_line(const std::string& bench, const Row& r) {
  std::string s = "{\"bench\":" + json_string(bench);
  for (const auto& [k, v] : r.fields()) s += "," + json_string(k) + ":" + to_json(v);
  return s + "}";
}

Row& Row::put(const std::string& key, Value v) {
  for (auto& [k, old] : fields_) {
    if (k == key) {
      old = std::move(v);
      return *this;
    }
  }
  fields_.emplace_back(key, std::move(v));
  return *this;
}

Row& Row::latency(const Histogram& ns) {
  set("p50_ns", ns.percentile(0.50));
  set("p99_ns", ns.percentile(0.99));
  set("p999_ns", ns.percentile(0.999));
  set("max_ns", ns.max());
  return *this;
}

void Report::print() const {
  std::vector<std::string> cols;
  for (const Row& r : rows_)
    for (const auto& [k, v] : r.fields())
      if (std::find(cols.begin(), cols.end(), k) == cols.end()) cols.push_back(k);
  std::vector<size_t> width(cols.size());
  for (size_t c = 0; c < cols.size(); ++c) width[c] = cols[c].size();
  auto cell = [&](const Row& r, const std::string& key) -> std::string {
    for (const auto& [k, v] : r.fields())
      if (k == key) return to_text(v);
    return "-";
  };
  for (const Row& r : rows_)
    for (size_t c = 0; c < cols.size(); ++c) width[c] = std::max(width[c], cell(r, cols[c]).size());

  std::printf("\n%s\n", bench_.c_str());
  for (size_t c = 0; c < cols.size(); ++c)
    std::printf("%s%*s", c ? "  " : "", static_cast<int>(width[c]), cols[c].c_str());
  std::printf("\n");
  for (const Row& r : rows_) {
    for (size_t c = 0; c < cols.size(); ++c)
      std::printf("%s%*s", c ? "  " : "", static_cast<int>(width[c]), cell(r, cols[c]).c_str());
    std::printf("\n");
  }
  std::printf("\n");
  for (const Row& r : rows_) std::printf("%s\n", json_line(bench_, r).c_str());
  std::fflush(stdout);
}

TickToNs::TickToNs() : ns_per_tick_(Tsc::ns_per_tick()) {}

}  // namespace clio::bench

// SPDX-License-Identifier: Apache-2.0
// Benchmark output, the same for every benchmark of the project:
//   - a readable table on stdout, one row per result;
//   - then, for each result, one line of JSON: {"bench": ..., <configuration>, <figures>}, with
//     figures in fixed units (p50_ns, p99_ns, p999_ns, ops_per_s, bytes, ...).
// Lines that start with '{' are the machine-readable part; everything else is for people.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/histogram.h"

namespace clio::bench {

using Value = std::variant<std::string, int64_t, double>;

class Row {
 public:
  Row& set(const std::string& key, std::string v) { return put(key, Value(std::move(v))); }
  Row& set(const std::string& key, const char* v) { return put(key, Value(std::string(v))); }
  Row& set(const std::string& key, int64_t v) { return put(key, Value(v)); }
  Row& set(const std::string& key, uint64_t v) { return put(key, Value(static_cast<int64_t>(v))); }
  Row& set(const std::string& key, int v) { return put(key, Value(static_cast<int64_t>(v))); }
  Row& set(const std::string& key, double v) { return put(key, Value(v)); }
  /// p50_ns, p99_ns, p999_ns (and max_ns) from a histogram of nanoseconds.
  Row& latency(const Histogram& ns);

  const std::vector<std::pair<std::string, Value>>& fields() const { return fields_; }

 private:
  Row& put(const std::string& key, Value v);
  std::vector<std::pair<std::string, Value>> fields_;
};

/// A value as the table shows it (3 significant digits) and as JSON: strings quoted and
/// escaped, a number that is not finite as null.
std::string to_text(const Value& v);
std::string to_json(const Value& v);
/// s as a JSON string: quoted, with quotes, backslashes and control characters escaped.
std::string json_string(std::string_view s);
/// {"bench":"<bench>",<fields>} without a newline; every line parses as JSON.
std::string json_line(const std::string& bench, const Row& r);

class Report {
 public:
  explicit Report(std::string bench) : bench_(std::move(bench)) {}
  void add(Row r) { rows_.push_back(std::move(r)); }
  /// Prints the table (columns: the union of keys, in first-seen order) and the JSON lines.
  void print() const;
  const std::string& bench() const { return bench_; }

 private:
  std::string bench_;
  std::vector<Row> rows_;
};

/// Converts TSC ticks to nanoseconds with the calibrated rate (Tsc::ns_per_tick).
class TickToNs {
 public:
  TickToNs();
  uint64_t operator()(uint64_t ticks) const {
    return static_cast<uint64_t>(static_cast<double>(ticks) * ns_per_tick_);
  }
  double ns_per_tick() const { return ns_per_tick_; }

 private:
  double ns_per_tick_;
};

}  // namespace clio::bench

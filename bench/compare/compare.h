// SPDX-License-Identifier: Apache-2.0
// clio-compare: the paper's evaluation, run for every memory-node design (mn/design.h) and every
// anchor that applies (memcached, Redis, one-sided RDMA, the floors), in one run, interleaved
// point by point so that the machine's noise falls on all alike. See main.cc for the command
// line, experiments.cc for what each experiment measures and output.cc for what it writes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/mn_target.h"
#include "bench/report.h"
#include "clio/client.h"

namespace clio::compare {

/// How big a run is: tiny (CI: seconds), quick (under 3 minutes), full (under 30 minutes).
enum class Scale { kTiny, kQuick, kFull };

struct Options {
  Scale scale = Scale::kFull;
  std::string transport = "inproc";  ///< inproc, udp, or a locator a spawned clio-mn serves
  std::vector<std::string> designs;  ///< clio, server, pnic
  std::vector<std::string> anchors;  ///< memcached, redis, floor, rdma
  std::vector<int> experiments;      ///< 1 to 6
  std::string rdma;                  ///< HOST:PORT of a clio-rdma-server, or "" (no RDMA rows)
  unsigned rounds = 1;               ///< runs of every step; figures are medians over them
  int client_cpu = 0;
  int mn_cpu = 1;
  int cpus = 2;                 ///< usable CPUs
  uint64_t max_pages_log2 = 0;  ///< experiment 3's largest point (0: what RAM allows)
  uint64_t ram_bytes = 0;
  bool progress = false;  ///< a progress line on stderr
  std::string out;        ///< results directory
  std::string commit;     ///< the source tree's commit (with "-dirty" if changed)

  bool has_anchor(const std::string& a) const;
  /// Operations per timed point.
  uint64_t ops() const;
  /// For a spawned MN (udp and other transports): memory is measured as its RSS.
  bool spawned() const { return transport != "inproc"; }
};

/// One measurement: a function that adds its rows, and a label for the progress line.
struct Step {
  int experiment;
  std::string label;
  std::function<void(std::vector<bench::Row>*)> run;
};

/// A memory node of one design, started for one step and stopped after it.
class DesignMn {
 public:
  struct Shape {
    uint64_t pool_bytes = uint64_t{1} << 30;
    uint64_t page_bytes = uint64_t{4} << 20;
    uint32_t max_ras = 1u << 16;
  };
  DesignMn(const Options& o, const std::string& design, const Shape& s);
  ~DesignMn();
  /// A client of its own (an endpoint and an address space): no keep-alive thread, so that it
  /// is one endpoint; leases are off on these MNs.
  std::unique_ptr<Client> open(const std::string& extra = "") const;
  /// Bytes the MN holds: its RSS when spawned; when embedded, what it accounts for
  /// (translation tables and sessions). *measured: true for RSS.
  uint64_t memory_bytes(bool* measured) const;
  const std::string& design() const { return design_; }
  const mn::MnStats* embedded_stats(mn::MnStats* out) const;

 private:
  std::string design_;
  std::unique_ptr<bench::MnTarget> target_;
};

/// Throws clio::Error naming the call when rc != 0.
void check(int rc, const char* what);

// The experiments: each returns its steps (interleaved point by point).
std::vector<Step> exp_size(const Options& o);        // 1: Figs 10, 11
std::vector<Step> exp_clients(const Options& o);     // 2: Fig 4
std::vector<Step> exp_pages(const Options& o);       // 3: Fig 5
std::vector<Step> exp_faults(const Options& o);      // 4: Fig 6
std::vector<Step> exp_throughput(const Options& o);  // 5: Fig 8
std::vector<Step> exp_alloc(const Options& o);       // 6: Figs 12, 13

// The one-sided RDMA anchor (rdma.cc); Options::rdma names the clio-rdma-server.
/// Throws ConfigError when the --rdma spec is malformed or this build has no verbs backend.
void check_rdma_spec(const std::string& spec);
void rdma_size_rows(const Options& o, uint64_t size, std::vector<bench::Row>* out);
void rdma_clients_rows(const Options& o, uint64_t clients, std::vector<bench::Row>* out);
/// Experiment 3's row for `pages` of 4 KiB; false (no row) when the server's region is smaller.
bool rdma_pages_rows(const Options& o, uint64_t pages, std::vector<bench::Row>* out);
/// Experiment 6's reg_mr and dereg_mr rows for `size` bytes, `reps` times each.
void rdma_register_rows(const Options& o, uint64_t size, uint64_t reps,
                        std::vector<bench::Row>* out);

struct Rows {
  std::vector<bench::Row> rows;  ///< every row, with "experiment" and "system" fields
};

/// Rows that describe the same point (equal in every text field and in the point's coordinates:
/// experiment, size, threads, depth, clients, pages, pages_log2, page_bytes, regions, fill_pct)
/// become one, in the order first seen, each other number the median over them (the lower
/// middle of an even count), with "rounds" their count.
Rows median_of_rounds(const Rows& in);

/// Writes results.jsonl, exp<N>.csv, exp<N>.png (gnuplot), report.md into o.out; returns the
/// summary (designs side by side) for the terminal.
std::string write_outputs(const Options& o, const Rows& rows, const std::string& command,
                          double elapsed_s);

}  // namespace clio::compare

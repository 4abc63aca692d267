// SPDX-License-Identifier: Apache-2.0
// What a run writes: results.jsonl (every row), exp<N>.csv (one per experiment), exp<N>.png
// (gnuplot: a line per system, p50 with the p99 as an error bar, the paper's published Clio figure
// as a labelled reference where it has one) with the data and script beside it, and report.md:
// machine, commit, command, each experiment's table and plot, and a verdict per claim from the
// rule printed beside it.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "bench/compare/compare.h"
#include "common/error.h"

namespace clio::compare {
namespace {

using bench::Row;
using bench::Value;

const char* const kTitles[] = {
    "",
    "1. Latency against request size (Figs 10, 11)",
    "2. Latency against client address spaces (Fig 4)",
    "3. Latency against mapped pages (Fig 5)",
    "4. TLB hit, TLB miss, first touch, reads under faults (Fig 6)",
    "5. Throughput against queue depth, 1 KiB (Fig 8)",
    "6. ralloc and rfree against size (Fig 12); ralloc retries (Fig 13)",
};

std::optional<Value> field(const Row& r, const std::string& key) {
  for (const auto& [k, v] : r.fields())
    if (k == key) return v;
  return std::nullopt;
}
std::string str(const Row& r, const std::string& key) {
  auto v = field(r, key);
  return v ? bench::to_text(*v) : "";
}
double num(const Row& r, const std::string& key) {
  auto v = field(r, key);
  if (!v) return NAN;
  if (const auto* i = std::get_if<int64_t>(&*v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&*v)) return *d;
  return NAN;
}
int exp_of(const Row& r) { return static_cast<int>(num(r, "experiment")); }

std::vector<const Row*> select(const Rows& rows, int exp, const std::string& system = "",
                               const std::string& op = "") {
  std::vector<const Row*> out;
  for (const Row& r : rows.rows)
    if (exp_of(r) == exp && (system.empty() || str(r, "system") == system) &&
        (op.empty() || str(r, "op") == op))
      out.push_back(&r);
  return out;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
std::string us(double ns) { return std::isnan(ns) ? "-" : fmt("%.2f", ns / 1000.0); }

// --- CSV
// ------------------------------------------------------------------------------------------
std::vector<std::string> columns(const std::vector<const Row*>& rs) {
  std::vector<std::string> cols;
  for (const Row* r : rs)
    for (const auto& [k, v] : r->fields())
      if (std::find(cols.begin(), cols.end(), k) == cols.end()) cols.push_back(k);
  return cols;
}

void write_csv(const std::string& path, const std::vector<const Row*>& rs) {
  std::ofstream f(path);
  const auto cols = columns(rs);
  for (size_t i = 0; i < cols.size(); ++i) f << (i ? "," : "") << cols[i];
  f << "\n";
  for (const Row* r : rs) {
    for (size_t i = 0; i < cols.size(); ++i) {
      std::string v = str(*r, cols[i]);
      if (v.find(',') != std::string::npos) v = "\"" + v + "\"";
      f << (i ? "," : "") << v;
    }
    f << "\n";
  }
}

// --- Plots
// ----------------------------------------------------------------------------------------
struct Series {
  std::string title;
  std::vector<std::array<double, 3>> points;  ///< x, y (p50 or ops/s), y high (p99)
};

struct Plot {
  std::string title, xlabel, ylabel;
  bool logx = false, logy = false;
  std::vector<std::string> xtics;  ///< category names (x = index) when not empty
  std::vector<Series> series;
  std::vector<Series> references;  ///< the paper's figures
};

void write_plot(const std::string& dir, int exp, const Plot& p) {
  const std::string base = dir + "/exp" + std::to_string(exp);
  {
    std::ofstream d(base + ".dat");
    for (const auto* group : {&p.series, &p.references})
      for (const Series& s : *group) {
        d << "# " << s.title << "\n";
        for (const auto& pt : s.points) d << pt[0] << " " << pt[1] << " " << pt[2] << "\n";
        d << "\n\n";
      }
  }
  std::ofstream g(base + ".gp");
  g << "set terminal pngcairo size 960,600 font ',10'\n"
    << "set output 'exp" << exp << ".png'\n"
    << "set title \"" << p.title << "\"\n"
    << "set xlabel \"" << p.xlabel << "\"\nset ylabel \"" << p.ylabel << "\"\n"
    << "set key inside top left box opaque font ',9'\nset grid\n";
  if (p.logx) g << "set logscale x 2\n";
  if (p.logy) g << "set logscale y\n";
  if (!p.xtics.empty()) {
    g << "set xtics (";
    for (size_t i = 0; i < p.xtics.size(); ++i)
      g << (i ? ", " : "") << "\"" << p.xtics[i] << "\" " << i;
    g << ") rotate by -15\nset xrange [-0.5:" << p.xtics.size() - 0.5 << "]\n";
  }
  g << "plot ";
  size_t index = 0;
  bool first = true;
  for (const Series& s : p.series) {
    g << (first ? "" : ", \\\n     ") << "'exp" << exp << ".dat' index " << index++
      << " using 1:2:2:3 with yerrorlines title \"" << s.title << "\"";
    first = false;
  }
  for (const Series& s : p.references) {
    g << (first ? "" : ", \\\n     ") << "'exp" << exp << ".dat' index " << index++
      << " using 1:2 with linespoints dashtype 2 lc rgb 'gray40' title \"" << s.title << "\"";
    first = false;
  }
  g << "\n";
  g.close();
  if (first) return;  // nothing to draw
  const std::string cmd = "cd '" + dir + "' && gnuplot exp" + std::to_string(exp) + ".gp 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  std::string err;
  char buf[256];
  while (pipe != nullptr && std::fgets(buf, sizeof buf, pipe) != nullptr) err += buf;
  const int rc = pipe != nullptr ? ::pclose(pipe) : -1;
  if (rc != 0)
    std::fprintf(stderr,
                 "clio-compare: gnuplot for experiment %d failed (%s); its data and "
                 "script are in %s.dat and %s.gp\n",
                 exp, err.c_str(), base.c_str(), base.c_str());
}

/// A series per (system, op) of one experiment: x from `xkey`, y from `ykey` (p99 from `hikey`).
std::vector<Series> series_of(const Rows& rows, int exp, const std::string& xkey,
                              const std::string& ykey, const std::string& hikey, double yscale,
                              const std::function<bool(const Row&)>& keep = nullptr) {
  std::map<std::string, Series> by;
  std::vector<std::string> order;
  for (const Row* r : select(rows, exp)) {
    if (keep && !keep(*r)) continue;
    const std::string t = str(*r, "system") + " " + str(*r, "op");
    if (!by.count(t)) order.push_back(t);
    Series& s = by[t];
    s.title = t;
    const double hi = hikey.empty() ? num(*r, ykey) : num(*r, hikey);
    s.points.push_back({num(*r, xkey), num(*r, ykey) * yscale, hi * yscale});
  }
  std::vector<Series> out;
  for (const auto& t : order) {
    Series s = by[t];
    std::sort(s.points.begin(), s.points.end());
    out.push_back(s);
  }
  return out;
}

// --- Verdicts
// -------------------------------------------------------------------------------------
struct Verdict {
  std::string claim, rule, figures, verdict;
};

const char* const kReproduced = "reproduced in shape";
const char* const kNotReproduced = "not reproduced";
const char* const kNotApplicable = "not applicable here";

std::vector<Verdict> verdicts(const Options& o, const Rows& rows) {
  std::vector<Verdict> v;
  auto ran = [&](int e) { return !select(rows, e).empty(); };
  auto within = [](double a, double b, double pct) { return a <= b * (1 + pct / 100.0); };

  // Flat in clients: as measured, and with the clients' own cost (the floor with as many
  // endpoints, in the same run) taken out.
  {
    Verdict x{"clio's latency is flat in client address spaces (Fig 4)",
              "p50 at the most clients within 10% of the p50 at 1 client", "", ""};
    Verdict y{"clio's memory node is flat in client address spaces (Fig 4)",
              "clio's p50 over the floor's with as many client endpoints (bare echo, same run): at "
              "the most clients within 10% of that ratio at 1 client",
              "", ""};
    auto rs = select(rows, 2, "clio");
    std::sort(rs.begin(), rs.end(),
              [](const Row* a, const Row* b) { return num(*a, "clients") < num(*b, "clients"); });
    if (rs.size() < 2) {
      x.verdict = y.verdict = std::string(kNotApplicable) + ": experiment 2 did not run for clio";
    } else {
      const double p1 = num(*rs.front(), "p50_ns"), pn = num(*rs.back(), "p50_ns");
      x.figures = us(p1) + " us at " + str(*rs.front(), "clients") + ", " + us(pn) + " us at " +
                  str(*rs.back(), "clients") + fmt(" (%+.1f%%)", (pn / p1 - 1) * 100);
      x.verdict = within(pn, p1, 10) ? kReproduced : kNotReproduced;
      if (num(*rs.back(), "clients") < 10'000)
        x.verdict += " (up to " + str(*rs.back(), "clients") + " clients only)";
      const Row* f1 = nullptr;
      const Row* fn = nullptr;
      for (const Row* f : select(rows, 2, "floor")) {
        if (num(*f, "clients") == num(*rs.front(), "clients")) f1 = f;
        if (num(*f, "clients") == num(*rs.back(), "clients")) fn = f;
      }
      if (f1 == nullptr || fn == nullptr) {
        y.verdict = std::string(kNotApplicable) + ": no floor rows (--anchors floor)";
      } else {
        const double r1 = p1 / num(*f1, "p50_ns"), rn = pn / num(*fn, "p50_ns");
        y.figures = fmt("%.2fx the floor at ", r1) + str(*rs.front(), "clients") +
                    fmt(", %.2fx at ", rn) + str(*rs.back(), "clients") + " (floor " +
                    us(num(*f1, "p50_ns")) + " -> " + us(num(*fn, "p50_ns")) + " us)";
        y.verdict = within(rn, r1, 10) ? kReproduced : kNotReproduced;
      }
    }
    v.push_back(x);
    v.push_back(y);
  }
  // Memory per address space.
  {
    Verdict x{"an MN's memory grows with clients only by their metadata (Fig 4)",
              "clio: the MN's growth per address space at the most clients, less the one 4 KiB "
              "page each client wrote, at most 1 KiB (its keys, lease and allocation record); "
              "every design's figure printed",
              "", ""};
    auto rs = select(rows, 2);
    double most = 0;
    for (const Row* r : rs) most = std::max(most, num(*r, "clients"));
    std::string figs;
    bool rss = false;
    double clio_per = NAN;
    for (const Row* r : rs) {
      if (num(*r, "clients") != most) continue;
      if (str(*r, "system") == "floor" || str(*r, "system") == "rdma") continue;
      figs += (figs.empty() ? "" : "; ") + str(*r, "system") + " " +
              fmt("%.0f", num(*r, "mn_metadata_per_client")) + " B/client";
      rss = str(*r, "memory") == "rss";
      if (str(*r, "system") == "clio") clio_per = num(*r, "mn_metadata_per_client");
    }
    x.figures = figs.empty() ? ""
                             : figs + " at " + fmt("%.0f", most) + " clients" +
                                   (rss ? " (MN RSS growth less the data pages)" : " (accounted)");
    if (rs.empty() || std::isnan(clio_per)) {
      x.verdict = std::string(kNotApplicable) + ": experiment 2 did not run for clio";
    } else if (!rss) {
      x.verdict = std::string(kNotApplicable) +
                  ": the MN is embedded, so its memory cannot be told from the clients' (run "
                  "--transport udp); the figures are what it accounts for";
    } else {
      x.verdict = clio_per <= 1024 ? kReproduced : kNotReproduced;
    }
    v.push_back(x);
  }
  // Flat in mapped pages.
  {
    Verdict x{"clio's latency is flat in mapped pages (Fig 5)",
              "p50 at the most pages within 10% of the p50 at 2^10 pages", "", ""};
    auto rs = select(rows, 3, "clio");
    const Row* at10 = nullptr;
    const Row* most = nullptr;
    for (const Row* r : rs) {
      if (num(*r, "pages_log2") >= 10 &&
          (at10 == nullptr || num(*r, "pages") < num(*at10, "pages")))
        at10 = r;
      if (most == nullptr || num(*r, "pages") > num(*most, "pages")) most = r;
    }
    if (at10 == nullptr || most == at10) {
      x.verdict = std::string(kNotApplicable) + ": fewer than two points from 2^10 pages up";
    } else {
      const double a = num(*at10, "p50_ns"), b = num(*most, "p50_ns");
      x.figures = us(a) + " us at 2^" + str(*at10, "pages_log2") + ", " + us(b) + " us at 2^" +
                  str(*most, "pages_log2") + fmt(" (%+.1f%%)", (b / a - 1) * 100);
      x.verdict = within(b, a, 10) ? kReproduced : kNotReproduced;
      if (num(*most, "pages_log2") < 24)
        x.verdict += " (up to 2^" + str(*most, "pages_log2") +
                     " pages: 2^24 pages of 4 KiB need 64 GiB, this machine has " +
                     fmt("%.0f", static_cast<double>(o.ram_bytes) / (1 << 30)) + " GiB)";
    }
    v.push_back(x);
  }
  // First touch = TLB miss.
  {
    Verdict x{"a first touch costs what a TLB miss costs (Fig 6)",
              "clio: first-touch p99 within 10% of the p99 of TLB misses paced alike (bursts of "
              "32 reads 2 ms apart, the two kinds alternating burst by burst in one MN; 4 KiB "
              "pages)",
              "", ""};
    auto ft = select(rows, 4, "clio", "first-touch");
    auto paced = select(rows, 4, "clio", "tlb-miss-paced");
    auto miss = select(rows, 4, "clio", "tlb-miss");
    if (ft.empty() || paced.empty()) {
      x.verdict = std::string(kNotApplicable) + ": experiment 4 did not run for clio";
    } else {
      const double a = num(*ft[0], "p99_ns"), b = num(*paced[0], "p99_ns");
      x.figures = "first touch p99 " + us(a) + " us, paced TLB miss p99 " + us(b) + " us" +
                  fmt(" (%+.1f%%)", (a / b - 1) * 100);
      if (!miss.empty())
        x.figures += "; back-to-back TLB miss p99 " + us(num(*miss[0], "p99_ns")) + " us";
      x.verdict = within(a, b, 10) ? kReproduced : kNotReproduced;
    }
    v.push_back(x);
  }
  // Overflow-free table costs only at ralloc.
  {
    Verdict x{"the overflow-free page table costs only at ralloc (Fig 13)",
              "clio: no ralloc retries while less than half of memory is allocated", "", ""};
    auto rs = select(rows, 6, "clio", "ralloc-retries");
    if (rs.empty()) {
      x.verdict = std::string(kNotApplicable) + ": experiment 6 did not run for clio";
    } else {
      double below = 0, first_retry = NAN, max = 0;
      for (const Row* r : rs) {
        if (num(*r, "fill_pct") < 50) below += num(*r, "retries_per_ralloc");
        if (std::isnan(first_retry) && num(*r, "retries_per_ralloc") > 0)
          first_retry = num(*r, "fill_pct");
        max = std::max(max, num(*r, "max_retries"));
      }
      auto full = select(rows, 6, "clio", "ralloc-full");
      x.figures =
          (std::isnan(first_retry) ? std::string("no retries at all")
                                   : "first retries at " + fmt("%.0f", first_retry) + "% in use") +
          ", at most " + fmt("%.0f", max) + " retries for one ralloc" +
          (full.empty() ? "" : ", full at " + fmt("%.1f", num(*full[0], "fill_pct")) + "%");
      x.verdict = below == 0 ? kReproduced : kNotReproduced;
    }
    v.push_back(x);
  }
  // Throughput against memcached.
  {
    Verdict x{"clio over udp moves at least 2x memcached's requests (Fig 8, the issue's target)",
              "clio's ops/s at least 2x memcached's at the same threads and depth, at every depth; "
              "in brackets, what a bare echo with clio's packets and batches (the floor, same "
              "run) moves against memcached: where that is under 2x, no design over this "
              "transport can reach the target",
              "", ""};
    auto cl = select(rows, 5, "clio");
    auto mc = select(rows, 5, "memcached");
    auto fl = select(rows, 5, "floor");
    std::string figs, out_of_reach;
    bool all = true, any = false, missed_in_reach = false;
    for (const Row* c : cl) {
      if (str(*c, "op").rfind("read", 0) != 0) continue;
      for (const Row* m : mc) {
        if (str(*m, "op") == "set" || num(*m, "depth") != num(*c, "depth") ||
            num(*m, "threads") != num(*c, "threads"))
          continue;
        const double ratio = num(*c, "ops_per_s") / num(*m, "ops_per_s");
        double floor_ratio = NAN;
        for (const Row* f : fl)
          if (num(*f, "depth") == num(*c, "depth") && num(*f, "threads") == num(*c, "threads"))
            floor_ratio = num(*f, "ops_per_s") / num(*m, "ops_per_s");
        figs += (figs.empty() ? "" : "; ") + std::string("qd ") + str(*c, "depth") + ": " +
                fmt("%.2fx", ratio) +
                (std::isnan(floor_ratio) ? "" : fmt(" (floor %.2fx)", floor_ratio));
        all &= ratio >= 2;
        any = true;
        if (ratio < 2) {
          if (!std::isnan(floor_ratio) && floor_ratio < 2)
            out_of_reach += (out_of_reach.empty() ? "" : ", ") + str(*c, "depth");
          else
            missed_in_reach = true;
        }
      }
    }
    x.figures = figs;
    if (!any) {
      x.verdict =
          std::string(kNotApplicable) + ": experiment 5 did not run with clio and memcached";
    } else if (o.transport != "udp") {
      x.verdict = std::string(kNotApplicable) + ": the target is over udp; this run is over " +
                  o.transport + " (ratios shown)";
    } else if (all) {
      x.verdict = kReproduced;
    } else {
      x.verdict =
          std::string(kNotReproduced) +
          (out_of_reach.empty()
               ? ""
               : (missed_in_reach ? "; out of reach here at qd " : ": out of reach here at qd ") +
                     out_of_reach +
                     " (the bare echo itself moves less than 2x memcached's requests)");
    }
    v.push_back(x);
  }
  // Clio against each other system, per experiment.
  struct Point {
    int exp;
    const char* what;
    std::function<bool(const Row&)> pick;
    const char* figure;  ///< p50_ns, p99_ns or ops_per_s
  };
  const std::vector<Point> points = {
      {1, "1 KiB read p50",
       [](const Row& r) {
         return num(r, "size") == 1024 &&
                (str(r, "op") == "read" || str(r, "op") == "get" || str(r, "op") == "getrange");
       },
       "p50_ns"},
      {1, "1 KiB write p50",
       [](const Row& r) {
         return num(r, "size") == 1024 &&
                (str(r, "op") == "write" || str(r, "op") == "set" || str(r, "op") == "setrange");
       },
       "p50_ns"},
      {2, "read p50 at the most clients", nullptr, "p50_ns"},
      {3, "read p50 at the most pages", nullptr, "p50_ns"},
      {4, "read p99 under a stream of faults",
       [](const Row& r) { return str(r, "op") == "read-under-faults"; }, "p99_ns"},
      {5, "read ops/s at the deepest queue", nullptr, "ops_per_s"},
      {6, "ralloc of 1 GiB p50",
       [](const Row& r) {
         return str(r, "op") == "ralloc" && num(r, "size") == double(uint64_t{1} << 30);
       },
       "p50_ns"},
  };
  for (const Point& pt : points) {
    if (!ran(pt.exp)) continue;
    // Each system's row at the point: for 2, 3 and 5 the largest x.
    std::map<std::string, const Row*> at;
    for (const Row* r : select(rows, pt.exp)) {
      if (pt.pick && !pt.pick(*r)) continue;
      const std::string sys = str(*r, "system");
      if (pt.exp == 5 && str(*r, "op").find("read") == std::string::npos &&
          str(*r, "op") != "get" && str(*r, "op") != "multiget" && str(*r, "op") != "getrange")
        continue;
      const char* xkey = pt.exp == 2 ? "clients" : pt.exp == 3 ? "pages" : "depth";
      if (!at.count(sys) || num(*r, xkey) > num(*at[sys], xkey) ||
          (num(*r, xkey) == num(*at[sys], xkey) && pt.exp == 5 &&
           num(*r, "threads") > num(*at[sys], "threads")))
        at[sys] = r;
    }
    if (!at.count("clio")) continue;
    const double c = num(*at["clio"], pt.figure);
    for (const auto& [sys, r] : at) {
      if (sys == "clio" || sys == "floor") continue;
      const double b = num(*r, pt.figure);
      const bool higher_better = std::string(pt.figure) == "ops_per_s";
      const double ahead = higher_better ? c / b : b / c;
      Verdict x{std::string("clio against ") + sys + ", experiment " + std::to_string(pt.exp) +
                    ": " + pt.what,
                std::string("clio ahead when its ") +
                    (higher_better ? "rate is higher" : "latency is lower"),
                "", ""};
      x.figures = higher_better ? fmt("clio %.0f", c) + " vs " + fmt("%.0f ops/s", b)
                                : "clio " + us(c) + " us vs " + us(b) + " us";
      x.verdict =
          (ahead >= 1 ? fmt("clio ahead by %.2fx", ahead) : fmt("clio behind by %.2fx", 1 / ahead));
      if (pt.exp == 6)
        x.verdict += " (the paper's claim: clio pays at ralloc, on purpose)";
      else
        x.verdict = std::string(ahead >= 1 ? kReproduced : kNotReproduced) + ": " + x.verdict;
      v.push_back(x);
    }
  }
  if (o.rdma.empty()) {
    v.push_back({"clio against one-sided RDMA (Figs 4, 10, 11)",
                 "RDMA rows against clio-rdma-server (--rdma) wherever a verbs device exists", "",
                 std::string(kNotApplicable) +
                     ": no RDMA device in this run (the soft-RoCE VM test runs one)"});
  }
  {
    Verdict x{"RDMA against mapped pages, registered regions and registration cost (Figs 5, 12)",
              "one-sided READ across more and more of one registered region, and through as "
              "many regions' own rkeys; ibv_reg_mr of fresh memory against size, beside clio's "
              "ralloc",
              "", ""};
    auto pages = select(rows, 3, "rdma", "read");
    auto mrs = select(rows, 3, "rdma", "read-mr");
    auto reg = select(rows, 6, "rdma", "reg_mr");
    auto ra = select(rows, 6, "clio", "ralloc");
    if (pages.empty() && reg.empty()) {
      x.verdict = std::string(kNotApplicable) + ": " +
                  (o.rdma.empty() ? "no RDMA device in this run (the soft-RoCE VM test runs one)"
                                  : "experiments 3 and 6 did not run");
    } else {
      if (pages.size() >= 2)
        x.figures = "READ p50 " + us(num(*pages.front(), "p50_ns")) + " us at " +
                    str(*pages.front(), "pages") + " pages, " + us(num(*pages.back(), "p50_ns")) +
                    " us at " + str(*pages.back(), "pages");
      if (mrs.size() >= 2)
        x.figures += (x.figures.empty() ? "" : "; ") + std::string("READ through a region's ") +
                     "own rkey p50 " + us(num(*mrs.front(), "p50_ns")) + " us with " +
                     str(*mrs.front(), "pages") + " regions, " + us(num(*mrs.back(), "p50_ns")) +
                     " us with " + str(*mrs.back(), "pages");
      for (const Row* r : reg) {
        x.figures += (x.figures.empty() ? "" : "; ") + std::string("reg_mr ") +
                     fmt("%.0f MiB ", num(*r, "size") / (1 << 20)) + us(num(*r, "p50_ns")) + " us";
        for (const Row* c : ra)
          if (num(*c, "size") == num(*r, "size"))
            x.figures += " (clio ralloc " + us(num(*c, "p50_ns")) + " us)";
      }
      x.verdict = std::string("measured (no target)") +
                  (mrs.empty() ? "; latency against registered regions not measured (the "
                                 "server was not started with --regions)"
                               : "") +
                  ". Soft-RoCE keeps no on-chip cache of PTEs or regions, so the paper's growth "
                  "with pages and regions cannot show here";
    }
    v.push_back(x);
  }
  return v;
}

std::string machine() {
  std::string model = "unknown CPU";
  std::ifstream cpu("/proc/cpuinfo");
  for (std::string line; std::getline(cpu, line);)
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  utsname u{};
  ::uname(&u);
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  const double ram = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) *
                     static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1 << 30);
  return model + ", " + std::to_string(cpus) + " CPUs, " + fmt("%.0f GiB RAM", ram) + ", " +
         u.sysname + " " + u.release;
}

}  // namespace

Rows median_of_rounds(const Rows& in) {
  static const std::set<std::string> kCoordinates = {
      "experiment", "size",       "threads",    "depth",   "clients",
      "pages",      "pages_log2", "page_bytes", "regions", "fill_pct"};
  auto is_figure = [](const std::pair<std::string, bench::Value>& f) {
    return !std::holds_alternative<std::string>(f.second) && !kCoordinates.count(f.first);
  };
  std::map<std::string, std::vector<const Row*>> groups;
  std::vector<std::string> order;
  for (const Row& r : in.rows) {
    std::string key;
    for (const auto& f : r.fields())
      if (!is_figure(f)) key += f.first + "=" + bench::to_json(f.second) + ";";
    auto [it, fresh] = groups.try_emplace(key);
    if (fresh) order.push_back(key);
    it->second.push_back(&r);
  }
  Rows out;
  for (const std::string& key : order) {
    const std::vector<const Row*>& g = groups[key];
    Row m;
    for (const auto& f : g[0]->fields()) {
      if (!is_figure(f)) {
        std::visit([&](const auto& v) { m.set(f.first, v); }, f.second);
        continue;
      }
      std::vector<double> vs;
      for (const Row* r : g)
        for (const auto& x : r->fields())
          if (x.first == f.first)
            vs.push_back(std::holds_alternative<int64_t>(x.second)
                             ? static_cast<double>(std::get<int64_t>(x.second))
                             : std::get<double>(x.second));
      std::sort(vs.begin(), vs.end());
      const double med = vs[(vs.size() - 1) / 2];
      if (std::holds_alternative<int64_t>(f.second))
        m.set(f.first, static_cast<int64_t>(med));
      else
        m.set(f.first, med);
    }
    if (g.size() > 1) m.set("rounds", static_cast<uint64_t>(g.size()));
    out.rows.push_back(m);
  }
  return out;
}

std::string write_outputs(const Options& o, const Rows& in, const std::string& command,
                          double elapsed_s) {
  const std::string& dir = o.out;
  // Every latency of experiment 1 as a multiple of the floor at the same size, in the same run.
  Rows rows = in;
  for (Row& r : rows.rows) {
    if (exp_of(r) != 1 || str(r, "kind") == "floor") continue;
    for (const Row& f : in.rows)
      if (exp_of(f) == 1 && str(f, "kind") == "floor" && num(f, "size") == num(r, "size"))
        r.set("vs_floor_p50", num(r, "p50_ns") / num(f, "p50_ns"));
  }
  {
    std::ofstream j(dir + "/results.jsonl");
    for (const Row& r : rows.rows) j << bench::json_line("clio-compare", r) << "\n";
  }
  std::set<int> exps;
  for (const Row& r : rows.rows) exps.insert(exp_of(r));
  for (int e : exps) write_csv(dir + "/exp" + std::to_string(e) + ".csv", select(rows, e));

  // Plots.
  const double kUs = 1e-3;
  for (int e : exps) {
    Plot p;
    p.title = kTitles[e];
    p.ylabel = "latency (us): p50, bar to p99";
    if (e == 1) {
      p.xlabel = "request size (bytes)";
      p.logx = true;
      p.logy = true;
      p.series = series_of(rows, 1, "size", "p50_ns", "p99_ns", kUs);
      p.references = {
          {"paper: Clio read (FPGA, 10 Gbps)", {{{4, 2.50, 2.50}}, {{4096, 7.13, 7.13}}}},
          {"paper: Clio write", {{{4, 2.31, 2.31}}, {{4096, 6.43, 6.43}}}}};
    } else if (e == 2) {
      p.xlabel = "client address spaces (each its own endpoint)";
      p.logx = true;
      p.series = series_of(rows, 2, "clients", "p50_ns", "p99_ns", kUs);
    } else if (e == 3) {
      p.xlabel = "mapped pages of 4 KiB";
      p.logx = true;
      p.series = series_of(rows, 3, "pages", "p50_ns", "p99_ns", kUs);
    } else if (e == 4) {
      p.xlabel = "access";
      p.logy = true;
      p.xtics = {"tlb-hit",     "tlb-miss",       "tlb-miss-paced",
                 "first-touch", "first-touch-4M", "read-under-faults"};
      std::map<std::string, Series> by;
      for (const Row* r : select(rows, 4)) {
        const auto it = std::find(p.xtics.begin(), p.xtics.end(), str(*r, "op"));
        Series& s = by[str(*r, "system")];
        s.title = str(*r, "system");
        s.points.push_back({static_cast<double>(it - p.xtics.begin()), num(*r, "p50_ns") * kUs,
                            num(*r, "p99_ns") * kUs});
      }
      for (auto& [k, s] : by) {
        std::sort(s.points.begin(), s.points.end());
        p.series.push_back(s);
      }
      p.references = {
          {"paper: Clio TLB miss = fault, 2.719 us", {{{1, 2.719, 2.719}}, {{2, 2.719, 2.719}}}}};
    } else if (e == 5) {
      p.xlabel = "queue depth (threads = 1)";
      p.ylabel = "requests per second";
      p.logx = true;
      p.series = series_of(rows, 5, "depth", "ops_per_s", "", 1,
                           [](const Row& r) { return num(r, "threads") == 1; });
    } else if (e == 6) {
      p.xlabel = "allocation size (MiB)";
      p.logx = true;
      p.logy = true;
      p.series = series_of(rows, 6, "size", "p50_ns", "p99_ns", kUs, [](const Row& r) {
        return str(r, "op") == "ralloc" || str(r, "op") == "rfree" || str(r, "op") == "reg_mr" ||
               str(r, "op") == "dereg_mr";
      });
      for (Series& s : p.series)
        for (auto& pt : s.points) pt[0] /= 1 << 20;
      p.references = {{"paper: Clio ralloc 36-320 us", {{{4, 36, 36}}, {{1024, 320, 320}}}}};
    }
    write_plot(dir, e, p);
  }

  // The report.
  const auto vs = verdicts(o, rows);
  std::ofstream md(dir + "/report.md");
  md << "# clio-compare report\n\n"
     << "- Machine: " << machine() << "\n"
     << "- Commit: " << o.commit << "\n"
     << "- Command: `" << command << "`\n"
     << "- Transport: " << o.transport << "; designs: ";
  for (size_t i = 0; i < o.designs.size(); ++i) md << (i ? ", " : "") << o.designs[i];
  md << "; anchors: ";
  for (size_t i = 0; i < o.anchors.size(); ++i) md << (i ? ", " : "") << o.anchors[i];
  md << "\n- Rounds: " << o.rounds
     << (o.rounds > 1 ? " (every step run that many times, interleaved; each figure is the median "
                        "over the rounds)"
                      : "")
     << "\n- Elapsed: " << fmt("%.0f s", elapsed_s) << "\n\n"
     << "How it was measured: one client thread pinned to CPU " << o.client_cpu
     << ", the memory node's one worker pinned to CPU " << o.mn_cpu
     << " and busy-polling (memcached and Redis sleep in epoll between requests; Redis is "
        "single-threaded, memcached runs -t 1, as the MN's one worker). Only one memory node runs "
        "at a time: each design's step starts its own and stops it. Points are interleaved: for "
        "each point every system runs once, in an order rotated from point to point. Latency is "
        "per synchronous request (p50, p99, p99.9); throughput over a fixed time. In experiment "
        "5, clio's asynchronous rows keep a window of the queue depth as two batches of half of "
        "it (rbatch_begin/rbatch_end: over udp, a batch of equal requests is one datagram each "
        "way) and reissue whatever a poll finds complete; memcached's multiget and Redis's "
        "pipeline are one batch per round trip at the same depth, as their client libraries "
        "issue them; the floor keeps the same window of clio's packets (80-byte requests, "
        "header + 1 KiB replies) in flight to a bare echo over the same transport, in the same "
        "batches: the most any design could move there.\n\n"
     << "What this machine cannot show, and is not simulated: a SmartNIC's slower cores (pnic "
        "runs on the host's cores), an RDMA NIC's on-chip caches of queue pairs, PTEs and memory "
        "regions (the cause of RDMA's collapse in Figs 4 and 5), and Clio's FPGA pipeline (clio "
        "runs its fast path in software on a CPU core).\n\n"
     << "## Verdicts\n\n| claim | rule | figures | verdict |\n|---|---|---|---|\n";
  for (const Verdict& x : vs)
    md << "| " << x.claim << " | " << x.rule << " | " << x.figures << " | " << x.verdict << " |\n";
  for (int e : exps) {
    md << "\n## " << kTitles[e] << "\n\n![experiment " << e << "](exp" << e << ".png)\n\n"
       << "Raw data: [exp" << e << ".csv](exp" << e << ".csv) (and every row in results.jsonl)."
       << "\n\n";
    const auto rs = select(rows, e);
    std::vector<std::string> cols;
    for (const auto& c : columns(rs))
      if (c != "experiment" && c != "kind" && c != "max_ns") cols.push_back(c);
    md << "|";
    for (const auto& c : cols) md << " " << c << " |";
    md << "\n|";
    for (size_t i = 0; i < cols.size(); ++i) md << "---|";
    md << "\n";
    for (const Row* r : rs) {
      md << "|";
      for (const auto& c : cols) md << " " << str(*r, c) << " |";
      md << "\n";
    }
  }
  md.close();

  // The summary for the terminal: the designs side by side at each experiment's headline point.
  std::ostringstream s;
  s << "\nclio-compare summary (" << o.transport << "; latency in us, p50 unless named)\n";
  std::vector<std::string> cols = o.designs;
  for (const auto& a : {"memcached", "redis"})
    if (o.has_anchor(a)) cols.push_back(a);
  char line[512];
  std::snprintf(line, sizeof line, "%-38s", "");
  s << line;
  for (const auto& c : cols) {
    std::snprintf(line, sizeof line, "%12s", c.c_str());
    s << line;
  }
  s << "\n";
  auto row_of = [&](const std::string& label,
                    const std::function<std::string(const std::string&)>& f) {
    std::snprintf(line, sizeof line, "%-38s", label.c_str());
    s << line;
    for (const auto& c : cols) {
      std::snprintf(line, sizeof line, "%12s", f(c).c_str());
      s << line;
    }
    s << "\n";
  };
  auto best = [&](int e, const std::string& sys, const std::function<bool(const Row&)>& keep,
                  const std::string& xkey) -> const Row* {
    const Row* out = nullptr;
    for (const Row* r : select(rows, e, sys))
      if (keep(*r) && (out == nullptr || num(*r, xkey) > num(*out, xkey))) out = r;
    return out;
  };
  if (exps.count(1)) {
    for (const char* what : {"read", "write"}) {
      const bool rd = std::string(what) == "read";
      double size = 0;
      for (const Row* r : select(rows, 1)) size = std::max(size, std::min(num(*r, "size"), 1024.0));
      row_of(std::string("1: ") + what + " " + fmt("%.0f B", size), [&](const std::string& c) {
        const Row* r = best(
            1, c,
            [&](const Row& x) {
              const std::string op = str(x, "op");
              return num(x, "size") == size &&
                     (rd ? (op == "read" || op == "get" || op == "getrange")
                         : (op == "write" || op == "set" || op == "setrange"));
            },
            "size");
        return r ? us(num(*r, "p50_ns")) : std::string("-");
      });
    }
  }
  if (exps.count(2))
    row_of("2: read at the most clients", [&](const std::string& c) {
      const Row* r = best(
          2, c, [](const Row&) { return true; }, "clients");
      return r ? us(num(*r, "p50_ns")) + "@" + str(*r, "clients") : std::string("-");
    });
  if (exps.count(2))
    row_of("2: MN metadata bytes per client", [&](const std::string& c) {
      const Row* r = best(
          2, c, [](const Row&) { return true; }, "clients");
      return r ? fmt("%.0f", num(*r, "mn_metadata_per_client")) : std::string("-");
    });
  if (exps.count(3))
    row_of("3: read at the most pages", [&](const std::string& c) {
      const Row* r = best(
          3, c, [](const Row&) { return true; }, "pages");
      return r ? us(num(*r, "p50_ns")) + "@2^" + str(*r, "pages_log2") : std::string("-");
    });
  if (exps.count(4))
    for (const char* k :
         {"tlb-miss", "tlb-miss-paced", "first-touch", "first-touch-4M", "read-under-faults"})
      row_of(std::string("4: ") + k + " p99", [&](const std::string& c) {
        const Row* r = best(
            4, c, [&](const Row& x) { return str(x, "op") == k; }, "size");
        return r ? us(num(*r, "p99_ns")) : std::string("-");
      });
  if (exps.count(5))
    row_of("5: reads/s at the deepest queue", [&](const std::string& c) {
      const Row* r = best(
          5, c,
          [](const Row& x) {
            const std::string op = str(x, "op");
            return num(x, "threads") == 1 && (op.rfind("read", 0) == 0 || op == "get" ||
                                              op == "multiget" || op == "getrange");
          },
          "depth");
      return r ? fmt("%.0f", num(*r, "ops_per_s")) : std::string("-");
    });
  if (exps.count(6))
    row_of("6: ralloc of the largest size", [&](const std::string& c) {
      const Row* r = best(
          6, c, [](const Row& x) { return str(x, "op") == "ralloc"; }, "size");
      return r ? us(num(*r, "p50_ns")) : std::string("-");
    });
  s << "\nverdicts:\n";
  for (const Verdict& x : vs) s << "  " << x.claim << ": " << x.verdict << "\n";
  return s.str();
}

}  // namespace clio::compare

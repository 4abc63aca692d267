// SPDX-License-Identifier: Apache-2.0
// soak: a long, shadow-checked run of mixed operations through CLib, to show that no
// acknowledged write is lost and no atomic runs twice over any run length. Not a ctest.
//
// Memory: a region of 8-byte data words (asynchronous reads and writes, up to --depth in
// flight; CLib orders overlapping requests, so each one sees the shadow as it was when issued)
// and a region of counters (synchronous fetch-and-add and compare-and-swap). Every answer is
// checked against the local shadow as it arrives, and the whole of both regions is read back
// at the end:
//   lost writes        a read (or the final read-back) saw an older value than the last write
//                      the MN acknowledged
//   double executions  a counter above the acknowledged increments, or an atomic that returned
//                      what it would return only had an earlier one run again
//   lost atomics       a counter below the acknowledged increments
//   -EIO               requests the MN refused as unprovable (kStale); their outcome is
//                      unknown, so the word (or counter) is not checked until rewritten
// Exits 1 when any of the first three is non-zero or a call failed with another error.
//
//   soak --mn inproc --faults default --ops 50000000
//   soak --mn spawn-udp --ops 50000000
#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/mn_target.h"
#include "bench/options.h"
#include "clio/client.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rng.h"
#include "mn/memory_node.h"
#include "mn/server.h"
#include "tests/support/embedded_mn.h"

namespace po = boost::program_options;
using namespace clio;

namespace {

constexpr const char* kDefaultFaults =
    "drop=0.01,dup=0.01,reorder=0.01,reorder_us=50,corrupt=0.002,delay=0.0005,"
    "delay_min_us=2000,delay_max_us=20000";

struct Tally {
  uint64_t reads = 0, writes = 0, faa = 0, cas = 0;
  uint64_t lost_writes = 0, double_exec = 0, lost_atomics = 0, eio = 0, other_errors = 0;
  uint64_t ops() const { return reads + writes + faa + cas; }
};

/// One asynchronous request in flight.
struct Slot {
  bool active = false;
  bool write = false;
  uint64_t word = 0;
  uint64_t value = 0;    ///< written, or expected (reads)
  bool checked = false;  ///< reads: the expected value is known
  uint64_t buf = 0;
};

int run(Client& c, const po::variables_map& vm) {
  const uint64_t ops = vm["ops"].as<uint64_t>();
  const uint64_t words = vm["words"].as<uint64_t>();
  const uint64_t counters = vm["counters"].as<uint64_t>();
  const size_t depth = std::max<size_t>(1, vm["depth"].as<size_t>());
  Rng rng(vm["seed"].as<uint64_t>());

  uint64_t data = 0, ctr = 0;
  if (int rc = c.ralloc(words * 8, &data); rc != 0) {
    std::fprintf(stderr, "soak: ralloc: %s\n", error_string(rc));
    return 1;
  }
  if (int rc = c.ralloc(counters * 8, &ctr); rc != 0) {
    std::fprintf(stderr, "soak: ralloc: %s\n", error_string(rc));
    return 1;
  }
  // Shadow: the value each word holds once everything acknowledged so far has run. A word
  // whose last write got -EIO is unknown until written again.
  std::vector<uint64_t> shadow(words, 0), expect(counters, 0);
  std::vector<bool> known(words, true), counter_known(counters, true);
  std::vector<uint32_t> in_flight(words, 0);  // writes in flight per word
  std::vector<Slot> slots(depth);
  std::vector<Handle> hs(depth);  // hs[k] is slots[k]'s request
  std::vector<int> results(depth);
  Tally t;
  uint64_t next_value = 1;

  auto complete = [&](Slot& s, int rc) {
    if (s.write) {
      --in_flight[s.word];
      if (rc == -EIO) {
        ++t.eio;
        if (in_flight[s.word] == 0) known[s.word] = false;
      } else if (rc != 0) {
        ++t.other_errors;
        std::fprintf(stderr, "soak: write: %s\n", error_string(rc));
      }
      return;
    }
    if (rc != 0) {
      ++t.other_errors;
      std::fprintf(stderr, "soak: read: %s\n", error_string(rc));
    } else if (s.checked && s.buf != s.value) {
      ++t.lost_writes;
      if (t.lost_writes <= 5)
        std::fprintf(stderr, "soak: word %llu read %llx, expected %llx\n",
                     static_cast<unsigned long long>(s.word),
                     static_cast<unsigned long long>(s.buf),
                     static_cast<unsigned long long>(s.value));
    }
  };

  const uint64_t t0 = now_ns();
  uint64_t last_report = t0;
  std::vector<size_t> free(depth);
  for (size_t k = 0; k < depth; ++k) free[k] = k;
  for (uint64_t i = 0; i < ops; ++i) {
    const uint64_t r = rng.below(100);
    if (r < 90) {
      // An asynchronous read or write of a data word: wait for a free slot first.
      if (free.empty()) {
        while (c.rpoll(hs, results) == 0) {
        }
        for (size_t k = 0; k < depth; ++k) {
          if (slots[k].active && !hs[k].valid()) {
            slots[k].active = false;
            complete(slots[k], results[k]);
            free.push_back(k);
          }
        }
      }
      // Slots stay where they are: CLib holds their buffers until the request completes.
      const size_t slot = free.back();
      free.pop_back();
      Slot& s = slots[slot];
      s.active = true;
      s.word = rng.below(words);
      s.write = r < 45;
      int rc;
      if (s.write) {
        s.value = s.buf = next_value++ | (uint64_t{0x5A} << 56);
        shadow[s.word] = s.value;
        known[s.word] = true;
        ++in_flight[s.word];
        ++t.writes;
        rc = c.rwrite_async(data + s.word * 8, &s.buf, 8, &hs[slot]);
      } else {
        s.value = shadow[s.word];
        s.checked = known[s.word];
        s.buf = 0;
        ++t.reads;
        rc = c.rread_async(data + s.word * 8, &s.buf, 8, &hs[slot]);
      }
      if (rc != 0) {
        s.active = false;
        complete(s, rc);
        free.push_back(slot);
      }
    } else {
      const uint64_t k = rng.below(counters);
      const uint64_t addr = ctr + k * 8;
      uint64_t old = 0;
      const bool faa = r < 97 || !counter_known[k];  // a CAS needs the value it expects
      const int rc = faa ? c.rfaa(addr, 1, &old) : c.rcas(addr, expect[k], expect[k] + 1, &old);
      faa ? ++t.faa : ++t.cas;
      if (rc == -EIO) {
        ++t.eio;
        counter_known[k] = false;  // ran once or not at all: settled by the read-back below
        ++expect[k];               // counted as run; the read-back accepts one less
      } else if (rc != 0) {
        ++t.other_errors;
        std::fprintf(stderr, "soak: %s: %s\n", faa ? "faa" : "cas", error_string(rc));
      } else {
        if (counter_known[k] && old != expect[k]) {
          old > expect[k] ? ++t.double_exec : ++t.lost_atomics;
          std::fprintf(stderr, "soak: counter %llu: %s returned %llu, expected %llu\n",
                       static_cast<unsigned long long>(k), faa ? "faa" : "cas",
                       static_cast<unsigned long long>(old),
                       static_cast<unsigned long long>(expect[k]));
        }
        if (!counter_known[k] && faa) expect[k] = old;  // learned the counter's value again
        counter_known[k] = counter_known[k] || faa;
        ++expect[k];
      }
    }
    if ((i & 0xFFFF) == 0 && now_ns() - last_report > 10'000'000'000ull) {
      last_report = now_ns();
      std::fprintf(stderr, "soak: %llu of %llu operations, %.0f ops/s\n",
                   static_cast<unsigned long long>(i), static_cast<unsigned long long>(ops),
                   static_cast<double>(i) * 1e9 / static_cast<double>(last_report - t0));
    }
  }
  for (size_t k = 0; k < depth; ++k)
    if (slots[k].active) complete(slots[k], c.rwait(std::move(hs[k])));
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;

  // Read everything back.
  std::vector<uint64_t> back(std::min<uint64_t>(words, 1024));
  for (uint64_t w = 0; w < words; w += back.size()) {
    const size_t n = std::min<uint64_t>(back.size(), words - w);
    if (int rc = c.rread(data + w * 8, back.data(), n * 8); rc != 0) {
      std::fprintf(stderr, "soak: read-back: %s\n", error_string(rc));
      ++t.other_errors;
      break;
    }
    for (size_t j = 0; j < n; ++j)
      if (known[w + j] && back[j] != shadow[w + j]) ++t.lost_writes;
  }
  for (uint64_t k = 0; k < counters; ++k) {
    uint64_t v = 0;
    if (int rc = c.rread(ctr + k * 8, &v, 8); rc != 0) {
      ++t.other_errors;
      continue;
    }
    if (v > expect[k]) {
      t.double_exec += v - expect[k];
    } else if (v < expect[k] && (counter_known[k] || v + 1 < expect[k])) {
      t.lost_atomics += expect[k] - v;
    }
  }

  const ClientCounters& k = c.counters();
  std::printf(
      "soak: %llu operations (%llu reads, %llu writes, %llu faa, %llu cas) in %.1f s, "
      "%.0f ops/s\n",
      static_cast<unsigned long long>(t.ops()), static_cast<unsigned long long>(t.reads),
      static_cast<unsigned long long>(t.writes), static_cast<unsigned long long>(t.faa),
      static_cast<unsigned long long>(t.cas), secs, static_cast<double>(t.ops()) / secs);
  std::printf(
      "soak: lost writes %llu, double executions %llu, lost atomics %llu, -EIO %llu, "
      "other errors %llu\n",
      static_cast<unsigned long long>(t.lost_writes),
      static_cast<unsigned long long>(t.double_exec),
      static_cast<unsigned long long>(t.lost_atomics), static_cast<unsigned long long>(t.eio),
      static_cast<unsigned long long>(t.other_errors));
  std::printf("soak: client retransmissions %llu, NACKs %llu\n",
              static_cast<unsigned long long>(k.retransmissions),
              static_cast<unsigned long long>(k.nacks));
  return t.lost_writes + t.double_exec + t.lost_atomics + t.other_errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("Options");
  opts.add_options()("help,h", "show this help and exit")(
      "mn", po::value<std::string>()->default_value("inproc"),
      "inproc (embedded, with --faults), spawn-udp (a clio-mn child over UDP loopback), udp, or "
      "a locator")(
      "faults", po::value<std::string>()->default_value(""),
      "inproc only: the fault injector's settings, or 'default' for 1% drop, 1% duplicates, "
      "1% reordering, 0.2% corruption and 0.05% of packets delayed 2-20 ms")(
      "ops", po::value<uint64_t>()->default_value(50'000'000), "operations")(
      "depth", po::value<size_t>()->default_value(16), "asynchronous requests in flight")(
      "words", po::value<uint64_t>()->default_value(1 << 20), "8-byte data words")(
      "counters", po::value<uint64_t>()->default_value(4096), "8-byte counters")(
      "dedup-entries", po::value<size_t>()->default_value(0),
      "inproc: the MN's records per worker (0: default)")(
      "rto-us", po::value<uint64_t>()->default_value(1000), "CLib's lowest retransmission timeout")(
      "seed", po::value<uint64_t>()->default_value(1), "workload seed");
  po::variables_map vm;
  if (const int rc = bench::parse_options("soak", argc, argv, opts, &vm, bench::MnTarget::help());
      rc >= 0)
    return rc;
  set_log_level(LogLevel::kWarn);
  const std::string how = vm["mn"].as<std::string>();
  std::string faults = vm["faults"].as<std::string>();
  if (faults == "default") faults = kDefaultFaults;
  try {
    std::unique_ptr<testing::EmbeddedMn> embedded;
    std::unique_ptr<bench::MnTarget> target;
    std::string locator;
    if (how == "inproc") {
      mn::ServerConfig sc = testing::EmbeddedMn::serving("inproc:name=soak,poll=sleep" +
                                                         (faults.empty() ? "" : "," + faults));
      sc.dedup_entries = vm["dedup-entries"].as<size_t>();
      embedded = std::make_unique<testing::EmbeddedMn>(
          testing::EmbeddedMn::small_node(uint64_t{1} << 30), sc);
      locator = embedded->locator();
    } else {
      if (!faults.empty()) {
        std::fprintf(stderr, "soak: --faults needs --mn inproc\n");
        return 2;
      }
      bench::TargetOptions to;
      to.page_bytes = 4096;
      target = std::make_unique<bench::MnTarget>(how, to);
      locator = target->locator();
    }
    std::unique_ptr<Client> c;
    const std::string opts_str =
        ",rto_us=" + std::to_string(vm["rto-us"].as<uint64_t>()) + ",deadline_ms=30000";
    if (int rc = Client::open(locator + opts_str, &c); rc != 0) {
      std::fprintf(stderr, "soak: open %s: %s\n", locator.c_str(), error_string(rc));
      return 1;
    }
    std::printf("soak: %s%s%s\n", how.c_str(), faults.empty() ? "" : " with faults ",
                faults.c_str());
    return run(*c, vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak: %s\n", e.what());
    return 1;
  }
}

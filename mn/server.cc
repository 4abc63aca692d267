// SPDX-License-Identifier: Apache-2.0
#include "mn/server.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>

#include "common/log.h"
#include "common/units.h"
#include "mn/server_net_thread.h"
#include "verbs_shim/registry.h"

namespace clio::mn {

uint64_t ServerStats::dropped_total() const {
  uint64_t n = 0;
  for (uint64_t d : dropped) n += d;
  return n;
}

MnServer::MnServer(MemoryNode& mn, const ServerConfig& cfg) : mn_(mn), cfg_(cfg) {
  if (cfg_.workers < 1 || cfg_.workers > mn.config().max_workers)
    throw ConfigError("workers " + std::to_string(cfg_.workers) + ": must be from 1 to " +
                      std::to_string(mn.config().max_workers));
  if (cfg_.max_packet_lifetime_ms == 0 || cfg_.max_packet_lifetime_ms > 600'000)
    throw ConfigError("max packet lifetime " + std::to_string(cfg_.max_packet_lifetime_ms) +
                      " ms: must be from 1 ms to 10 minutes");
  if (cfg_.max_sessions < 1 || cfg_.max_sessions > (size_t{1} << 24))
    throw ConfigError("max sessions " + std::to_string(cfg_.max_sessions) +
                      ": must be from 1 to 2^24 per worker");
  if (cfg_.session_buffer_bytes < 64 || cfg_.session_buffer_bytes > (size_t{1} << 20))
    throw ConfigError("session buffer " + std::to_string(cfg_.session_buffer_bytes) +
                      " bytes: must be from 64 B to 1 MiB");
  if (cfg_.token_epoch_shift < 4 || cfg_.token_epoch_shift > 30)
    throw ConfigError("token epoch shift must be from 4 to 30");
  const size_t entries =
      cfg_.dedup_entries != 0
          ? cfg_.dedup_entries
          : std::bit_ceil(kDedupSizingRate *
                          (kDedupSizingDeadlineMs + cfg_.max_packet_lifetime_ms) / 1000);
  if (entries > (size_t{1} << 30))
    throw ConfigError("dedup entries " + std::to_string(entries) + ": at most 2^30 per worker");
  token_key_ = random_sip_key();
  // Thread 0 binds first; the others bind where it did (a udp port=0 is resolved by then).
  std::string where = cfg_.listen;
  for (unsigned i = 0; i < cfg_.workers; ++i) {
    auto t = net::listen(where, i, cfg_.workers);
    if (i == 0) {
      where = t->member_locator();
      locator_ = t->locator();
    }
    threads_.push_back(std::make_unique<NetThread>(std::move(t), mn_.add_fast_path(), entries,
                                                   mn.config().max_ras));
    if (mn.design().sessions)
      threads_.back()->sessions =
          std::make_unique<SessionTable>(cfg_.max_sessions, cfg_.session_buffer_bytes);
    if (!cfg_.cpus.empty()) threads_.back()->cpu = cfg_.cpus[i % cfg_.cpus.size()];
  }
  for (auto& nt : threads_) nt->thread = std::thread([this, s = nt.get()] { run(*s); });
  CLIO_LOG(INFO, "mn", "serving %s with %u worker%s", locator_.c_str(), cfg_.workers,
           cfg_.workers == 1 ? "" : "s");
}

MnServer::~MnServer() {
  stop_.store(true, std::memory_order_release);
  for (auto& nt : threads_) nt->thread.join();
}

ServerStats MnServer::stats() const {
  ServerStats s;
  auto ld = [](const uint64_t& v) {
    return std::atomic_ref(const_cast<uint64_t&>(v)).load(std::memory_order_relaxed);
  };
  for (const auto& nt : threads_) {
    const Counters& c = nt->counters;
    for (size_t i = 0; i < s.requests.size(); ++i) s.requests[i] += ld(c.requests[i]);
    for (size_t i = 0; i < s.dropped.size(); ++i) s.dropped[i] += ld(c.dropped[i]);
#define CLIO_X(name, report, doc) s.name += ld(c.name);
    CLIO_SERVER_COUNTERS(CLIO_X)
#undef CLIO_X
    s.dedup_capacity += nt->dedup.capacity();
    const uint64_t last = ld(c.last_evicted_ms);
    if (last != 0) {
      const uint64_t now = now_ns() / 1'000'000 + 1;
      s.min_horizon_ms = std::min(s.min_horizon_ms, now > last ? now - last : 0);
    }
  }
  return s;
}

std::string MnServer::report() const {
  const ServerStats s = stats();
  const MnStats m = mn_.stats();
  std::string r;
  char line[256];
  auto add = [&](const char* fmt, auto... args) {
    if constexpr (sizeof...(args) == 0) {
      r += fmt;  // nothing to format (and no format string that is not a literal)
    } else {
      std::snprintf(line, sizeof line, fmt, args...);
      r += line;
    }
  };
  add("clio-mn statistics (%s)\n", locator_.c_str());
  add("  requests:");
  for (size_t op = 0; op < s.requests.size(); ++op)
    if (s.requests[op] != 0)
      add(" %s=%" PRIu64, wire::opcode_name(static_cast<wire::Opcode>(op)), s.requests[op]);
  // Each counter of a line prints its own piece (see the lists in server.h, memory_node.h and
  // fast_path.h); "" pieces are printed elsewhere or not at all.
  auto piece = [&](const char* fmt, uint64_t v) {
    if (*fmt != '\0') add(fmt, v);
  };
  add("\n ");
#define CLIO_X(name, report, doc) piece(report, s.name);
  CLIO_SERVER_REPLY_COUNTERS(CLIO_X)
  add("\n  refused:");
  CLIO_SERVER_REFUSAL_COUNTERS(CLIO_X)
#undef CLIO_X
  add("\n");
  if (s.min_horizon_ms == UINT64_MAX) {
    add("  records: %" PRIu64 " of %" PRIu64 ", none evicted (horizon unbounded)\n",
        s.dedup_entries, s.dedup_capacity);
  } else {
    add("  records: %" PRIu64 " of %" PRIu64 ", evictions=%" PRIu64 " (below fair share %" PRIu64
        "), shortest horizon %" PRIu64 " ms (max packet lifetime %" PRIu64 " ms)\n",
        s.dedup_entries, s.dedup_capacity, s.dedup_evictions, s.dedup_unfair_evictions,
        s.min_horizon_ms, cfg_.max_packet_lifetime_ms);
  }
  add("  dropped=%" PRIu64, s.dropped_total() + s.stray_replies);
  for (size_t i = 0; i < s.dropped.size(); ++i)
    if (s.dropped[i] != 0)
      add(" %s=%" PRIu64, status_name(static_cast<Status>(kFirstDropStatus + i)), s.dropped[i]);
  if (s.stray_replies != 0) add(" stray-replies=%" PRIu64, s.stray_replies);
  add("\n ");
#define CLIO_X(name, report, doc) piece(report, m.fast.name);
  CLIO_FAST_PATH_COUNTERS(CLIO_X)
#undef CLIO_X
  add("\n");
  add("  pages: %" PRIu64 " total, %" PRIu64 " free, %" PRIu64 " queued, %" PRIu64
      " mapped (%s pages)\n",
      m.pages_total, m.pages_free, m.pages_queued, m.pages_mapped,
      format_size(m.page_bytes).c_str());
  if (m.pt_slots != 0) {
    add("  page table: %" PRIu64 " of %" PRIu64 " slots used (%.2f%%), %s = %.4f%% of the pool\n",
        m.pt_slots_used, m.pt_slots,
        100.0 * static_cast<double>(m.pt_slots_used) / static_cast<double>(m.pt_slots),
        format_size(m.pt_bytes).c_str(), 100.0 * m.pt_share);
  } else {
    add("  design %s: page table %s = %.4f%% of the pool\n", mn_.design().name,
        format_size(m.pt_bytes).c_str(), 100.0 * m.pt_share);
  }
  if (mn_.design().sessions)
    add("  sessions=%" PRIu64 " (%s) takeovers=%" PRIu64 "\n", s.sessions,
        format_size(s.session_bytes).c_str(), s.session_takeovers);
#define CLIO_X(name, report, doc) piece(report, m.name);
  CLIO_MN_SLOW_PATH_COUNTERS(CLIO_X)
#undef CLIO_X
  add("\n");
  return r;
}

}  // namespace clio::mn

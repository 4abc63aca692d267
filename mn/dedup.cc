// SPDX-License-Identifier: Apache-2.0
#include "mn/dedup.h"

#include <algorithm>
#include <bit>

#include "common/check.h"

namespace clio::mn {
namespace {

uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace

uint64_t request_digest(uint8_t opcode, uint8_t flags, uint32_t pid, uint32_t length, uint64_t va,
                        uint64_t key, uint64_t arg0, uint64_t arg1, uint32_t payload_crc) {
  // Not a MAC: the requester is already authenticated by its key; this only tells two different
  // requests apart. Each field is folded in at its own odd multiplier.
  uint64_t h = (uint64_t{opcode} | uint64_t{flags} << 8 | uint64_t{payload_crc} << 32) ^
               (uint64_t{pid} << 32 | length) * 0x9E3779B97F4A7C15ull;
  h = mix(h ^ va * 0xC2B2AE3D27D4EB4Full);
  h = mix(h ^ key * 0x165667B19E3779F9ull);
  h = mix(h ^ arg0 * 0x27D4EB2F165667C5ull ^ std::rotl(arg1, 29));
  return h;
}

DedupTable::DedupTable(size_t capacity, uint32_t max_pids)
    : cap_(std::bit_ceil(std::max<size_t>(capacity, 16))),
      max_pids_(std::max<uint32_t>(max_pids, 1)),
      entries_mem_(cap_ * sizeof(DedupEntry), true, "dedup table"),
      index_mem_(2 * cap_ * sizeof(uint64_t), true, "dedup index"),
      parts_mem_(size_t{max_pids_} * sizeof(Partition), false, "dedup partitions"),
      active_mem_(size_t{max_pids_} * sizeof(uint32_t), false, "dedup partitions"),
      entries_(static_cast<DedupEntry*>(entries_mem_.data())),
      index_(static_cast<uint64_t*>(index_mem_.data())),
      parts_(static_cast<Partition*>(parts_mem_.data())),
      active_(static_cast<uint32_t*>(active_mem_.data())) {
  CLIO_CHECK(cap_ <= (uint64_t{1} << 30));  // slots (2 x cap_) fit the 32 hash bits kept
  // Fresh anonymous mappings read as zero: every entry free, every partition empty. Touch them
  // now (on huge pages where the host has them), so that no request pays a page fault.
  for (MappedMemory* m : {&entries_mem_, &index_mem_, &parts_mem_, &active_mem_}) {
    auto* b = static_cast<volatile uint8_t*>(m->data());
    for (size_t at = 0; at < m->size(); at += 4096) b[at] = 0;
  }
}

uint64_t DedupTable::hash_of(uint64_t session, uint64_t seq) {
  return mix(session ^ seq * 0x9E3779B97F4A7C15ull);
}

namespace {
inline uint32_t tag_of(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
inline uint32_t entry_of(uint64_t v) { return static_cast<uint32_t>(v); }  // index + 1
}  // namespace

const DedupEntry* DedupTable::find(uint64_t session, uint64_t seq) const {
  const size_t mask = 2 * cap_ - 1;
  const uint64_t h = hash_of(session, seq);
  const uint32_t tag = static_cast<uint32_t>(h);
  for (uint64_t s = h & mask;; s = (s + 1) & mask) {
    const uint64_t v = index_[s];
    if (v == 0) return nullptr;
    if (tag_of(v) != tag) continue;  // not it: no need to read the entry
    const DedupEntry& e = entries_[entry_of(v) - 1];
    if (e.seq == seq && e.session == session) return &e;
  }
}

void DedupTable::unindex(uint32_t entry) {
  const DedupEntry& e = entries_[entry];
  const size_t mask = 2 * cap_ - 1;
  uint64_t s = hash_of(e.session, e.seq) & mask;
  while (entry_of(index_[s]) != entry + 1) {
    CLIO_DCHECK(index_[s] != 0);
    s = (s + 1) & mask;
  }
  // Backward-shift deletion keeps every probe sequence unbroken without tombstones. Each
  // occupant's home slot comes from the hash bits kept beside it (mask < 2^32).
  uint64_t hole = s;
  for (uint64_t j = (s + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
    const uint64_t home = tag_of(index_[j]) & mask;
    // Move j into the hole unless its home lies cyclically in (hole, j].
    const bool home_between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!home_between) {
      index_[hole] = index_[j];
      hole = j;
    }
  }
  index_[hole] = 0;
}

void DedupTable::prefetch_evictions(uint32_t pid, uint32_t n) const {
  if (next_fresh_ < cap_ || pid >= max_pids_) return;  // not full: nothing will be evicted
  const size_t mask = 2 * cap_ - 1;
  for (uint32_t at = parts_[pid].head; at != 0 && n-- > 0;) {
    const DedupEntry& e = entries_[at - 1];
    __builtin_prefetch(&index_[hash_of(e.session, e.seq) & mask], 1);
    at = e.next;
  }
}

uint32_t DedupTable::evict_oldest(uint32_t pid) {
  Partition& p = parts_[pid];
  CLIO_DCHECK(p.count != 0);
  const uint32_t victim = p.head - 1;
  DedupEntry& e = entries_[victim];
  unindex(victim);
  p.head = e.next;
  if (p.head == 0) p.tail = 0;
  p.evicted_upto_ms = std::max(p.evicted_upto_ms, e.at_ms);
  last_evicted_ms_ = std::max(last_evicted_ms_, e.at_ms);
  if (--p.count == 0) {  // leaves the active list (swap with the last)
    const uint32_t last = active_[--nactive_];
    active_[p.active_pos] = last;
    parts_[last].active_pos = p.active_pos;
  }
  --count_;
  ++evictions_;
  return victim;
}

uint32_t DedupTable::pick_victim(uint32_t pid) {
  const Partition& mine = parts_[pid];
  const uint64_t holders = nactive_ + (mine.count == 0 ? 1 : 0);
  const uint64_t share = std::max<uint64_t>(1, cap_ / holders);
  if (mine.count >= share) return pid;  // at its share: it pays for its own new record
  // Below its share, so some other pid holds more than its share (the pool is full): find one,
  // resuming where the last search stopped, so that repeated steals cost O(1) on average.
  for (uint32_t k = 0; k < nactive_; ++k) {
    const uint32_t cand = active_[(cursor_ + k) % nactive_];
    if (cand != pid && parts_[cand].count > share) {
      cursor_ = (cursor_ + k) % nactive_;
      return cand;
    }
  }
  // Only when the pool is smaller than the number of holders: take from whoever is next.
  ++unfair_evictions_;
  for (uint32_t k = 0; k < nactive_; ++k) {
    const uint32_t cand = active_[(cursor_ + k) % nactive_];
    if (cand != pid) {
      cursor_ = (cursor_ + k + 1) % nactive_;
      return cand;
    }
  }
  return pid;
}

void DedupTable::insert(const DedupEntry& in) {
  CLIO_DCHECK(in.session != 0 && in.at_ms != 0);
  const uint32_t pid = in.pid < max_pids_ ? in.pid : 0;
  uint32_t idx;
  if (next_fresh_ < cap_) {
    idx = next_fresh_++;
  } else {
    idx = evict_oldest(pick_victim(pid));
  }
  DedupEntry& e = entries_[idx];
  e = in;
  e.pid = pid;
  e.next = 0;
  Partition& p = parts_[pid];
  if (p.tail != 0) {
    entries_[p.tail - 1].next = idx + 1;
  } else {
    p.head = idx + 1;
  }
  p.tail = idx + 1;
  if (p.count++ == 0) {
    p.active_pos = nactive_;
    active_[nactive_++] = pid;
  }
  ++count_;
  const size_t mask = 2 * cap_ - 1;
  const uint64_t h = hash_of(e.session, e.seq);
  uint64_t s = h & mask;
  while (index_[s] != 0) s = (s + 1) & mask;
  index_[s] = (h << 32) | (idx + 1);
}

}  // namespace clio::mn

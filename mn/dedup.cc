#include "mn/dedup.h"

#include <bit>

#include "common/check.h"

namespace clio::mn {

DedupTable::DedupTable(size_t capacity)
    : ring_(std::bit_ceil(capacity < 16 ? size_t{16} : capacity)),
      index_(2 * ring_.size(), 0) {}

uint64_t DedupTable::slot_of(uint32_t pid, uint64_t family) const {
  uint64_t h = family ^ (static_cast<uint64_t>(pid) * 0x9E3779B97F4A7C15ull);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h & (index_.size() - 1);
}

const DedupEntry* DedupTable::find(uint32_t pid, uint64_t family) const {
  const size_t mask = index_.size() - 1;
  for (uint64_t s = slot_of(pid, family);; s = (s + 1) & mask) {
    const uint32_t v = index_[s];
    if (v == 0) return nullptr;
    const DedupEntry& e = ring_[v - 1];
    if (e.family == family && e.pid == pid) return &e;
  }
}

void DedupTable::erase_index(uint32_t ring_pos) {
  const DedupEntry& e = ring_[ring_pos];
  const size_t mask = index_.size() - 1;
  uint64_t s = slot_of(e.pid, e.family);
  while (index_[s] != ring_pos + 1) {
    CLIO_DCHECK(index_[s] != 0);
    s = (s + 1) & mask;
  }
  // Backward-shift deletion keeps every probe sequence unbroken without tombstones.
  uint64_t hole = s;
  for (uint64_t j = (s + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
    const DedupEntry& m = ring_[index_[j] - 1];
    const uint64_t home = slot_of(m.pid, m.family);
    // Move j into the hole unless its home lies cyclically in (hole, j].
    const bool home_between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!home_between) {
      index_[hole] = index_[j];
      hole = j;
    }
  }
  index_[hole] = 0;
}

void DedupTable::insert(const DedupEntry& e) {
  CLIO_DCHECK(e.family != 0);
  const size_t cap = ring_.size();
  if (count_ == cap) {
    erase_index(static_cast<uint32_t>(head_));
    head_ = (head_ + 1) & (cap - 1);
    --count_;
    ++evictions_;
  }
  const size_t pos = (head_ + count_) & (cap - 1);
  ring_[pos] = e;
  ++count_;
  const size_t mask = index_.size() - 1;
  uint64_t s = slot_of(e.pid, e.family);
  while (index_[s] != 0) s = (s + 1) & mask;
  index_[s] = static_cast<uint32_t>(pos + 1);
}

}  // namespace clio::mn

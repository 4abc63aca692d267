// SPDX-License-Identifier: Apache-2.0
#include "mn/address_spaces.h"

#include <algorithm>

namespace clio::mn {

AddressSpaces::AddressSpaces(uint32_t max_ras, int page_shift, const PageTable& table,
                             uint64_t seed, uint64_t quota_pages, uint64_t quota_slots)
    : max_ras_(max_ras),
      page_shift_(page_shift),
      table_(table),
      quota_pages_(quota_pages),
      quota_slots_(quota_slots),
      keys_memory_(sizeof(Keys) * max_ras, /*huge=*/false, "address-space keys"),
      keys_(static_cast<Keys*>(keys_memory_.data())),
      renewed_ms_(new std::atomic<uint64_t>[max_ras]()),
      rng_(seed) {}

bool AddressSpaces::renew(uint32_t pid, uint64_t key, uint64_t now_ms) {
  if (pid == 0 || pid >= max_ras_ || key == 0 || key != key_rw(pid)) return false;
  touch(pid, now_ms);
  return true;
}

Status AddressSpaces::create(uint64_t now_ms, uint32_t* pid_out, uint64_t* key_rw,
                             uint64_t* key_ro) {
  uint32_t pid;
  if (next_pid_ < max_ras_) {
    pid = next_pid_++;
  } else if (!free_pids_.empty()) {
    pid = free_pids_.front();  // oldest first: a stale client's pid stays dead for longest
    free_pids_.pop_front();
  } else {
    return Status::kTooManyRas;
  }
  Ras ras;
  ras.key_rw = random_key();
  do {
    ras.key_ro = random_key();
  } while (ras.key_ro == ras.key_rw);
  std::atomic_ref(keys_[pid].ro).store(ras.key_ro);
  std::atomic_ref(keys_[pid].rw).store(ras.key_rw);
  *pid_out = pid;
  *key_rw = ras.key_rw;
  *key_ro = ras.key_ro;
  touch(pid, now_ms);
  ras_.emplace(pid, std::move(ras));
  return Status::kOk;
}

AddressSpaces::Ras* AddressSpaces::find(uint32_t pid, uint64_t key) {
  auto it = ras_.find(pid);
  if (it == ras_.end() || key == 0 || it->second.key_rw != key) return nullptr;
  return &it->second;
}

void AddressSpaces::revoke(uint32_t pid, std::vector<std::pair<uint64_t, uint64_t>>* ranges) {
  Ras& r = ras_.at(pid);
  // Keys first: from here on no new access of this pid passes the fast path's check.
  std::atomic_ref(keys_[pid].rw).store(0);
  std::atomic_ref(keys_[pid].ro).store(0);
  for (const auto& [va, vma] : r.vmas) ranges->emplace_back(va >> page_shift_, vma.pages);
  r.vmas.clear();
  r.pages = 0;
}

void AddressSpaces::release(uint32_t pid) {
  ras_.erase(pid);
  free_pids_.push_back(pid);
}

void AddressSpaces::collect_expired(uint64_t now_ms, uint64_t lease_ms,
                                    std::vector<uint32_t>* out) const {
  for (const auto& [pid, ras] : ras_) {
    const uint64_t renewed = renewed_ms_[pid].load(std::memory_order_relaxed);
    if (now_ms > renewed && now_ms - renewed > lease_ms) out->push_back(pid);
  }
}

bool AddressSpaces::expired(uint32_t pid, uint64_t now_ms, uint64_t lease_ms) const {
  const uint64_t renewed = renewed_ms_[pid].load(std::memory_order_relaxed);
  return ras_.count(pid) != 0 && now_ms > renewed && now_ms - renewed > lease_ms;
}

bool AddressSpaces::overlaps(const Ras& r, uint64_t va, uint64_t len) const {
  auto it = r.vmas.upper_bound(va);  // first allocation starting after va
  if (it != r.vmas.end() && it->first < va + len) return true;
  if (it != r.vmas.begin()) {
    --it;
    if (it->first + (it->second.pages << page_shift_) > va) return true;
  }
  return false;
}

Status AddressSpaces::check_fixed(const Ras& r, uint64_t va, uint64_t len) const {
  if (va == 0 || (va & ((uint64_t{1} << page_shift_) - 1)) != 0 || va >= kVaLimit ||
      len > kVaLimit - va)
    return Status::kBadArgument;
  return overlaps(r, va, len) ? Status::kVaInUse : Status::kOk;
}

Status AddressSpaces::check_quota(const Ras& r, uint64_t pages) const {
  if (r.pages + pages > quota_pages_) return Status::kQuotaMemory;
  if (r.pages + pages > quota_slots_) return Status::kQuotaSlots;
  return Status::kOk;
}

bool AddressSpaces::candidate(Ras& r, uint32_t pid, uint64_t len, uint32_t attempt, uint64_t* va) {
  const int shift = page_shift_;
  const uint64_t page = uint64_t{1} << shift;
  if (attempt == 0) {
    // First choice: right after the previous allocation; else the lowest gap that fits.
    if (r.next_va <= kVaLimit - len && !overlaps(r, r.next_va, len)) {
      *va = r.next_va;
      return true;
    }
    uint64_t prev_end = kVaBase;
    for (const auto& [start, vma] : r.vmas) {
      if (start >= prev_end && start - prev_end >= len) {
        *va = prev_end;
        return true;
      }
      prev_end = std::max(prev_end, start + (vma.pages << shift));
    }
    if (prev_end <= kVaLimit - len) {
      *va = prev_end;
      return true;
    }
    return false;
  }
  const uint64_t pages = len >> shift;
  if (attempt == 1) {
    // Second choice: a window of buckets that all have room (see PageTable), then a VA whose
    // pages land exactly there: group g, offset o with rotation(pid, g) + o == window (mod n).
    const uint64_t n = table_.num_buckets();
    const uint64_t group = table_.group_pages();
    uint64_t window;
    if (pages > n || !table_.find_window(pages, rng_.below(n), &window)) return false;
    const uint64_t vpn_limit = kVaLimit >> shift;
    uint64_t g = std::max(r.next_va, kVaBase) >> shift;
    g /= group;
    for (int tries = 0; tries < 64 && (g + 1) * group <= vpn_limit; ++tries, ++g) {
      for (uint64_t o = (window - table_.rotation(pid, g)) & (n - 1); o + pages <= group; o += n) {
        const uint64_t v = (g * group + o) << shift;
        if (v >= kVaBase && !overlaps(r, v, len)) {
          *va = v;
          return true;
        }
      }
    }
    return false;
  }
  // Later choices: a random place, which lands on an unrelated set of buckets.
  const uint64_t slots = (kVaLimit - kVaBase - len) / page + 1;
  const uint64_t v = kVaBase + rng_.below(slots) * page;
  if (overlaps(r, v, len)) return false;
  *va = v;
  return true;
}

void AddressSpaces::add(Ras& r, uint64_t va, uint64_t pages, bool writable) {
  r.vmas.emplace(va, Vma{pages, writable});
  r.next_va = va + (pages << page_shift_);
  r.pages += pages;
}

Status AddressSpaces::remove(Ras& r, uint64_t va, uint64_t* pages) {
  Status why;
  const Vma* vma = find_vma(r, va, &why);
  if (vma == nullptr) return why;
  *pages = vma->pages;
  r.pages -= vma->pages;
  r.vmas.erase(va);
  return Status::kOk;
}

Vma* AddressSpaces::find_vma(Ras& r, uint64_t va, Status* why) {
  auto it = r.vmas.find(va);
  if (it != r.vmas.end()) return &it->second;
  // Inside an allocation but not its start is a misuse; anywhere else is simply unmapped.
  *why = overlaps(r, va, 1) ? Status::kBadArgument : Status::kUnmapped;
  return nullptr;
}

}  // namespace clio::mn

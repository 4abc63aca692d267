// SPDX-License-Identifier: Apache-2.0
// The overflow-free hash page table (Clio §4.2): one flat table for every address space.
//
// A fixed array of buckets, sized once from the pool (slots = pages x overprovision, buckets
// rounded up to a power of two). A bucket is 8 PTEs of 16 bytes, two cache lines, read whole by a
// lookup, and nothing else is read: a lookup costs one bucket access whatever the number of
// address spaces or the size of memory. Overflow is prevented when ralloc reserves slots (see
// MemoryNode), never handled at lookup: there is no chaining and no probing.
//
// The bucket of a page is hash(pid, vpn) = (fmix64(pid, group) + vpn) mod buckets, where a group
// is 4 x buckets consecutive pages. Within a group, consecutive pages land in consecutive
// buckets (cyclically), at a rotation that is a hash of the address space and the group. The
// paper hashes every page independently; then a range of X pages fits only if X independent
// buckets all have room, which fails almost surely for large X long before memory is full (a
// 512 MiB ralloc on a 1 GiB node, say). With rotations, a range is a window of consecutive
// buckets, and ralloc can search the bucket fill for a window that fits (find_window) and pick
// the VA that lands there. Lookups are unchanged: one bucket, computed from (pid, vpn).
//
// Concurrency (one writer of tags, many readers):
//   - Only the slow path changes tags: empty -> pending -> tag (reserve, publish), pending ->
//     empty (cancel), tag -> tombstone (retire), tombstone -> empty (clear, after a grace period).
//   - Words change by compare-and-swap: the fast path sets valid + ppn on a fault; the slow path
//     flips writable (protect) and swaps the word to 0 when it retires the slot.
//   - A tombstone is cleared only after every fast-path worker has left the batch in which it
//     might have read the old tag (MemoryNode::synchronize), so a reader that matched a tag can
//     never see the word of a different page: no version counter is needed.
//   - Every access is a std::atomic_ref operation, sequentially consistent: on x86 loads stay
//     plain moves, and the grace-period argument relies on the single total order.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "common/mapped_memory.h"
#include "mn/config.h"

namespace clio::mn {

/// Page-table entry. Accessed only through the atomic helpers below.
struct Pte {
  uint64_t tag;   ///< 0 empty, kTombstone, or [63] pending | [62:36] pid | [35:0] vpn
  uint64_t word;  ///< [39:0] ppn, [40] allocated, [41] valid, [42] writable, [63:43] zero

  static constexpr uint64_t kEmpty = 0;
  static constexpr uint64_t kTombstone = ~uint64_t{0};
  static constexpr uint64_t kPending = uint64_t{1} << 63;
  static constexpr uint64_t kPpnMask = (uint64_t{1} << kPpnBits) - 1;
  static constexpr uint64_t kAllocated = uint64_t{1} << 40;
  static constexpr uint64_t kValid = uint64_t{1} << 41;
  static constexpr uint64_t kWritable = uint64_t{1} << 42;

  static constexpr uint64_t make_tag(uint32_t pid, uint64_t vpn) {
    return (static_cast<uint64_t>(pid) << kVpnBits) | vpn;
  }
  static constexpr uint32_t tag_pid(uint64_t tag) {
    return static_cast<uint32_t>((tag & ~kPending) >> kVpnBits);
  }
  static constexpr uint64_t tag_vpn(uint64_t tag) { return tag & ((uint64_t{1} << kVpnBits) - 1); }

  uint64_t load_tag() const { return std::atomic_ref(const_cast<uint64_t&>(tag)).load(); }
  uint64_t load_word() const { return std::atomic_ref(const_cast<uint64_t&>(word)).load(); }
  void store_tag(uint64_t t) { std::atomic_ref(tag).store(t); }
  void store_word(uint64_t w) { std::atomic_ref(word).store(w); }
  uint64_t exchange_word(uint64_t w) { return std::atomic_ref(word).exchange(w); }
  /// On failure `expected` receives the current word.
  bool cas_word(uint64_t& expected, uint64_t desired) {
    return std::atomic_ref(word).compare_exchange_strong(expected, desired);
  }
};
static_assert(sizeof(Pte) == 16 && offsetof(Pte, tag) == 0 && offsetof(Pte, word) == 8);
static_assert(std::is_trivially_copyable_v<Pte> && std::is_standard_layout_v<Pte>);
static_assert(std::atomic_ref<uint64_t>::is_always_lock_free);
static_assert(alignof(Pte) >= std::atomic_ref<uint64_t>::required_alignment);
static_assert(Pte::make_tag(kMaxPid, (uint64_t{1} << kVpnBits) - 1) < Pte::kPending,
              "a real tag never has the pending bit");
static_assert((Pte::kWritable << 1) < (uint64_t{1} << 63));

struct alignas(128) Bucket {
  Pte ptes[kPtesPerBucket];
};
static_assert(sizeof(Bucket) == kPtesPerBucket * sizeof(Pte) && sizeof(Bucket) == 128,
              "a bucket is exactly two cache lines");

class PageTable {
 public:
  /// A table with at least `min_slots` slots. Throws clio::Error if it cannot be mapped.
  explicit PageTable(uint64_t min_slots);

  uint64_t num_buckets() const { return num_buckets_; }
  /// Pages per group: the VA alignment at which the rotation changes.
  uint64_t group_pages() const { return uint64_t{1} << group_shift_; }
  uint64_t num_slots() const { return num_buckets_ * kPtesPerBucket; }
  size_t bytes() const { return num_buckets_ * sizeof(Bucket); }
  /// Slots holding a tag, pending tag or tombstone. Exact on the slow path, a snapshot elsewhere.
  uint64_t used_slots() const { return used_slots_.load(std::memory_order_relaxed); }

  /// The bucket that holds (or would hold) `tag`; see the file comment.
  uint64_t bucket_of(uint64_t tag) const {
    const uint64_t vpn = Pte::tag_vpn(tag);
    return (rotation(Pte::tag_pid(tag), vpn >> group_shift_) + vpn) & mask_;
  }
  /// The bucket of the first page of group `group` of address space `pid`.
  uint64_t rotation(uint32_t pid, uint64_t group) const {
    uint64_t h = (static_cast<uint64_t>(pid) << kVpnBits) ^ group;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h & mask_;
  }
  Bucket& bucket(uint64_t index) const { return buckets_[index]; }

  /// The slot whose tag equals `tag`, or nullptr. Reads bucket_of(tag) and nothing else. Any
  /// thread; never blocks.
  Pte* find(uint64_t tag) const {
    Bucket& b = buckets_[bucket_of(tag)];
    for (Pte& p : b.ptes)
      if (p.load_tag() == tag) [[likely]]
        return &p;
    return nullptr;
  }

  // --- Slow path only (single writer of tags) ---------------------------------------------
  /// Free slots in the bucket of `tag`.
  int free_slots(uint64_t tag) const { return kPtesPerBucket - fill_[bucket_of(tag)]; }
  /// Finds `len` (<= num_buckets) cyclically consecutive buckets that each have a free slot,
  /// searching from bucket `from`; *first receives the first of them. False if there is none.
  bool find_window(uint64_t len, uint64_t from, uint64_t* first) const;
  /// Takes an empty slot in the bucket of `tag`, writes `word` and the tag with kPending set (no
  /// lookup matches it yet). nullptr when the bucket is full.
  Pte* reserve(uint64_t tag, uint64_t word);
  /// Makes a reserved slot visible to lookups.
  void publish(Pte* p, uint64_t tag) { p->store_tag(tag); }
  /// Returns a reserved, never-published slot to empty.
  void cancel(Pte* p);
  /// Detaches a published slot: its word becomes 0 and its tag a tombstone (still occupied).
  /// Returns the old word (the caller recycles its page if it was valid).
  uint64_t retire(Pte* p);
  /// Empties a tombstone. Only after a grace period (see the file comment).
  void clear(Pte* p);

 private:
  uint64_t index_of(const Pte* p) const {
    return static_cast<uint64_t>(reinterpret_cast<const Bucket*>(reinterpret_cast<uintptr_t>(p) &
                                                                 ~uintptr_t{sizeof(Bucket) - 1}) -
                                 buckets_);
  }

  uint64_t num_buckets_;  ///< a power of two
  uint64_t mask_;
  int group_shift_;
  MappedMemory memory_;
  Bucket* buckets_;
  std::atomic<uint64_t> used_slots_{0};
  std::vector<uint8_t> fill_;  ///< slow path only: occupied slots per bucket
};

}  // namespace clio::mn

// Translation structures of the designs Clio is compared against (DESIGN.md, "Designs compared"):
//   RadixPageTable    the CPU-server MN: a per-process 4-level radix table walked in software,
//                     like the page tables of a host OS (4 dependent memory accesses).
//   ChainedPageTable  the programmable-NIC MN: one hash table with chaining; a lookup follows the
//                     chain, so its cost grows with collisions (unbounded probes).
// Both map (pid, vpn) to the same 64-bit PTE word as PageTable. Single-threaded; they exist to be
// measured side by side with the hash page table, not to serve concurrent requests. Their nodes
// come from an arena of huge-page-advised mappings, as the hash table's buckets do, so that a
// comparison measures the data structures and not the host's TLB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/mapped_memory.h"

namespace clio::mn {

/// Bump allocator over 64 MiB huge-page-advised chunks; frees everything at destruction.
class Arena {
 public:
  void* allocate(size_t bytes);  ///< zeroed, 64-byte aligned
  size_t bytes() const { return used_total_; }

 private:
  static constexpr size_t kChunkBytes = size_t{64} << 20;
  std::vector<std::unique_ptr<MappedMemory>> chunks_;
  size_t used_ = kChunkBytes;  ///< in the last chunk
  size_t used_total_ = 0;
};

class RadixPageTable {
 public:
  /// A table for VPNs of (48 - page_shift) bits, cut into 4 levels as evenly as possible
  /// (9/9/9/9 bits at 4 KiB pages, as x86-64).
  explicit RadixPageTable(int page_shift);
  RadixPageTable(const RadixPageTable&) = delete;
  RadixPageTable& operator=(const RadixPageTable&) = delete;

  void map(uint32_t pid, uint64_t vpn, uint64_t word);
  /// Walks root -> 3 inner levels -> leaf. False when unmapped.
  bool lookup(uint32_t pid, uint64_t vpn, uint64_t* word) const {
    if (pid >= roots_.size()) return false;
    const uint64_t* node = roots_[pid];
    for (int level = 0; node != nullptr && level < 3; ++level)
      node = reinterpret_cast<const uint64_t*>(node[index(vpn, level)]);
    if (node == nullptr) return false;
    const uint64_t w = node[index(vpn, 3)];
    *word = w;
    return w != 0;
  }
  size_t bytes() const { return arena_.bytes(); }

 private:
  uint64_t index(uint64_t vpn, int level) const {
    return (vpn >> shift_[level]) & ((uint64_t{1} << bits_[level]) - 1);
  }
  size_t node_bytes() const { return (size_t{1} << max_bits_) * sizeof(uint64_t); }
  uint64_t* new_node();

  int bits_[4];
  int shift_[4];
  int max_bits_;
  std::vector<uint64_t*> roots_;
  Arena arena_;
};

class ChainedPageTable {
 public:
  /// `heads` chain heads (load factor = entries / heads).
  explicit ChainedPageTable(uint64_t heads);
  ChainedPageTable(const ChainedPageTable&) = delete;
  ChainedPageTable& operator=(const ChainedPageTable&) = delete;

  void map(uint32_t pid, uint64_t vpn, uint64_t word);
  bool lookup(uint32_t pid, uint64_t vpn, uint64_t* word) const {
    const uint64_t tag = make_tag(pid, vpn);
    for (const Node* n = heads_[head_of(tag)]; n != nullptr; n = n->next) {
      if (n->tag == tag) {
        *word = n->word;
        return true;
      }
    }
    return false;
  }
  size_t bytes() const { return num_heads_ * sizeof(Node*) + arena_.bytes(); }
  /// Longest chain (the worst-case number of dependent accesses).
  size_t longest_chain() const;

 private:
  struct Node {
    uint64_t tag;
    uint64_t word;
    Node* next;
  };
  static uint64_t make_tag(uint32_t pid, uint64_t vpn) { return (uint64_t{pid} << 36) | vpn; }
  uint64_t head_of(uint64_t tag) const {
    const uint64_t h = tag * 0x9E3779B97F4A7C15ull;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(h) * num_heads_) >> 64);
  }

  uint64_t num_heads_;
  MappedMemory heads_memory_;  ///< zero-filled: every chain starts empty
  Node** heads_;
  Arena arena_;
};

}  // namespace clio::mn

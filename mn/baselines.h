// SPDX-License-Identifier: Apache-2.0
// Translation structures of the designs Clio is compared against (DESIGN.md, "Designs compared"),
// and the interface the memory node serves them through (LazyTable):
//   RadixPageTable    the CPU-server MN (`--design server`): a per-address-space 4-level radix
//                     table walked in software, like a host OS's page tables (4 dependent memory
//                     accesses per lookup).
//   ChainedPageTable  the programmable-NIC MN (`--design pnic`): one hash table with chaining for
//                     every address space; a lookup follows the chain, so its cost grows with
//                     collisions (unbounded probes).
// Both map (pid, vpn) to the same 64-bit PTE word as PageTable, and both fill on demand: a ralloc
// only records the range, a first touch maps the page (MemoryNode::lazy_fault).
//
// Concurrency (as the hash page table's): lookups run on any fast-path worker without a lock;
// map, unmap and set_writable run under the memory node's fault lock (one writer at a time).
// Every shared word is read and written through std::atomic_ref; a node is linked only once it
// is fully written (release), so a reader sees either the old or the new structure. Nothing a
// reader may still hold is reused before the slow path's grace period: a radix node is never
// freed before the table (an address space's nodes are reused by the next owner of its pid),
// and an unlinked chain node waits in a retired list until reclaim().
//
// Nodes come from an arena of huge-page-advised mappings, as the hash table's buckets do, so
// that a comparison measures the data structures and not the host's TLB.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/mapped_memory.h"

namespace clio::mn {

/// A page table that fills on demand: the seam of the lazily-mapping designs (mn/design.h).
class LazyTable {
 public:
  virtual ~LazyTable() = default;
  /// The word of (pid, vpn), 0 when unmapped. Any thread, lock-free; never blocks.
  virtual uint64_t find(uint32_t pid, uint64_t vpn) const = 0;
  // --- Under the fault lock -------------------------------------------------------------------
  virtual void map(uint32_t pid, uint64_t vpn, uint64_t word) = 0;
  /// Removes (pid, vpn); returns its old word (0 if it had none).
  virtual uint64_t unmap(uint32_t pid, uint64_t vpn) = 0;
  /// Sets or clears `bit` in the word of (pid, vpn), if mapped.
  virtual void update(uint32_t pid, uint64_t vpn, uint64_t bit, bool set) = 0;
  /// After a grace period (no reader holds what unmap() detached): makes it reusable.
  virtual void reclaim() {}
  /// Bytes of metadata held.
  virtual size_t bytes() const = 0;
};

/// find() once for every table whose inline lookup(pid, vpn, &word) the hot path calls directly.
template <class Table>
class LazyTableOf : public LazyTable {
 public:
  uint64_t find(uint32_t pid, uint64_t vpn) const final {
    uint64_t w = 0;
    return static_cast<const Table*>(this)->lookup(pid, vpn, &w) ? w : 0;
  }
};

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

class RadixPageTable final : public LazyTableOf<RadixPageTable> {
 public:
  /// A table for `max_pids` address spaces and VPNs of (48 - page_shift) bits, cut into 4
  /// levels as evenly as possible (9/9/9/9 bits at 4 KiB pages, as x86-64).
  RadixPageTable(int page_shift, uint32_t max_pids);
  RadixPageTable(const RadixPageTable&) = delete;
  RadixPageTable& operator=(const RadixPageTable&) = delete;

  /// Walks root -> 3 inner levels -> leaf. False when unmapped.
  bool lookup(uint32_t pid, uint64_t vpn, uint64_t* word) const {
    if (pid >= max_pids_) return false;
    const uint64_t* node = load_ptr(roots_[pid]);
    for (int level = 0; node != nullptr && level < 3; ++level)
      node = load_ptr(node[index(vpn, level)]);
    if (node == nullptr) return false;
    const uint64_t w =
        std::atomic_ref(const_cast<uint64_t&>(node[index(vpn, 3)])).load(std::memory_order_acquire);
    *word = w;
    return w != 0;
  }
  void map(uint32_t pid, uint64_t vpn, uint64_t word) override;
  uint64_t unmap(uint32_t pid, uint64_t vpn) override;
  void update(uint32_t pid, uint64_t vpn, uint64_t bit, bool set) override;
  size_t bytes() const override { return max_pids_ * sizeof(uint64_t) + arena_.bytes(); }

 private:
  static const uint64_t* load_ptr(const uint64_t& slot) {
    return reinterpret_cast<const uint64_t*>(
        std::atomic_ref(const_cast<uint64_t&>(slot)).load(std::memory_order_acquire));
  }
  uint64_t index(uint64_t vpn, int level) const {
    return (vpn >> shift_[level]) & ((uint64_t{1} << bits_[level]) - 1);
  }
  size_t node_bytes() const { return (size_t{1} << max_bits_) * sizeof(uint64_t); }
  uint64_t* new_node();
  /// The leaf slot of (pid, vpn); creates the path when `create`, else nullptr if absent.
  uint64_t* leaf(uint32_t pid, uint64_t vpn, bool create);

  int bits_[4];
  int shift_[4];
  int max_bits_;
  uint32_t max_pids_;
  MappedMemory roots_memory_;  ///< zero-filled: every address space starts without a root
  uint64_t* roots_;
  Arena arena_;
};

class ChainedPageTable final : public LazyTableOf<ChainedPageTable> {
 public:
  /// `heads` chain heads (load factor = entries / heads).
  explicit ChainedPageTable(uint64_t heads);
  ChainedPageTable(const ChainedPageTable&) = delete;
  ChainedPageTable& operator=(const ChainedPageTable&) = delete;

  bool lookup(uint32_t pid, uint64_t vpn, uint64_t* word) const {
    const uint64_t tag = make_tag(pid, vpn);
    for (const Node* n = load(heads_[head_of(tag)]); n != nullptr; n = load(n->next)) {
      if (n->tag == tag) {
        const uint64_t w = std::atomic_ref(const_cast<uint64_t&>(n->word)).load();
        *word = w;
        return w != 0;
      }
    }
    return false;
  }
  void map(uint32_t pid, uint64_t vpn, uint64_t word) override;
  uint64_t unmap(uint32_t pid, uint64_t vpn) override;
  void update(uint32_t pid, uint64_t vpn, uint64_t bit, bool set) override;
  void reclaim() override;
  size_t bytes() const override { return num_heads_ * sizeof(Node*) + arena_.bytes(); }
  /// Longest chain (the worst-case number of dependent accesses). Not concurrent with map().
  size_t longest_chain() const;

 private:
  struct Node {
    uint64_t tag;
    uint64_t word;
    Node* next;
  };
  static const Node* load(Node* const& p) {
    return std::atomic_ref(const_cast<Node*&>(p)).load(std::memory_order_acquire);
  }
  static uint64_t make_tag(uint32_t pid, uint64_t vpn) { return (uint64_t{pid} << 36) | vpn; }
  uint64_t head_of(uint64_t tag) const {
    const uint64_t h = tag * 0x9E3779B97F4A7C15ull;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(h) * num_heads_) >> 64);
  }
  Node* find_node(uint64_t tag) const;

  uint64_t num_heads_;
  MappedMemory heads_memory_;  ///< zero-filled: every chain starts empty
  Node** heads_;
  Arena arena_;
  std::vector<Node*> retired_;  ///< unlinked, waiting for a grace period
  std::vector<Node*> free_;     ///< reusable
};

}  // namespace clio::mn

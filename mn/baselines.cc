// SPDX-License-Identifier: Apache-2.0
#include "mn/baselines.h"

#include <algorithm>
#include <new>

#include "common/check.h"
#include "mn/config.h"

namespace clio::mn {

void* Arena::allocate(size_t bytes) {
  bytes = (bytes + 63) & ~size_t{63};
  CLIO_CHECK(bytes <= kChunkBytes);
  if (used_ + bytes > kChunkBytes) {
    chunks_.push_back(std::make_unique<MappedMemory>(kChunkBytes, /*huge=*/true, "arena"));
    used_ = 0;
  }
  void* p = static_cast<char*>(chunks_.back()->data()) + used_;
  used_ += bytes;
  used_total_ += bytes;
  return p;
}

RadixPageTable::RadixPageTable(int page_shift, uint32_t max_pids)
    : max_pids_(std::max<uint32_t>(max_pids, 1)),
      roots_memory_(max_pids_ * sizeof(uint64_t), /*huge=*/false, "radix roots"),
      roots_(static_cast<uint64_t*>(roots_memory_.data())) {
  const int vpn_bits = kVaBits - page_shift;
  // Top levels take the remainder: 36 -> 9,9,9,9; 35 -> 8,9,9,9.
  int left = vpn_bits;
  for (int level = 3; level >= 0; --level) {
    bits_[level] = (left + level) / (level + 1);
    left -= bits_[level];
  }
  shift_[3] = 0;
  for (int level = 2; level >= 0; --level) shift_[level] = shift_[level + 1] + bits_[level + 1];
  max_bits_ = *std::max_element(bits_, bits_ + 4);
}

uint64_t* RadixPageTable::new_node() {
  return static_cast<uint64_t*>(arena_.allocate(node_bytes()));
}

uint64_t* RadixPageTable::leaf(uint32_t pid, uint64_t vpn, bool create) {
  CLIO_CHECK(pid < max_pids_);
  uint64_t* slot = &roots_[pid];
  for (int level = 0; level < 4; ++level) {
    std::atomic_ref ref(*slot);
    uint64_t* node = reinterpret_cast<uint64_t*>(ref.load(std::memory_order_relaxed));
    if (node == nullptr) {
      if (!create) return nullptr;
      node = new_node();  // zeroed before it is linked
      ref.store(reinterpret_cast<uint64_t>(node), std::memory_order_release);
    }
    slot = &node[index(vpn, level)];
  }
  return slot;
}

void RadixPageTable::map(uint32_t pid, uint64_t vpn, uint64_t word) {
  std::atomic_ref(*leaf(pid, vpn, true)).store(word, std::memory_order_release);
}

uint64_t RadixPageTable::unmap(uint32_t pid, uint64_t vpn) {
  uint64_t* w = leaf(pid, vpn, false);
  return w == nullptr ? 0 : std::atomic_ref(*w).exchange(0);
}

void RadixPageTable::update(uint32_t pid, uint64_t vpn, uint64_t bit, bool set) {
  uint64_t* w = leaf(pid, vpn, false);
  if (w == nullptr) return;
  std::atomic_ref ref(*w);
  const uint64_t old = ref.load();
  if (old != 0) ref.store(set ? old | bit : old & ~bit);
}

ChainedPageTable::ChainedPageTable(uint64_t heads)
    : num_heads_(std::max<uint64_t>(heads, 1)),
      heads_memory_(num_heads_ * sizeof(Node*), /*huge=*/true, "chained table heads"),
      heads_(static_cast<Node**>(heads_memory_.data())) {}

ChainedPageTable::Node* ChainedPageTable::find_node(uint64_t tag) const {
  for (Node* n = heads_[head_of(tag)]; n != nullptr; n = n->next)
    if (n->tag == tag) return n;
  return nullptr;
}

void ChainedPageTable::map(uint32_t pid, uint64_t vpn, uint64_t word) {
  const uint64_t tag = make_tag(pid, vpn);
  if (Node* n = find_node(tag); n != nullptr) {
    std::atomic_ref(n->word).store(word);
    return;
  }
  Node*& head = heads_[head_of(tag)];
  Node* n;
  if (!free_.empty()) {
    n = free_.back();
    free_.pop_back();
  } else {
    n = static_cast<Node*>(arena_.allocate(sizeof(Node)));
  }
  new (n) Node{tag, word, head};
  std::atomic_ref(head).store(n, std::memory_order_release);  // linked only once written
}

uint64_t ChainedPageTable::unmap(uint32_t pid, uint64_t vpn) {
  const uint64_t tag = make_tag(pid, vpn);
  for (Node** link = &heads_[head_of(tag)]; *link != nullptr; link = &(*link)->next) {
    Node* n = *link;
    if (n->tag != tag) continue;
    // Readers on n still find its successor: n->next stays as it is until reclaim().
    std::atomic_ref(*link).store(n->next, std::memory_order_release);
    retired_.push_back(n);
    return std::atomic_ref(n->word).exchange(0);
  }
  return 0;
}

void ChainedPageTable::update(uint32_t pid, uint64_t vpn, uint64_t bit, bool set) {
  Node* n = find_node(make_tag(pid, vpn));
  if (n == nullptr) return;
  std::atomic_ref ref(n->word);
  const uint64_t old = ref.load();
  if (old != 0) ref.store(set ? old | bit : old & ~bit);
}

void ChainedPageTable::reclaim() {
  free_.insert(free_.end(), retired_.begin(), retired_.end());
  retired_.clear();
}

size_t ChainedPageTable::longest_chain() const {
  size_t longest = 0;
  for (uint64_t i = 0; i < num_heads_; ++i) {
    size_t len = 0;
    for (const Node* h = heads_[i]; h != nullptr; h = h->next) ++len;
    longest = std::max(longest, len);
  }
  return longest;
}

}  // namespace clio::mn

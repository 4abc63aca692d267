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

RadixPageTable::RadixPageTable(int page_shift) {
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

void RadixPageTable::map(uint32_t pid, uint64_t vpn, uint64_t word) {
  if (pid >= roots_.size()) roots_.resize(pid + 1, nullptr);
  if (roots_[pid] == nullptr) roots_[pid] = new_node();
  uint64_t* node = roots_[pid];
  for (int level = 0; level < 3; ++level) {
    uint64_t& slot = node[index(vpn, level)];
    if (slot == 0) slot = reinterpret_cast<uint64_t>(new_node());
    node = reinterpret_cast<uint64_t*>(slot);
  }
  node[index(vpn, 3)] = word;
}

ChainedPageTable::ChainedPageTable(uint64_t heads)
    : num_heads_(std::max<uint64_t>(heads, 1)),
      heads_memory_(num_heads_ * sizeof(Node*), /*huge=*/true, "chained table heads"),
      heads_(static_cast<Node**>(heads_memory_.data())) {}

void ChainedPageTable::map(uint32_t pid, uint64_t vpn, uint64_t word) {
  const uint64_t tag = make_tag(pid, vpn);
  Node*& head = heads_[head_of(tag)];
  for (Node* n = head; n != nullptr; n = n->next) {
    if (n->tag == tag) {
      n->word = word;
      return;
    }
  }
  head = new (arena_.allocate(sizeof(Node))) Node{tag, word, head};
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

// SPDX-License-Identifier: Apache-2.0
// A worker's private translation cache (the paper's on-chip TLB): kTlbSets x kTlbWays entries of
// (tag, PTE word), pseudo-LRU within a set, filled on a miss.
//
// Each fast-path worker owns one, so lookups and fills need no synchronisation. The slow path
// shoots entries down by sending the worker invalidations (see MemoryNode), which the worker
// applies at the start of its next batch, before it translates anything.
#pragma once

#include <array>
#include <cstdint>

#include "mn/config.h"
#include "mn/page_table.h"

namespace clio::mn {

class Tlb {
 public:
  /// True and the cached word on a hit (the entry becomes most recently used).
  bool lookup(uint64_t tag, uint64_t* word) {
    Set& s = sets_[set_of(tag)];
    for (int w = 0; w < kTlbWays; ++w) {
      if (s.tags[w] == tag) {
        *word = s.words[w];
        touch(s, w);
        return true;
      }
    }
    return false;
  }

  /// Caches (tag, word), replacing the same tag, an empty way or the pseudo-LRU victim.
  void insert(uint64_t tag, uint64_t word) {
    Set& s = sets_[set_of(tag)];
    int way = -1;
    for (int w = 0; w < kTlbWays; ++w) {
      if (s.tags[w] == tag) {
        way = w;
        break;
      }
      if (way < 0 && s.tags[w] == Pte::kEmpty) way = w;
    }
    if (way < 0) way = victim(s);
    s.tags[way] = tag;
    s.words[way] = word;
    touch(s, way);
  }

  /// Drops every entry of `pid` with vpn in [vpn_lo, vpn_hi).
  void invalidate(uint32_t pid, uint64_t vpn_lo, uint64_t vpn_hi) {
    for (Set& s : sets_) {
      for (int w = 0; w < kTlbWays; ++w) {
        const uint64_t t = s.tags[w];
        if (t != Pte::kEmpty && Pte::tag_pid(t) == pid && Pte::tag_vpn(t) >= vpn_lo &&
            Pte::tag_vpn(t) < vpn_hi)
          s.tags[w] = Pte::kEmpty;
      }
    }
  }

  void flush() {
    for (Set& s : sets_) s = Set{};
  }

 private:
  // Tree pseudo-LRU over 4 ways: bit 0 says which half to evict from (0: ways 0-1, 1: ways
  // 2-3); bit 1 picks within 0-1, bit 2 within 2-3. A touch points the bits away from the way.
  static_assert(kTlbWays == 4, "the pseudo-LRU tree below is written for 4 ways");
  static_assert((kTlbSets & (kTlbSets - 1)) == 0, "set index is a mask");

  struct Set {
    std::array<uint64_t, kTlbWays> tags{};
    std::array<uint64_t, kTlbWays> words{};
    uint8_t plru = 0;
  };

  static uint64_t set_of(uint64_t tag) {
    // Low vpn bits spread sequential pages; pid bits spread address spaces.
    return (tag ^ (tag >> kVpnBits) * 0x9E3779B1u) & (kTlbSets - 1);
  }
  static void touch(Set& s, int w) {
    if (w < 2) {
      s.plru = static_cast<uint8_t>((s.plru | 1) & ~2);
      if (w == 0) s.plru |= 2;
    } else {
      s.plru = static_cast<uint8_t>(s.plru & ~1 & ~4);
      if (w == 2) s.plru |= 4;
    }
  }
  static int victim(const Set& s) {
    if ((s.plru & 1) == 0) return (s.plru & 2) ? 1 : 0;
    return (s.plru & 4) ? 3 : 2;
  }

  std::array<Set, kTlbSets> sets_{};
};

}  // namespace clio::mn

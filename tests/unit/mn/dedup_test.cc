#include "mn/dedup.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "common/rng.h"

namespace clio::mn {
namespace {

TEST(DedupTableTest, FindsWhatWasInserted) {
  DedupTable t(16);
  EXPECT_EQ(t.find(1, 5), nullptr);
  t.insert(DedupEntry{5, 1, 3, 0, 0, 0, 42, 0});
  ASSERT_NE(t.find(1, 5), nullptr);
  EXPECT_EQ(t.find(1, 5)->arg0, 42u);
  EXPECT_EQ(t.find(2, 5), nullptr) << "same family, other address space";
}

// Random inserts against a model: a FIFO of the last `capacity` keys. Exercises wrap-around and
// backward-shift deletion under heavy collisions.
TEST(DedupTableTest, EvictsOldestFirstAgainstAModel) {
  DedupTable t(64);
  std::deque<std::pair<uint32_t, uint64_t>> fifo;
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> model;
  Rng rng(1);
  for (uint64_t i = 1; i <= 200000; ++i) {
    const uint32_t pid = static_cast<uint32_t>(rng.below(4));
    const uint64_t fam = rng.below(1000) + 1;
    if (model.count({pid, fam})) continue;  // the MN never inserts a key twice
    t.insert(DedupEntry{fam, pid, 0, 0, 0, 0, i, 0});
    fifo.emplace_back(pid, fam);
    model[{pid, fam}] = i;
    if (fifo.size() > t.capacity()) {
      model.erase(fifo.front());
      fifo.pop_front();
    }
    if (i % 97 == 0) {
      for (const auto& [k, v] : model) {
        const DedupEntry* e = t.find(k.first, k.second);
        ASSERT_NE(e, nullptr);
        ASSERT_EQ(e->arg0, v);
      }
      for (int probe = 0; probe < 20; ++probe) {
        const uint32_t p = static_cast<uint32_t>(rng.below(4));
        const uint64_t f = rng.below(1000) + 1;
        ASSERT_EQ(t.find(p, f) != nullptr, model.count({p, f}) == 1);
      }
    }
  }
  EXPECT_EQ(t.size(), t.capacity());
  EXPECT_GT(t.evictions(), 0u);
}

}  // namespace
}  // namespace clio::mn

// SPDX-License-Identifier: Apache-2.0
#include "cn/placement.h"

#include "clio/clio.h"
#include "cn/client_impl.h"
#include "common/clock.h"

namespace clio::cn {

size_t choose_mn(int policy, std::span<const MnSnapshot> mns, uint64_t spread_start) {
  const size_t n = mns.size();
  // MNs that recently failed to answer are left out while any other one remains.
  bool any_healthy = false;
  for (const MnSnapshot& m : mns) any_healthy |= !m.skip && !m.suspect;
  auto usable = [&](size_t m) { return !mns[m].skip && (!any_healthy || !mns[m].suspect); };
  switch (policy) {
    case CLIO_PLACE_FILL_FIRST:
      for (size_t m = 0; m < n; ++m)
        if (usable(m)) return m;
      break;
    case CLIO_PLACE_LEAST_USED: {
      size_t best = n;
      for (size_t m = 0; m < n; ++m) {
        if (!usable(m)) continue;
        if (best == n || mns[m].free_bytes > mns[best].free_bytes) best = m;
      }
      return best;
    }
    default:
      for (size_t k = 0; k < n; ++k)
        if (usable((spread_start + k) % n)) return (spread_start + k) % n;
      break;
  }
  return n;
}

}  // namespace clio::cn

namespace clio {

size_t Client::Impl::place(const std::vector<bool>& skip) {
  const size_t n = mns.size();
  const uint64_t now = fast_now_ns();
  cn::MnSnapshot snap[cn::kMaxMns];
  for (size_t m = 0; m < n; ++m) {
    snap[m].skip = skip[m];
    snap[m].suspect = mns[m]->suspect_until_ns.load() > now;
    snap[m].free_bytes = mns[m]->free_pages.load() * mns[m]->page_bytes;
  }
  const int policy = placement.load(std::memory_order_relaxed);
  // Only spreading moves the rotation on.
  const uint64_t start = policy == CLIO_PLACE_FILL_FIRST || policy == CLIO_PLACE_LEAST_USED
                             ? 0
                             : next_spread.fetch_add(1, std::memory_order_relaxed);
  return cn::choose_mn(policy, std::span(snap, n), start);
}

}  // namespace clio

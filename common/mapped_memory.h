// SPDX-License-Identifier: Apache-2.0
// An anonymous private mapping with MAP_NORESERVE: address space now, physical memory only when
// touched. Reads of untouched memory return zeros.
#pragma once

#include <cstddef>
#include <string>

namespace clio {

class MappedMemory {
 public:
  /// Maps `bytes` (rounded up to 4 KiB). With `huge`, advises transparent huge pages
  /// (MADV_HUGEPAGE; ignored where the kernel lacks them). Throws clio::Error naming `what`.
  MappedMemory(size_t bytes, bool huge, const std::string& what);
  ~MappedMemory();
  MappedMemory(const MappedMemory&) = delete;
  MappedMemory& operator=(const MappedMemory&) = delete;

  void* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace clio

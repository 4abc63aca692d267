// SPDX-License-Identifier: Apache-2.0
#include "common/mapped_memory.h"

#include <sys/mman.h>

#include <cerrno>

#include "common/error.h"
#include "common/log.h"
#include "common/units.h"

namespace clio {

MappedMemory::MappedMemory(size_t bytes, bool huge, const std::string& what) {
  bytes_ = (bytes + 4095) & ~size_t{4095};
  void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw system_error(what + " (" + format_size(bytes_) + ")", "mmap", errno);
  data_ = p;
  if (huge && madvise(p, bytes_, MADV_HUGEPAGE) != 0)
    CLIO_LOG(DEBUG, "mem", "%s: no transparent huge pages (errno %d)", what.c_str(), errno);
}

MappedMemory::~MappedMemory() {
  if (data_ != nullptr && munmap(data_, bytes_) != 0)
    CLIO_LOG(WARN, "mem", "munmap failed (errno %d)", errno);
}

}  // namespace clio

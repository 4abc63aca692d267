// SPDX-License-Identifier: Apache-2.0
// The C API: thin wrappers that never let an exception cross into C.
#include <cerrno>
#include <cstring>
#include <new>

#include "clio/client.h"
#include "clio/clio.h"
#include "common/log.h"

struct clio_client {
  std::unique_ptr<clio::Client> impl;
};

namespace {

template <typename F>
int guarded(const char* what, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (const std::exception& e) {
    CLIO_LOG(ERROR, "cn", "%s: %s", what, e.what());
    return -EINVAL;
  }
}

}  // namespace

extern "C" {

int clio_open(const char* mn_locator, clio_client** out) {
  if (mn_locator == nullptr || out == nullptr) return -EINVAL;
  return guarded("clio_open", [&] {
    auto c = std::make_unique<clio_client>();
    const int rc = clio::Client::open(mn_locator, &c->impl);
    if (rc == 0) *out = c.release();
    return rc;
  });
}

int clio_attach(const char* token, clio_client** out) {
  if (token == nullptr || out == nullptr) return -EINVAL;
  return guarded("clio_attach", [&] {
    auto c = std::make_unique<clio_client>();
    const int rc = clio::Client::attach(token, &c->impl);
    if (rc == 0) *out = c.release();
    return rc;
  });
}

int clio_close(clio_client* c) {
  if (c == nullptr) return -EINVAL;
  const int rc = guarded("clio_close", [&] { return c->impl->close(); });
  delete c;
  return rc;
}

#define CLIO_GUARD(name, ...)       \
  if (c == nullptr) return -EINVAL; \
  return guarded(name, [&] { return c->impl->__VA_ARGS__; })

int clio_ralloc(clio_client* c, size_t size, uint64_t* out_addr) {
  CLIO_GUARD("clio_ralloc", ralloc(size, out_addr));
}
int clio_rfree(clio_client* c, uint64_t addr) { CLIO_GUARD("clio_rfree", rfree(addr)); }
int clio_rread(clio_client* c, uint64_t addr, void* buf, size_t len) {
  CLIO_GUARD("clio_rread", rread(addr, buf, len));
}
int clio_rwrite(clio_client* c, uint64_t addr, const void* buf, size_t len) {
  CLIO_GUARD("clio_rwrite", rwrite(addr, buf, len));
}
int clio_rcas(clio_client* c, uint64_t addr, uint64_t expected, uint64_t desired, uint64_t* old) {
  CLIO_GUARD("clio_rcas", rcas(addr, expected, desired, old));
}
int clio_rfaa(clio_client* c, uint64_t addr, uint64_t add, uint64_t* old) {
  CLIO_GUARD("clio_rfaa", rfaa(addr, add, old));
}
int clio_rrelease(clio_client* c) { CLIO_GUARD("clio_rrelease", rrelease()); }
int clio_rfence(clio_client* c) { CLIO_GUARD("clio_rfence", rfence()); }
int clio_rbatch_begin(clio_client* c) { CLIO_GUARD("clio_rbatch_begin", rbatch_begin()); }
int clio_rbatch_end(clio_client* c) { CLIO_GUARD("clio_rbatch_end", rbatch_end()); }
int clio_rlock(clio_client* c, uint64_t lock_addr) { CLIO_GUARD("clio_rlock", rlock(lock_addr)); }
int clio_runlock(clio_client* c, uint64_t lock_addr) {
  CLIO_GUARD("clio_runlock", runlock(lock_addr));
}
int clio_set_placement(clio_client* c, int policy) {
  CLIO_GUARD("clio_set_placement", set_placement(policy));
}
int clio_placement(clio_client* c) { CLIO_GUARD("clio_placement", placement()); }
int clio_mn_count(clio_client* c) {
  CLIO_GUARD("clio_mn_count", mn_count() > 0 ? static_cast<int>(c->impl->mn_count()) : 0);
}
int clio_mn_of(uint64_t addr) { return static_cast<int>(clio::Client::mn_of(addr)); }

int clio_rread_async(clio_client* c, uint64_t addr, void* buf, size_t len, clio_handle* h) {
  if (c == nullptr || h == nullptr) return -EINVAL;
  return guarded("clio_rread_async", [&] {
    clio::Handle handle;
    const int rc = c->impl->rread_async(addr, buf, len, &handle);
    h->id = handle.id();
    return rc;
  });
}

int clio_rwrite_async(clio_client* c, uint64_t addr, const void* buf, size_t len, clio_handle* h) {
  if (c == nullptr || h == nullptr) return -EINVAL;
  return guarded("clio_rwrite_async", [&] {
    clio::Handle handle;
    const int rc = c->impl->rwrite_async(addr, buf, len, &handle);
    h->id = handle.id();
    return rc;
  });
}

int clio_rpoll(clio_client* c, clio_handle* hs, int n, int* done) {
  if (c == nullptr || n < 0 || (n > 0 && (hs == nullptr || done == nullptr))) return -EINVAL;
  return guarded("clio_rpoll", [&] {
    return c->impl->rpoll(hs, static_cast<size_t>(n), std::span(done, static_cast<size_t>(n)));
  });
}

int clio_rwait(clio_client* c, clio_handle h) {
  CLIO_GUARD("clio_rwait", rwait(clio::Handle::from_id(h.id)));
}

int clio_export(clio_client* c, int writable, char* token, size_t token_len) {
  if (c == nullptr || token == nullptr) return -EINVAL;
  return guarded("clio_export", [&] {
    std::string t;
    const int rc = c->impl->export_token(writable != 0, &t);
    if (rc != 0) return rc;
    if (t.size() + 1 > token_len) return -ENOSPC;
    std::memcpy(token, t.c_str(), t.size() + 1);
    return 0;
  });
}

int clio_export_len(clio_client* c, int writable, size_t* len) {
  if (c == nullptr || len == nullptr) return -EINVAL;
  return guarded("clio_export_len", [&] {
    std::string t;
    const int rc = c->impl->export_token(writable != 0, &t);
    if (rc == 0) *len = t.size() + 1;
    return rc;
  });
}

const char* clio_strerror(int err) { return clio::error_string(err); }

}  // extern "C"

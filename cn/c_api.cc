// The C API: thin wrappers that never let an exception cross into C.
#include <cerrno>
#include <new>

#include "clio/clio.h"
#include "clio/client.h"
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

int clio_close(clio_client* c) {
  if (c == nullptr) return -EINVAL;
  const int rc = guarded("clio_close", [&] { return c->impl->close(); });
  delete c;
  return rc;
}

int clio_ralloc(clio_client* c, size_t size, uint64_t* out_addr) {
  if (c == nullptr) return -EINVAL;
  return guarded("clio_ralloc", [&] { return c->impl->ralloc(size, out_addr); });
}

int clio_rfree(clio_client* c, uint64_t addr) {
  if (c == nullptr) return -EINVAL;
  return guarded("clio_rfree", [&] { return c->impl->rfree(addr); });
}

int clio_rread(clio_client* c, uint64_t addr, void* buf, size_t len) {
  if (c == nullptr) return -EINVAL;
  return guarded("clio_rread", [&] { return c->impl->rread(addr, buf, len); });
}

int clio_rwrite(clio_client* c, uint64_t addr, const void* buf, size_t len) {
  if (c == nullptr) return -EINVAL;
  return guarded("clio_rwrite", [&] { return c->impl->rwrite(addr, buf, len); });
}

int clio_rcas(clio_client* c, uint64_t addr, uint64_t expected, uint64_t desired, uint64_t* old) {
  if (c == nullptr) return -EINVAL;
  return guarded("clio_rcas", [&] { return c->impl->rcas(addr, expected, desired, old); });
}

int clio_rfaa(clio_client* c, uint64_t addr, uint64_t add, uint64_t* old) {
  if (c == nullptr) return -EINVAL;
  return guarded("clio_rfaa", [&] { return c->impl->rfaa(addr, add, old); });
}

const char* clio_strerror(int err) { return clio::error_string(err); }

}  // extern "C"

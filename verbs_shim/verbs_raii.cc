// SPDX-License-Identifier: Apache-2.0
// Owners of libibverbs objects: the device list, the factories and their errors.
#include "verbs_shim/verbs_raii.h"

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace clio::net {

TransportError verbs_error(const std::string& dev, const std::string& call, int err,
                           const std::string& hint) {
  return sys_error("verbs " + (dev.empty() ? std::string("(no device)") : dev), call.c_str(), err,
                   hint.empty() ? hint : "\n" + hint);
}

void verbs_teardown_warning(const char* call, int rc) {
  CLIO_LOG(WARN, "net.verbs", "%s failed: %s (errno %d)", call, std::strerror(rc), rc);
}

VerbsDeviceList::VerbsDeviceList() {
  errno = 0;
  list_ = ibv_get_device_list(&n_);
  if (list_ == nullptr) {
    const int e = errno;
    throw verbs_error("", "ibv_get_device_list", e,
                      "is the RDMA stack present? (apt-get install rdma-core ibverbs-providers; "
                      "soft-RoCE: modprobe rdma_rxe && rdma link add rxe0 type rxe netdev <if>)");
  }
}

VerbsDeviceList::~VerbsDeviceList() {
  if (list_ != nullptr) ibv_free_device_list(list_);
}

ibv_device* VerbsDeviceList::find(const std::string& name) const {
  for (int i = 0; i < n_; ++i)
    if (name == ibv_get_device_name(list_[i])) return list_[i];
  return nullptr;
}

std::vector<std::string> VerbsDeviceList::names() const {
  std::vector<std::string> v;
  for (int i = 0; i < n_; ++i) v.emplace_back(ibv_get_device_name(list_[i]));
  return v;
}

VerbsContext make_context(ibv_device* device, const std::string& dev) {
  errno = 0;
  VerbsContext c(ibv_open_device(device));
  if (!c) throw verbs_error(dev, "ibv_open_device", errno);
  return c;
}

VerbsPd make_pd(ibv_context* ctx, const std::string& dev) {
  errno = 0;
  VerbsPd p(ibv_alloc_pd(ctx));
  if (!p) throw verbs_error(dev, "ibv_alloc_pd", errno);
  return p;
}

VerbsCompChannel make_comp_channel(ibv_context* ctx, const std::string& dev) {
  errno = 0;
  VerbsCompChannel c(ibv_create_comp_channel(ctx));
  if (!c) throw verbs_error(dev, "ibv_create_comp_channel", errno);
  return c;
}

VerbsCq make_cq(ibv_context* ctx, int entries, ibv_comp_channel* channel, const std::string& dev) {
  errno = 0;
  VerbsCq c(ibv_create_cq(ctx, entries, nullptr, channel, 0));
  if (!c) throw verbs_error(dev, "ibv_create_cq(" + std::to_string(entries) + " entries)", errno);
  return c;
}

VerbsQp make_qp(ibv_pd* pd, ibv_qp_init_attr* attr, const std::string& dev) {
  errno = 0;
  VerbsQp q(ibv_create_qp(pd, attr));
  if (!q) {
    const char* type = attr->qp_type == IBV_QPT_UD   ? "UD"
                       : attr->qp_type == IBV_QPT_RC ? "RC"
                                                     : "?";
    throw verbs_error(dev, std::string("ibv_create_qp(") + type + ")", errno);
  }
  return q;
}

VerbsMr make_mr(ibv_pd* pd, void* addr, size_t bytes, int access, const std::string& dev) {
  errno = 0;
  VerbsMr m(ibv_reg_mr(pd, addr, bytes, access));
  if (!m) {
    const int e = errno;
    throw verbs_error(dev, "ibv_reg_mr(" + std::to_string(bytes) + " bytes)", e,
                      e == ENOMEM || e == EPERM || e == EFAULT
                          ? "registered memory is pinned: check `ulimit -l` (RLIMIT_MEMLOCK)"
                          : "");
  }
  return m;
}

}  // namespace clio::net

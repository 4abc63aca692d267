// SPDX-License-Identifier: Apache-2.0
// Owners for libibverbs objects, and the errors their set-up throws.
//
// Every ibv_* object this project creates is held by one of the move-only owners below (a
// std::unique_ptr with a deleter that calls the matching ibv_destroy_* / ibv_dealloc_* /
// ibv_close_device). A destructor that hits an error logs a warning (tag "net.verbs") and never
// throws. Owners must be declared in creation order so that they die in reverse: a QP before its
// CQs, MRs and AHs before their PD, everything before the context.
//
// The make_* functions throw clio::net::TransportError whose message names the device, the call
// and errno, e.g. "verbs rxe0: ibv_create_qp(UD): Cannot allocate memory (errno 12)".
#pragma once

#include <infiniband/verbs.h>

#include <memory>
#include <string>
#include <vector>

#include "verbs_shim/transport.h"

namespace clio::net {

/// "verbs <dev>: <call>: <strerror(err)> (errno <err>)", plus `hint` on a new line when given.
TransportError verbs_error(const std::string& dev, const std::string& call, int err,
                           const std::string& hint = "");

/// How each owned type is destroyed, and what the warning calls it.
template <typename T>
struct VerbsTraits;
template <>
struct VerbsTraits<ibv_context> {
  static constexpr const char* kCall = "ibv_close_device";
  static int destroy(ibv_context* p) { return ibv_close_device(p); }
};
template <>
struct VerbsTraits<ibv_pd> {
  static constexpr const char* kCall = "ibv_dealloc_pd";
  static int destroy(ibv_pd* p) { return ibv_dealloc_pd(p); }
};
template <>
struct VerbsTraits<ibv_comp_channel> {
  static constexpr const char* kCall = "ibv_destroy_comp_channel";
  static int destroy(ibv_comp_channel* p) { return ibv_destroy_comp_channel(p); }
};
template <>
struct VerbsTraits<ibv_cq> {
  static constexpr const char* kCall = "ibv_destroy_cq";
  static int destroy(ibv_cq* p) { return ibv_destroy_cq(p); }
};
template <>
struct VerbsTraits<ibv_qp> {
  static constexpr const char* kCall = "ibv_destroy_qp";
  static int destroy(ibv_qp* p) { return ibv_destroy_qp(p); }
};
template <>
struct VerbsTraits<ibv_mr> {
  static constexpr const char* kCall = "ibv_dereg_mr";
  static int destroy(ibv_mr* p) { return ibv_dereg_mr(p); }
};
template <>
struct VerbsTraits<ibv_ah> {
  static constexpr const char* kCall = "ibv_destroy_ah";
  static int destroy(ibv_ah* p) { return ibv_destroy_ah(p); }
};

/// Logs "<call> failed: <strerror(rc)>" at WARN; out of line so that this header needs no log.h.
void verbs_teardown_warning(const char* call, int rc);

template <typename T>
struct VerbsDeleter {
  void operator()(T* p) const noexcept {
    if (p == nullptr) return;
    // ibv_destroy_* return 0 or an errno value (not -1).
    if (const int rc = VerbsTraits<T>::destroy(p); rc != 0)
      verbs_teardown_warning(VerbsTraits<T>::kCall, rc);
  }
};

template <typename T>
using VerbsPtr = std::unique_ptr<T, VerbsDeleter<T>>;
using VerbsContext = VerbsPtr<ibv_context>;
using VerbsPd = VerbsPtr<ibv_pd>;
using VerbsCompChannel = VerbsPtr<ibv_comp_channel>;
using VerbsCq = VerbsPtr<ibv_cq>;
using VerbsQp = VerbsPtr<ibv_qp>;
using VerbsMr = VerbsPtr<ibv_mr>;
using VerbsAh = VerbsPtr<ibv_ah>;

/// The device list of ibv_get_device_list, freed on destruction. Move-only.
class VerbsDeviceList {
 public:
  /// Throws TransportError when the call itself fails (no RDMA support in the kernel at all);
  /// an empty list is not an error.
  VerbsDeviceList();
  ~VerbsDeviceList();
  VerbsDeviceList(VerbsDeviceList&& o) noexcept : list_(o.list_), n_(o.n_) {
    o.list_ = nullptr, o.n_ = 0;
  }
  VerbsDeviceList& operator=(VerbsDeviceList&&) = delete;
  VerbsDeviceList(const VerbsDeviceList&) = delete;
  VerbsDeviceList& operator=(const VerbsDeviceList&) = delete;

  int size() const { return n_; }
  ibv_device* operator[](int i) const { return list_[i]; }
  /// The device called `name`, or null.
  ibv_device* find(const std::string& name) const;
  /// The names, in the library's order.
  std::vector<std::string> names() const;

 private:
  ibv_device** list_ = nullptr;
  int n_ = 0;
};

// Factories: each throws verbs_error(dev, "<call>", errno) on failure. `dev` is only for messages.
VerbsContext make_context(ibv_device* device, const std::string& dev);
VerbsPd make_pd(ibv_context* ctx, const std::string& dev);
VerbsCompChannel make_comp_channel(ibv_context* ctx, const std::string& dev);
VerbsCq make_cq(ibv_context* ctx, int entries, ibv_comp_channel* channel, const std::string& dev);
/// ibv_create_qp; the message names the QP type, e.g. "ibv_create_qp(UD)". On success *attr holds
/// the capabilities the provider actually granted (max_inline_data may exceed the request).
VerbsQp make_qp(ibv_pd* pd, ibv_qp_init_attr* attr, const std::string& dev);
VerbsMr make_mr(ibv_pd* pd, void* addr, size_t bytes, int access, const std::string& dev);

}  // namespace clio::net

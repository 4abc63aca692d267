// SPDX-License-Identifier: Apache-2.0
// inproc set-up and teardown: the process-wide fabric, its names and its ports.
#include <map>
#include <mutex>

#include "common/check.h"
#include "verbs_shim/inproc_port.h"

namespace clio::net {

FaultDecision RandomFaults::on_tx(std::span<const std::byte> pkt) {
  (void)pkt;
  FaultDecision d;
  if (rng_.chance(r_.drop)) {
    d.kind = FaultDecision::kDrop;
  } else if (rng_.chance(r_.dup)) {
    d.kind = FaultDecision::kDuplicate;
  } else if (rng_.chance(r_.corrupt)) {
    d.kind = FaultDecision::kCorrupt;
    d.bit = rng_.next();
  } else if (rng_.chance(r_.delay)) {
    d.kind = FaultDecision::kDelay;
    d.delay_ns = r_.delay_min_ns + rng_.below(r_.delay_max_ns - r_.delay_min_ns + 1);
  } else if (rng_.chance(r_.reorder)) {
    d.kind = FaultDecision::kDelay;
    d.delay_ns = 1 + rng_.below(r_.reorder_ns);
  }
  return d;
}

std::unique_ptr<RandomFaults> RandomFaults::from_locator(const Locator& l, uint64_t port_id) {
  Rates r;
  r.drop = l.get_prob("drop", 0);
  r.dup = l.get_prob("dup", 0);
  r.corrupt = l.get_prob("corrupt", 0);
  r.reorder = l.get_prob("reorder", 0);
  r.delay = l.get_prob("delay", 0);
  r.reorder_ns = l.get_uint("reorder_us", 200, 1, 60'000'000) * 1000;
  r.delay_min_ns = l.get_uint("delay_min_us", 0, 0, 60'000'000) * 1000;
  r.delay_max_ns = l.get_uint("delay_max_us", 20'000, 0, 60'000'000) * 1000;
  if (r.delay_max_ns < r.delay_min_ns)
    throw ConfigError("inproc locator: delay_max_us is below delay_min_us");
  if (r.drop == 0 && r.dup == 0 && r.corrupt == 0 && r.reorder == 0 && r.delay == 0) return nullptr;
  const uint64_t seed = l.get_uint("seed", 1, 0, UINT64_MAX);
  return std::make_unique<RandomFaults>(r, seed * 0x9E3779B97F4A7C15ull + port_id);
}

namespace {

constexpr LocatorKey kKeys[] = {
    {"name", ""},         {"poll", "busy|sleep"}, {"drop", ""},  {"dup", ""},
    {"corrupt", ""},      {"reorder", ""},        {"delay", ""}, {"reorder_us", ""},
    {"delay_min_us", ""}, {"delay_max_us", ""},   {"seed", ""},  {"poison", "on|off"},
};

/// The process-wide fabric. Ports are created on demand and never freed (a closed port is
/// recycled), so a sender holding a stale endpoint can never touch freed memory.
class Fabric {
 public:
  static Fabric& get() {
    static Fabric* f = new Fabric();  // never destroyed: threads may still send at exit
    return *f;
  }

  InProcPort* open_port() {
    std::lock_guard lock(mu_);
    InProcPort* p;
    if (!free_.empty()) {
      p = free_.back();
      free_.pop_back();
    } else {
      const uint32_t id = count_.load(std::memory_order_relaxed);
      if (id >= kMaxPorts)
        throw TransportError(TransportError::Kind::kSystem,
                             "inproc: more than 65536 ports open at once");
      p = new InProcPort(id);
      table_[id].store(p, std::memory_order_release);
      count_.store(id + 1, std::memory_order_release);
    }
    p->reopen();
    return p;
  }

  void close_port(InProcPort* p) {
    std::lock_guard lock(mu_);
    p->close();
    for (auto it = names_.begin(); it != names_.end();) {
      auto& ids = it->second;
      std::erase(ids, p->id());
      it = ids.empty() ? names_.erase(it) : std::next(it);
    }
    free_.push_back(p);
  }

  void name_member(const std::string& name, unsigned member, InProcPort* p) {
    std::lock_guard lock(mu_);
    auto& ids = names_[name];
    if (member == 0 && !ids.empty())
      throw TransportError(TransportError::Kind::kSystem,
                           "inproc: a server named '" + name + "' is already listening",
                           EADDRINUSE);
    ids.push_back(p->id());
  }

  bool resolve(const std::string& name, uint32_t pick, Endpoint* out) {
    std::lock_guard lock(mu_);
    auto it = names_.find(name);
    if (it == names_.end() || it->second.empty()) return false;
    const InProcPort* p =
        table_[it->second[pick % it->second.size()]].load(std::memory_order_acquire);
    *out = p->endpoint();
    return true;
  }

  /// The live port an endpoint names, or null. Lock-free: the datapath's lookup.
  InProcPort* find(const Endpoint& e) const {
    const auto a = e.as<InProcAddress>();
    if (a.magic != InProcAddress::kMagic || a.id >= count_.load(std::memory_order_acquire))
      return nullptr;
    InProcPort* p = table_[a.id].load(std::memory_order_acquire);
    return p != nullptr && p->generation() == a.generation ? p : nullptr;
  }

 private:
  static constexpr uint32_t kMaxPorts = 65536;
  Fabric() : table_(new std::atomic<InProcPort*>[kMaxPorts]) {
    for (uint32_t i = 0; i < kMaxPorts; ++i) table_[i].store(nullptr, std::memory_order_relaxed);
  }

  std::mutex mu_;
  std::unique_ptr<std::atomic<InProcPort*>[]> table_;
  std::atomic<uint32_t> count_{0};
  std::vector<InProcPort*> free_;
  std::map<std::string, std::vector<uint32_t>> names_;
};

}  // namespace

InProcPort* inproc_find_port(const Endpoint& e) { return Fabric::get().find(e); }

InProcTransport::InProcTransport(InProcPort* port, const Locator& l, bool sleep,
                                 std::string locator)
    : port_(port), sleep_(sleep), locator_(std::move(locator)) {
  port_->set_poison(l.get_choice("poison", "off", kKeys) == "on");
  set_fault_injector(RandomFaults::from_locator(l, port->id()));
}

uint64_t InProcTransport::views_held() const { return port_->views_held(); }
uint64_t InProcTransport::views_released() const { return port_->views_released(); }

void InProcTransport::set_fault_injector(std::unique_ptr<FaultInjector> f) {
  flush_held(/*all=*/true);
  faults_ = std::move(f);
  if (faults_ && !held_data_) {
    held_.assign(kMaxHeld, Held{});
    held_data_ = std::make_unique_for_overwrite<std::byte[]>(kMaxHeld * kMtu);
  }
}

InProcTransport::~InProcTransport() {
  flush_held(/*all=*/true);
  port_->release_all();
  Fabric::get().close_port(port_);
}

Endpoint InProcTransport::local_endpoint() const { return port_->endpoint(); }

namespace {
bool sleep_mode(const Locator& l) { return l.get_choice("poll", "busy", kKeys) == "sleep"; }
}  // namespace

std::unique_ptr<InProcTransport> InProcTransport::listen(const Locator& l, unsigned member,
                                                         unsigned members) {
  (void)members;
  l.check_keys(kKeys);
  const std::string name = l.get("name", "");
  if (name.empty()) throw ConfigError("inproc locator: name= is required, e.g. inproc:name=mn0");
  const bool sleep = sleep_mode(l);
  InProcPort* p = Fabric::get().open_port();
  try {
    Fabric::get().name_member(name, member, p);
  } catch (...) {
    Fabric::get().close_port(p);
    throw;
  }
  return std::unique_ptr<InProcTransport>(new InProcTransport(p, l, sleep, l.str()));
}

std::unique_ptr<InProcTransport> InProcTransport::connect(const Locator& l, Endpoint* server) {
  l.check_keys(kKeys);
  const std::string name = l.get("name", "");
  if (name.empty()) throw ConfigError("inproc locator: name= is required, e.g. inproc:name=mn0");
  const bool sleep = sleep_mode(l);
  InProcPort* p = Fabric::get().open_port();
  if (!Fabric::get().resolve(name, p->id(), server)) {
    Fabric::get().close_port(p);
    throw TransportError(TransportError::Kind::kNoServer,
                         "inproc: no server named '" + name + "' is listening");
  }
  return std::unique_ptr<InProcTransport>(new InProcTransport(p, l, sleep, l.str()));
}

std::span<const LocatorKey> InProcTransport::locator_keys() { return kKeys; }

}  // namespace clio::net

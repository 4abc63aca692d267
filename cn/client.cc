// SPDX-License-Identifier: Apache-2.0
// CLib's API front end: opening, attaching, closing, and the public calls on top of the
// per-thread engine (cn/engine.h). Beside it: errors.cc (errno messages), share_token.cc (the
// token's format), placement.cc (which MN a ralloc goes to).
#include <cerrno>
#include <cstring>
#include <thread>

#include "cn/client_impl.h"
#include "cn/share_token.h"
#include "common/log.h"
#include "common/rng.h"
#include "verbs_shim/locator.h"

namespace clio {

using wire::Header;
// CLib's internals this file uses (clio::cn); its own helpers are in cn too, below.
using cn::client_address;
using cn::Engine;
using cn::kMnShift;
using cn::kVaMask;
using cn::MnInfo;
using cn::ShareToken;
using cn::TokenError;
using cn::TokenMn;

// --- Impl and per-thread engines -----------------------------------------------------------

namespace cn {
namespace {
std::atomic<uint64_t> g_next_serial{1};
}  // namespace
}  // namespace cn

Client::Impl::Impl(const ClientOptions& o, std::vector<std::unique_ptr<MnInfo>> m, bool own)
    : options(o), mns(std::move(m)), owner(own), serial(cn::g_next_serial.fetch_add(1)) {
  cc.enabled = o.congestion_control;
  cc.max_window = o.window;
  cc.initial_window = std::min<double>(16, o.window);
  if (o.target_delay_us != 0) cc.target_floor_ns = o.target_delay_us * 1000;
}

Client::Impl::~Impl() { stop_keepalive(); }

void Client::Impl::start_keepalive() {
  if (!owner || options.keepalive_ms == 0) return;
  keepalive = std::thread([this] {
    std::unique_lock lock(ka_mu);
    while (!ka_cv.wait_for(lock, std::chrono::milliseconds(options.keepalive_ms),
                           [this] { return ka_stop; })) {
      lock.unlock();
      try {
        Engine& t = engine();
        for (size_t m = 0; m < mns.size(); ++m) {
          wire::Header rep;
          const int op = t.control(m, wire::Opcode::kStats, 0, 0, 0);
          const int rc = op < 0 ? op : t.wait(static_cast<uint32_t>(op), &rep);
          if (rc == -EACCES)
            CLIO_LOG(WARN, "cn", "keep-alive: the address space on %s is gone (lease expired?)",
                     mns[m]->locator.c_str());
        }
      } catch (const Error& e) {
        CLIO_LOG(WARN, "cn", "keep-alive: %s", e.what());
      }
      lock.lock();
    }
  });
}

void Client::Impl::stop_keepalive() {
  {
    std::lock_guard lock(ka_mu);
    ka_stop = true;
  }
  ka_cv.notify_all();
  if (keepalive.joinable()) keepalive.join();
}

Engine& Client::Impl::engine() {
  // A few clients per thread are remembered without the lock; serials are never reused.
  struct Entry {
    uint64_t serial = 0;
    Engine* engine = nullptr;
  };
  thread_local Entry cache[4];
  thread_local unsigned next_victim = 0;
  // The thread that first used this client (most clients have one) finds its engine here,
  // without the lock, however many clients it uses.
  const auto me = std::this_thread::get_id();
  if (first_owner.load(std::memory_order_acquire) == me) return *first_engine;
  for (const Entry& e : cache)
    if (e.serial == serial) return *e.engine;
  std::lock_guard lock(engine_mu);
  Engine* found = nullptr;
  for (size_t i = 0; i < engines.size(); ++i)
    if (engine_owners[i] == me) found = engines[i].get();
  if (found == nullptr) {
    if (engines.size() >= Engine::kMaxThreads)
      throw Error("clio: more than 1024 threads used one client");
    const uint16_t id = static_cast<uint16_t>(engines.size());
    engines.push_back(std::make_unique<Engine>(*this, id));
    engine_owners.push_back(me);
    found = engines.back().get();
    if (id == 0) {
      first_engine = found;
      first_owner.store(me, std::memory_order_release);
    }
  }
  cache[next_victim++ % 4] = Entry{serial, found};
  return *found;
}

// --- Client -------------------------------------------------------------------------------

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  if (impl_ && impl_->open.load()) close();
}

namespace cn {
namespace {

/// Splits "a;b;c" and strips CLib's own keys from each locator into *o.
int parse_locators(const std::string& text, ClientOptions* o, std::vector<std::string>* out) {
  size_t at = 0;
  bool first = true;
  while (at <= text.size()) {
    const size_t semi = std::min(text.find(';', at), text.size());
    const std::string one = text.substr(at, semi - at);
    at = semi + 1;
    if (one.empty()) {
      if (semi == text.size()) break;
      continue;
    }
    try {
      net::Locator l = net::Locator::parse(one);
      if (first) {
        o->deadline_ms = l.get_uint("deadline_ms", o->deadline_ms, 1, 86'400'000);
        o->rto_us = l.get_uint("rto_us", o->rto_us, 1, 60'000'000);
        o->window = static_cast<uint32_t>(l.get_uint("window", o->window, 1, 4096));
        const std::string cc = l.get("cc", o->congestion_control ? "on" : "off");
        if (cc != "on" && cc != "off") throw ConfigError("cc=" + cc + ": expected on or off");
        o->congestion_control = cc == "on";
        o->target_delay_us = l.get_uint("target_us", o->target_delay_us, 0, 10'000'000);
        o->auth_file = l.get("auth_file", o->auth_file);
        o->keepalive_ms = l.get_uint("keepalive_ms", o->keepalive_ms, 0, 86'400'000);
        first = false;
      }
      for (const char* k :
           {"deadline_ms", "rto_us", "window", "cc", "target_us", "auth_file", "keepalive_ms"})
        l.params.erase(k);
      out->push_back(l.str());
    } catch (const ConfigError& e) {
      CLIO_LOG(ERROR, "cn", "locator '%s': %s", one.c_str(), e.what());
      return -EINVAL;
    }
  }
  if (out->empty() || out->size() > kMaxMns) {
    CLIO_LOG(ERROR, "cn", "'%s': expected 1 to 64 memory-node locators separated by ';'",
             text.c_str());
    return -EINVAL;
  }
  return 0;
}

/// What a transport that could not be set up means for CLib's caller.
int transport_errno(const net::TransportError& e) {
  switch (e.kind()) {
    case net::TransportError::Kind::kNoServer:
      return -ECONNREFUSED;
    case net::TransportError::Kind::kNoDevice:
    case net::TransportError::Kind::kPermission:
    case net::TransportError::Kind::kTimeout:
    case net::TransportError::Kind::kSystem:
      break;
  }
  return -ENETUNREACH;
}

/// Runs the calling thread's engine, turning set-up failures into an errno.
template <typename F>
int on_engine(Client::Impl& impl, F&& f) {
  if (!impl.open.load(std::memory_order_relaxed)) return -EACCES;
  Engine* t;
  try {
    t = &impl.engine();
  } catch (const net::TransportError& e) {
    CLIO_LOG(ERROR, "cn", "%s", e.what());
    return transport_errno(e);
  } catch (const Error& e) {
    CLIO_LOG(ERROR, "cn", "%s", e.what());
    return -EAGAIN;
  }
  return f(*t);
}

/// One MN's stats: page size, free and total pages (kStats answer). 0 or -errno.
int query_stats(Engine& t, size_t mn, Header* reply) {
  const int op = t.control(mn, wire::Opcode::kStats, 0, 0, 0);
  if (op < 0) return op;
  return t.wait(static_cast<uint32_t>(op), reply);
}

}  // namespace
}  // namespace cn

using cn::on_engine;
using cn::parse_locators;
using cn::query_stats;
using cn::transport_errno;

int Client::open(const std::string& locator, std::unique_ptr<Client>* out) {
  return open(locator, ClientOptions{}, out);
}

int Client::open(const std::string& locator, const ClientOptions& options,
                 std::unique_ptr<Client>* out) {
  if (out == nullptr) return -EINVAL;
  ClientOptions o = options;
  std::vector<std::string> locs;
  if (int rc = parse_locators(locator, &o, &locs); rc != 0) return rc;
  std::vector<std::unique_ptr<MnInfo>> mns;
  for (const auto& l : locs) {
    mns.push_back(std::make_unique<MnInfo>());
    mns.back()->locator = l;
  }
  if (o.auth_file.empty()) {
    const char* env = std::getenv("CLIO_AUTH_FILE");
    if (env != nullptr) o.auth_file = env;
  }
  SipKey auth;
  if (!o.auth_file.empty()) {
    try {
      auth = load_credential(o.auth_file);
    } catch (const ConfigError& e) {
      CLIO_LOG(ERROR, "cn", "clio_open: %s", e.what());
      return -EINVAL;
    }
  }
  auto impl = std::make_unique<Impl>(o, std::move(mns), /*owner=*/true);
  impl->auth = auth;
  Engine* t;
  try {
    t = &impl->engine();
  } catch (const net::TransportError& e) {
    CLIO_LOG(ERROR, "cn", "clio_open(\"%s\"): %s", locator.c_str(), e.what());
    return transport_errno(e);
  } catch (const ConfigError& e) {
    CLIO_LOG(ERROR, "cn", "clio_open(\"%s\"): %s", locator.c_str(), e.what());
    return -EINVAL;
  }
  // Create an address space on every MN (all at once), then learn their free-page figures.
  std::vector<int> ops;
  for (size_t m = 0; m < impl->mns.size(); ++m)
    ops.push_back(t->control(m, wire::Opcode::kRasCreate, 0, 0, 0));
  int rc = 0;
  for (size_t m = 0; m < impl->mns.size(); ++m) {
    Header rep;
    const int r = ops[m] < 0 ? ops[m] : t->wait(static_cast<uint32_t>(ops[m]), &rep);
    if (r != 0) {
      if (rc == 0) rc = r;
      continue;
    }
    MnInfo& mi = *impl->mns[m];
    mi.pid = rep.pid;
    mi.key = rep.arg0;
    mi.key_ro = rep.arg1;
    mi.page_bytes = rep.va;
    if (mi.pid == 0 || mi.key == 0 || mi.page_bytes == 0 ||
        (mi.page_bytes & (mi.page_bytes - 1)) != 0)
      rc = -EPROTO;
  }
  if (rc != 0) {
    impl->destroy_all();  // those that were created
    impl->open = false;
    return rc;
  }
  impl->start_keepalive();
  out->reset(new Client(std::move(impl)));
  CLIO_LOG(DEBUG, "cn", "opened %zu address space(s) on %s", (*out)->mn_count(), locator.c_str());
  return 0;
}

int Client::Impl::destroy_all() {
  if (!owner) return 0;
  Engine& t = engine();
  t.release();
  std::vector<int> ops;
  for (size_t m = 0; m < mns.size(); ++m)
    ops.push_back(mns[m]->pid == 0 ? -1 : t.control(m, wire::Opcode::kRasDestroy, 0, 0, 0));
  int rc = 0;
  for (int op : ops) {
    if (op < 0) continue;
    const int r = t.wait(static_cast<uint32_t>(op));
    if (r != 0 && rc == 0) rc = r;
  }
  return rc;
}

int Client::close() {
  if (!impl_->open.exchange(false)) return -EACCES;
  impl_->stop_keepalive();
  try {
    return impl_->destroy_all();
  } catch (const Error& e) {
    CLIO_LOG(ERROR, "cn", "close: %s", e.what());
    return -ENETUNREACH;
  }
}

// --- Sharing (the token's format: cn/share_token.h) -----------------------------------------

int Client::export_token(bool writable, std::string* token) {
  if (token == nullptr) return -EINVAL;
  if (!impl_->open.load()) return -EACCES;
  if (!impl_->owner) return -EACCES;
  ShareToken t;
  t.writable = writable;
  for (const auto& m : impl_->mns)
    t.mns.push_back(TokenMn{m->pid, writable ? m->key : m->key_ro, m->page_bytes, m->locator});
  *token = cn::format_share_token(t);
  return 0;
}

int Client::attach(const std::string& token, std::unique_ptr<Client>* out) {
  if (out == nullptr) return -EINVAL;
  ShareToken t;
  if (const TokenError e = cn::parse_share_token(token, &t); e != TokenError::kNone) {
    CLIO_LOG(ERROR, "cn", "clio_attach: %s", cn::token_error_message(e));
    return -EINVAL;
  }
  std::vector<std::unique_ptr<MnInfo>> mns;
  for (TokenMn& tm : t.mns) {
    auto m = std::make_unique<MnInfo>();
    m->pid = tm.pid;
    m->key = tm.key;
    m->page_bytes = tm.page_bytes;
    m->writable = t.writable;
    m->locator = std::move(tm.locator);
    mns.push_back(std::move(m));
  }
  for (const auto& m : mns) {
    try {
      (void)net::Locator::parse(m->locator);
    } catch (const ConfigError& e) {
      CLIO_LOG(ERROR, "cn", "clio_attach: locator '%s' in the token: %s", m->locator.c_str(),
               e.what());
      return -EINVAL;
    }
  }
  auto impl = std::make_unique<Impl>(ClientOptions{}, std::move(mns), /*owner=*/false);
  try {
    (void)impl->engine();
  } catch (const ConfigError& e) {  // a locator the transport itself refuses
    CLIO_LOG(ERROR, "cn", "clio_attach: %s", e.what());
    return -EINVAL;
  } catch (const net::TransportError& e) {
    CLIO_LOG(ERROR, "cn", "clio_attach: %s", e.what());
    return transport_errno(e);
  } catch (const Error& e) {
    CLIO_LOG(ERROR, "cn", "clio_attach: %s", e.what());
    return -ENETUNREACH;
  }
  out->reset(new Client(std::move(impl)));
  return 0;
}

// --- Placement ----------------------------------------------------------------------------

int Client::set_placement(int policy) {
  if (policy != CLIO_PLACE_SPREAD && policy != CLIO_PLACE_FILL_FIRST &&
      policy != CLIO_PLACE_LEAST_USED)
    return -EINVAL;
  impl_->placement.store(policy);
  return 0;
}

int Client::placement() const { return impl_->placement.load(); }
size_t Client::mn_count() const { return impl_->mns.size(); }
uint32_t Client::pid() const { return impl_->mns[0]->pid; }
uint64_t Client::page_bytes() const { return impl_->mns[0]->page_bytes; }

const ClientCounters& Client::counters() const {
  static const ClientCounters kNone{};
  try {
    return impl_->engine().counters();
  } catch (const Error&) {
    return kNone;
  }
}

void Client::disable_ordering_for_benchmarks() { impl_->ordering = false; }

// --- Synchronous calls --------------------------------------------------------------------

int Client::ralloc(size_t size, uint64_t* addr) {
  if (addr == nullptr || size == 0) return -EINVAL;
  return on_engine(*impl_, [&](Engine& t) {
    Impl& c = *impl_;
    const size_t n = c.mns.size();
    std::vector<bool> skip(n, false);
    if (c.placement.load() == CLIO_PLACE_LEAST_USED) {
      // Fresh figures from the MNs themselves, at most every 100 ms.
      const uint64_t now = fast_now_ns();
      for (size_t m = 0; m < n; ++m) {
        if (now - c.mns[m]->stats_at_ns.load() < 100'000'000) continue;
        Header rep;
        if (query_stats(t, m, &rep) == 0) {
          c.mns[m]->free_pages.store(rep.arg0);
          c.mns[m]->stats_at_ns.store(now);
        } else {
          c.mns[m]->free_pages.store(0);
        }
      }
    }
    int rc = -ENOMEM;
    // Try MNs in policy order; one that is full or unreachable does not stop the others.
    for (size_t tries = 0; tries < n; ++tries) {
      const size_t m = c.place(skip);
      if (m >= n) break;
      Header rep;
      const int op = t.control(m, wire::Opcode::kRalloc, 0, 0, size);
      rc = op < 0 ? op : t.wait(static_cast<uint32_t>(op), &rep);
      if (rc == 0) {
        *addr = client_address(m, rep.va);
        return 0;
      }
      if (rc != -ENOMEM && rc != -ETIMEDOUT && rc != -EAGAIN) return rc;
      if (rc == -ETIMEDOUT) c.mns[m]->suspect_until_ns.store(fast_now_ns() + 10'000'000'000ull);
      skip[m] = true;
    }
    return rc;
  });
}

int Client::rfree(uint64_t addr) {
  return on_engine(*impl_, [&](Engine& t) {
    const size_t m = addr >> kMnShift;
    if (m >= impl_->mns.size()) return -EFAULT;
    const int op = t.control(m, wire::Opcode::kRfree, 0, addr & kVaMask, 0);
    return op < 0 ? op : t.wait(static_cast<uint32_t>(op));
  });
}

int Client::rread(uint64_t addr, void* buf, size_t len) {
  if (len == 0) return 0;
  if (buf == nullptr) return -EINVAL;
  return on_engine(*impl_, [&](Engine& t) {
    const int op = t.read_write(false, addr, static_cast<std::byte*>(buf), nullptr, len);
    return op < 0 ? op : t.wait(static_cast<uint32_t>(op));
  });
}

int Client::rwrite(uint64_t addr, const void* buf, size_t len) {
  if (len == 0) return 0;
  if (buf == nullptr) return -EINVAL;
  return on_engine(*impl_, [&](Engine& t) {
    const int op = t.read_write(true, addr, nullptr, static_cast<const std::byte*>(buf), len);
    return op < 0 ? op : t.wait(static_cast<uint32_t>(op));
  });
}

int Client::rcas(uint64_t addr, uint64_t expected, uint64_t desired, uint64_t* old) {
  if (old == nullptr || (addr & 7) != 0) return -EINVAL;
  return on_engine(*impl_, [&](Engine& t) {
    const int op = t.atomic(wire::Opcode::kCas, addr, expected, desired);
    if (op < 0) return op;
    Header rep;
    const int rc = t.wait(static_cast<uint32_t>(op), &rep);
    if (rc == 0) *old = rep.arg0;
    return rc;
  });
}

int Client::rfaa(uint64_t addr, uint64_t add, uint64_t* old) {
  if (old == nullptr || (addr & 7) != 0) return -EINVAL;
  return on_engine(*impl_, [&](Engine& t) {
    const int op = t.atomic(wire::Opcode::kFaa, addr, add, 0);
    if (op < 0) return op;
    Header rep;
    const int rc = t.wait(static_cast<uint32_t>(op), &rep);
    if (rc == 0) *old = rep.arg0;
    return rc;
  });
}

// --- Asynchronous calls -------------------------------------------------------------------

int Client::start_rw(bool write, uint64_t addr, std::byte* in, const std::byte* out, size_t len,
                     Handle* h) {
  if (h == nullptr || (len != 0 && (write ? out == nullptr : in == nullptr))) return -EINVAL;
  return on_engine(*impl_, [&](Engine& t) {
    const int op = t.read_write(write, addr, in, out, len);
    if (op < 0) return op;
    *h = Handle::from_id(t.handle_of(static_cast<uint32_t>(op)));
    return 0;
  });
}

int Client::rread_async(uint64_t addr, void* buf, size_t len, Handle* h) {
  return start_rw(false, addr, static_cast<std::byte*>(buf), nullptr, len, h);
}

int Client::rwrite_async(uint64_t addr, const void* buf, size_t len, Handle* h) {
  return start_rw(true, addr, nullptr, static_cast<const std::byte*>(buf), len, h);
}

namespace cn {
namespace {

/// rpoll over n handles, whichever type holds them: valid(i) and id(i) read handle i, clear(i)
/// empties it once it completed. Allocates nothing.
template <typename Valid, typename Id, typename Clear>
int poll_handles(Client::Impl& impl, size_t n, Valid&& valid, Id&& id, Clear&& clear,
                 std::span<int> results) {
  if (results.size() < n) return -EINVAL;
  return on_engine(impl, [&](Engine& t) {
    // Check every handle first, so a bad one changes nothing. Empty handles (finished by an
    // earlier rpoll) are skipped, so the same array can be polled until everything is done.
    for (size_t i = 0; i < n; ++i) {
      uint32_t op;
      if (valid(i) && !t.op_of(id(i), &op)) return -EINVAL;
    }
    t.step();  // one round for all of them
    int done = 0;
    for (size_t i = 0; i < n; ++i) {
      uint32_t op;
      if (!valid(i) || !t.op_of(id(i), &op)) continue;
      int r;
      if (t.poll(op, &r, /*advance=*/false)) {
        results[i] = r;
        clear(i);
        ++done;
      } else {
        results[i] = CLIO_PENDING;
      }
    }
    return done;
  });
}

}  // namespace
}  // namespace cn

using cn::poll_handles;

int Client::rpoll(std::span<Handle> hs, std::span<int> results) {
  return poll_handles(
      *impl_, hs.size(), [&](size_t i) { return hs[i].valid(); },
      [&](size_t i) { return hs[i].id(); }, [&](size_t i) { hs[i] = Handle(); }, results);
}

int Client::rpoll(clio_handle* hs, size_t n, std::span<int> results) {
  if (n > 0 && hs == nullptr) return -EINVAL;
  return poll_handles(
      *impl_, n, [&](size_t i) { return hs[i].id != 0; }, [&](size_t i) { return hs[i].id; },
      [&](size_t i) { hs[i].id = 0; }, results);
}

int Client::rwait(Handle h) {
  return on_engine(*impl_, [&](Engine& t) {
    uint32_t op;
    if (!t.op_of(h.id(), &op)) return -EINVAL;
    return t.wait(op);
  });
}

int Client::rrelease() {
  return on_engine(*impl_, [&](Engine& t) {
    t.release();
    return 0;
  });
}

int Client::rbatch_begin() {
  return on_engine(*impl_, [&](Engine& t) {
    t.batch_begin();
    return 0;
  });
}

int Client::rbatch_end() {
  return on_engine(*impl_, [&](Engine& t) { return t.batch_end(); });
}

int Client::rfence() {
  return on_engine(*impl_, [&](Engine& t) {
    t.fence();
    return 0;
  });
}

// --- Locks --------------------------------------------------------------------------------

int Client::rlock(uint64_t lock_addr) {
  if ((lock_addr & 7) != 0) return -EINVAL;
  return on_engine(*impl_, [&](Engine& t) {
    const uint64_t me = t.lock_token();
    const uint64_t deadline = fast_now_ns() + impl_->options.lock_timeout_ms * 1'000'000;
    uint64_t backoff_ns = 1'000;
    Rng rng(me);
    for (;;) {
      const int op = t.atomic(wire::Opcode::kCas, lock_addr, 0, me);
      if (op < 0) return op;
      Header rep;
      const int rc = t.wait(static_cast<uint32_t>(op), &rep);
      if (rc != 0) return rc;
      if (rep.arg0 == 0) return 0;          // ours; later requests follow the CAS (sync)
      if (rep.arg0 == me) return -EDEADLK;  // this thread holds it already
      if (fast_now_ns() >= deadline) return -ETIMEDOUT;
      // Back off with jitter, so that contenders spread out (1 us doubling to 1 ms).
      const uint64_t until = fast_now_ns() + backoff_ns / 2 + rng.below(backoff_ns / 2 + 1);
      while (fast_now_ns() < until) std::this_thread::yield();
      backoff_ns = std::min<uint64_t>(backoff_ns * 2, 1'000'000);
    }
  });
}

int Client::runlock(uint64_t lock_addr) {
  if ((lock_addr & 7) != 0) return -EINVAL;
  return on_engine(*impl_, [&](Engine& t) {
    t.release();  // the critical section's writes are done before the lock is seen free
    const int op = t.atomic(wire::Opcode::kCas, lock_addr, t.lock_token(), 0);
    if (op < 0) return op;
    Header rep;
    const int rc = t.wait(static_cast<uint32_t>(op), &rep);
    if (rc != 0) return rc;
    return rep.arg0 == t.lock_token() ? 0 : -EPERM;
  });
}

}  // namespace clio

// CLib: opening, closing, and the operations as calls on the request engine.
#include <cerrno>
#include <cstring>

#include "clio/clio.h"
#include "cn/client_impl.h"
#include "common/log.h"
#include "common/rng.h"
#include "verbs_shim/locator.h"
#include "verbs_shim/registry.h"

namespace clio {

int status_to_errno(Status s) {
  switch (s) {
    case Status::kOk: return 0;
    case Status::kUnmapped: return -EFAULT;
    case Status::kPermission:
    case Status::kNoSuchRas: return -EACCES;
    case Status::kNoMemory: return -ENOMEM;
    case Status::kFixedVaUnavailable: return -EADDRINUSE;
    case Status::kVaInUse: return -EEXIST;
    case Status::kBadArgument: return -EINVAL;
    case Status::kTooManyRas: return -EMFILE;
    case Status::kShuttingDown: return -ESHUTDOWN;
    case Status::kRetryLater: return -EAGAIN;
    case Status::kStale: return -EIO;
    default: return -EPROTO;  // a packet-level status in an answer: the MN misunderstood us
  }
}

const char* error_string(int err) {
  switch (-err) {
    case 0: return "success";
    case EFAULT: return "remote address is not in any allocation (never allocated, or freed)";
    case EACCES: return "permission denied: read-only memory or key, or the address space was closed";
    case ENOMEM: return "the memory node is out of remote memory";
    case EINVAL: return "invalid argument";
    case ETIMEDOUT: return "the memory node did not answer before the deadline (unreachable or down)";
    case EAGAIN: return "the memory node stayed busy until the deadline";
    case EADDRINUSE: return "fixed address refused: its page-table buckets are full";
    case EEXIST: return "fixed address overlaps an existing allocation";
    case EMFILE: return "the memory node has no room for another address space";
    case ESHUTDOWN: return "the memory node is shutting down";
    case EPROTO: return "protocol error: the memory node did not understand a request";
    case EIO:
      return "outcome unknown: a retransmission came too late for the memory node to tell whether "
             "the request had run";
    case ECONNREFUSED: return "no memory node is listening at that locator";
    case ENETUNREACH: return "the transport could not be set up (see the log for the reason)";
  }
  return "unknown error";
}

Client::Impl::Impl(std::unique_ptr<net::Transport> t, const net::Endpoint& s, const ClientOptions& o)
    : transport(std::move(t)),
      server(s),
      options(o),
      max_chunk(std::min<uint32_t>(transport->mtu() - static_cast<uint32_t>(wire::kHeaderBytes),
                                   wire::kMaxAccessBytes)),
      // 24 random bits on top: ids of clients that share an address space never collide in
      // practice; 40 bits of sequence last a million years at 30k requests per second.
      next_id((random_key() & 0xFFFFFF0000000000ull) | 1) {}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  if (impl_ && impl_->open) close();
}

uint32_t Client::pid() const { return impl_->pid; }
uint64_t Client::page_bytes() const { return impl_->page_bytes; }
const ClientCounters& Client::counters() const { return impl_->counters; }

int Client::open(const std::string& locator, std::unique_ptr<Client>* out) {
  return open(locator, ClientOptions{}, out);
}

int Client::open(const std::string& locator, const ClientOptions& options, std::unique_ptr<Client>* out) {
  if (out == nullptr) return -EINVAL;
  ClientOptions o = options;
  std::unique_ptr<net::Transport> t;
  net::Endpoint server;
  try {
    // CLib's own keys ride in the locator; the transport never sees them.
    net::Locator l = net::Locator::parse(locator);
    o.deadline_ms = l.get_uint("deadline_ms", o.deadline_ms, 1, 86'400'000);
    o.rto_us = l.get_uint("rto_us", o.rto_us, 1, 60'000'000);
    o.window = static_cast<uint32_t>(l.get_uint("window", o.window, 1, 4096));
    for (const char* k : {"deadline_ms", "rto_us", "window"}) l.params.erase(k);
    t = net::connect(l.str(), &server);
  } catch (const ConfigError& e) {
    CLIO_LOG(ERROR, "cn", "clio_open(\"%s\"): %s", locator.c_str(), e.what());
    return -EINVAL;
  } catch (const net::TransportError& e) {
    CLIO_LOG(ERROR, "cn", "clio_open(\"%s\"): %s", locator.c_str(), e.what());
    return std::strstr(e.what(), "no server") != nullptr ? -ECONNREFUSED : -ENETUNREACH;
  }
  if (t->mtu() < wire::kHeaderBytes + 64) {
    CLIO_LOG(ERROR, "cn", "clio_open: transport MTU %u is too small", t->mtu());
    return -EINVAL;
  }
  auto impl = std::make_unique<Impl>(std::move(t), server, o);
  Impl::Request& r = impl->add(wire::Opcode::kRasCreate);
  (void)r;
  if (int rc = impl->execute(); rc != 0) return rc;
  const wire::Header& rep = impl->reqs[0].reply;
  impl->pid = rep.pid;
  impl->key = rep.arg0;
  impl->page_bytes = rep.va;
  if (impl->pid == 0 || impl->key == 0 || impl->page_bytes == 0 ||
      (impl->page_bytes & (impl->page_bytes - 1)) != 0)
    return -EPROTO;
  impl->open = true;
  out->reset(new Client(std::move(impl)));
  CLIO_LOG(DEBUG, "cn", "opened address space %u on %s", (*out)->pid(), locator.c_str());
  return 0;
}

int Client::close() {
  if (!impl_->open) return -EACCES;
  impl_->open = false;
  impl_->add(wire::Opcode::kRasDestroy);
  return impl_->execute();
}

int Client::ralloc(size_t size, uint64_t* addr) {
  if (addr == nullptr || size == 0) return -EINVAL;
  Impl::Request& r = impl_->add(wire::Opcode::kRalloc);
  r.hdr.arg0 = size;
  const int rc = impl_->execute();
  if (rc == 0) *addr = impl_->reqs[0].reply.va;
  return rc;
}

int Client::rfree(uint64_t addr) {
  impl_->add(wire::Opcode::kRfree).hdr.va = addr;
  return impl_->execute();
}

int Client::rread(uint64_t addr, void* buf, size_t len) {
  if (len == 0) return 0;
  if (buf == nullptr) return -EINVAL;
  if (int rc = impl_->split(wire::Opcode::kRead, addr, static_cast<std::byte*>(buf), nullptr, len); rc != 0)
    return rc;
  return impl_->execute();
}

int Client::rwrite(uint64_t addr, const void* buf, size_t len) {
  if (len == 0) return 0;
  if (buf == nullptr) return -EINVAL;
  if (int rc = impl_->split(wire::Opcode::kWrite, addr, nullptr, static_cast<const std::byte*>(buf), len);
      rc != 0)
    return rc;
  return impl_->execute();
}

int Client::rcas(uint64_t addr, uint64_t expected, uint64_t desired, uint64_t* old) {
  if (old == nullptr || (addr & 7) != 0) return -EINVAL;
  Impl::Request& r = impl_->add(wire::Opcode::kCas);
  r.hdr.va = addr;
  r.hdr.length = 8;
  r.hdr.arg0 = expected;
  r.hdr.arg1 = desired;
  const int rc = impl_->execute();
  if (rc == 0) *old = impl_->reqs[0].reply.arg0;
  return rc;
}

int Client::rfaa(uint64_t addr, uint64_t add, uint64_t* old) {
  if (old == nullptr || (addr & 7) != 0) return -EINVAL;
  Impl::Request& r = impl_->add(wire::Opcode::kFaa);
  r.hdr.va = addr;
  r.hdr.length = 8;
  r.hdr.arg0 = add;
  const int rc = impl_->execute();
  if (rc == 0) *old = impl_->reqs[0].reply.arg0;
  return rc;
}

}  // namespace clio

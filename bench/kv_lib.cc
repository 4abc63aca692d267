// SPDX-License-Identifier: Apache-2.0
#include "bench/kv_lib.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <libmemcached/memcached.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/clock.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace clio::bench {
namespace {

bool accepts(uint16_t port) {
  const UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return fd.valid() && ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

}  // namespace

uint16_t free_port() {
  const UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw Error(std::string("no free port: ") + std::strerror(errno));
  return ntohs(a.sin_port);
}

Daemon::Daemon(const std::string& name, std::vector<std::string> args, uint16_t port)
    : name_(name) {
  pid_ = ::fork();
  if (pid_ < 0) throw Error("fork: " + std::string(std::strerror(errno)));
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  const uint64_t deadline = now_ns() + 10'000'000'000ull;
  while (!accepts(port)) {
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      throw Error(name_ + " exited at start (is it installed? scripts/setup-deps.sh)");
    }
    if (now_ns() > deadline) throw Error(name_ + " did not listen within 10 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Daemon::~Daemon() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const uint64_t deadline = now_ns() + 5'000'000'000ull;
  int st;
  while (::waitpid(pid_, &st, WNOHANG) != pid_) {
    if (now_ns() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

MemcachedServer::MemcachedServer(unsigned threads)
    : threads_(threads),
      port_(free_port()),
      daemon_("memcached",
              {"memcached", "-l", "127.0.0.1", "-p", std::to_string(port_), "-U", "0", "-t",
               std::to_string(threads), "-m", "1024", "-u", "root"},
              port_) {}

namespace {
[[noreturn]] void memcached_failed(const char* what, memcached_return_t rc) {
  throw Error(std::string("memcached ") + what + ": " + memcached_strerror(nullptr, rc));
}
}  // namespace

MemcachedClient::MemcachedClient(const MemcachedServer& s, uint64_t seed)
    : mc_(memcached_create(nullptr)), keys_(kKeys), rng_(seed) {
  if (mc_ == nullptr) throw Error("memcached_create failed");
  memcached_server_add(mc_, "127.0.0.1", s.port());
  memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  for (uint64_t k = 0; k < kKeys; ++k) keys_[k] = "k" + std::to_string(k);
}

MemcachedClient::~MemcachedClient() { memcached_free(mc_); }

void MemcachedClient::load(uint32_t size) {
  value_.assign(size, 'v');
  for (const std::string& k : keys_)
    if (auto rc = memcached_set(mc_, k.data(), k.size(), value_.data(), size, 0, 0);
        rc != MEMCACHED_SUCCESS)
      memcached_failed("set", rc);
}

void MemcachedClient::get() {
  const std::string& k = keys_[rng_.below(kKeys)];
  size_t len = 0;
  uint32_t flags = 0;
  memcached_return_t rc;
  char* v = memcached_get(mc_, k.data(), k.size(), &len, &flags, &rc);
  if (v == nullptr || len != value_.size()) memcached_failed("get", rc);
  std::free(v);
}

void MemcachedClient::set() {
  const std::string& k = keys_[rng_.below(kKeys)];
  if (auto rc = memcached_set(mc_, k.data(), k.size(), value_.data(), value_.size(), 0, 0);
      rc != MEMCACHED_SUCCESS)
    memcached_failed("set", rc);
}

void MemcachedClient::multiget(uint32_t depth) {
  ks_.resize(depth);
  ls_.resize(depth);
  for (uint32_t j = 0; j < depth; ++j) {
    const std::string& k = keys_[rng_.below(kKeys)];
    ks_[j] = k.data();
    ls_[j] = k.size();
  }
  if (auto rc = memcached_mget(mc_, ks_.data(), ls_.data(), depth); rc != MEMCACHED_SUCCESS)
    memcached_failed("mget", rc);
  // Every value, until the end (a key drawn twice in one batch comes back once).
  memcached_return_t rc;
  while (memcached_result_st* r = memcached_fetch_result(mc_, nullptr, &rc))
    memcached_result_free(r);
}

RedisServer::RedisServer()
    : port_(free_port()),
      daemon_("redis-server",
              {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no"},
              port_) {}

RedisClient::RedisClient(const RedisServer& s, uint64_t seed)
    : rc_(redisConnect("127.0.0.1", s.port())), rng_(seed) {
  if (rc_ == nullptr || rc_->err) {
    if (rc_ != nullptr) redisFree(rc_);
    throw Error("cannot connect to redis-server");
  }
  check(redisCommand(rc_, "SETRANGE mem %llu %b", static_cast<unsigned long long>(kMemory - 1), "",
                     size_t{1}));
}

RedisClient::~RedisClient() { redisFree(rc_); }

void RedisClient::check(void* reply) {
  auto* r = static_cast<redisReply*>(reply);
  if (r == nullptr || r->type == REDIS_REPLY_ERROR) {
    const std::string why = r != nullptr ? r->str : rc_->errstr;
    if (r != nullptr) freeReplyObject(r);
    throw Error("redis: " + why);
  }
  freeReplyObject(r);
}

void RedisClient::prepare(uint32_t size) {
  size_ = size;
  value_.assign(size, 'v');
}

void RedisClient::getrange() {
  const unsigned long long o = offset();
  check(redisCommand(rc_, "GETRANGE mem %llu %llu", o, o + size_ - 1));
}

void RedisClient::setrange() {
  check(redisCommand(rc_, "SETRANGE mem %llu %b", offset(), value_.data(), value_.size()));
}

void RedisClient::pipeline(uint32_t depth, bool write) {
  for (uint32_t j = 0; j < depth; ++j) {
    const unsigned long long o = offset();
    if (write) {
      redisAppendCommand(rc_, "SETRANGE mem %llu %b", o, value_.data(), value_.size());
    } else {
      redisAppendCommand(rc_, "GETRANGE mem %llu %llu", o, o + size_ - 1);
    }
  }
  for (uint32_t j = 0; j < depth; ++j) {
    void* r = nullptr;
    if (redisGetReply(rc_, &r) != REDIS_OK || r == nullptr)
      throw Error(std::string("redis pipeline: ") + rc_->errstr);
    check(r);
  }
}

}  // namespace clio::bench

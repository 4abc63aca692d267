// SPDX-License-Identifier: Apache-2.0
// The comparison's anchors as a library (kv_anchor and clio-compare): memcached through
// libmemcached and Redis through hiredis, each server started here on a free loopback port of its
// own and stopped with its object (and killed if this process dies).
//   memcached  GET and SET of one key among kKeys, multiget of `depth` keys (one TCP message)
//   Redis      GETRANGE and SETRANGE at random offsets of one 64 MiB string (a byte-addressed
//              remote memory, as Clio's), pipelines of `depth` commands
// One client object per thread (a connection each). Every call throws clio::Error on failure.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/rng.h"

struct memcached_st;
struct redisContext;

namespace clio::bench {

/// A server process of ours: started on construction (it dies with us), stopped on destruction.
class Daemon {
 public:
  /// Runs args (args[0] from PATH) and waits until it accepts on 127.0.0.1:port (10 s).
  Daemon(const std::string& name, std::vector<std::string> args, uint16_t port);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  pid_t pid() const { return pid_; }

 private:
  std::string name_;
  pid_t pid_ = -1;
};

/// A free TCP port on 127.0.0.1 (the kernel's choice).
uint16_t free_port();

class MemcachedServer {
 public:
  explicit MemcachedServer(unsigned threads);
  uint16_t port() const { return port_; }
  unsigned threads() const { return threads_; }

 private:
  unsigned threads_;
  uint16_t port_;
  Daemon daemon_;
};

class MemcachedClient {
 public:
  static constexpr uint64_t kKeys = 10'000;
  MemcachedClient(const MemcachedServer& s, uint64_t seed);
  ~MemcachedClient();
  MemcachedClient(const MemcachedClient&) = delete;
  MemcachedClient& operator=(const MemcachedClient&) = delete;

  /// Stores every key with a value of `size` bytes (the following calls use that size).
  void load(uint32_t size);
  void get();
  void set();
  void multiget(uint32_t depth);

 private:
  memcached_st* mc_;
  std::vector<std::string> keys_;
  std::string value_;
  std::vector<const char*> ks_;
  std::vector<size_t> ls_;
  Rng rng_;
};

class RedisServer {
 public:
  RedisServer();
  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  Daemon daemon_;
};

class RedisClient {
 public:
  static constexpr uint64_t kMemory = uint64_t{64} << 20;
  RedisClient(const RedisServer& s, uint64_t seed);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  /// Requests of `size` bytes from here on (creates the string on first use).
  void prepare(uint32_t size);
  void getrange();
  void setrange();
  void pipeline(uint32_t depth, bool write);

 private:
  unsigned long long offset() {
    return static_cast<unsigned long long>(rng_.below(kMemory / size_) * size_);
  }
  void check(void* reply);
  redisContext* rc_;
  uint32_t size_ = 1;
  std::string value_;
  Rng rng_;
};

}  // namespace clio::bench

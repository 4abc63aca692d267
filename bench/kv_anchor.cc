// kv_anchor: the comparison's anchors, memcached (through libmemcached) and Redis (through
// hiredis), started and stopped here on loopback ports of their own, and measured the way
// rw_latency and rw_async measure Clio:
//   - latency by value size, one synchronous request at a time: memcached GET and SET of one
//     key; Redis GETRANGE and SETRANGE at random offsets of one large string (byte-addressed
//     remote memory, as Clio's);
//   - throughput at a queue depth: memcached multiget of `depth` keys, Redis pipelines of
//     `depth` commands; each batch is timed as a whole.
// memcached runs with --memcached-threads worker threads (set it to the MN's workers); Redis is
// single-threaded, whatever the machine. Both use the kernel's TCP stack on loopback.
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <libmemcached/memcached.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/options.h"
#include "bench/report.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/histogram.h"
#include "common/rng.h"

namespace po = boost::program_options;
using namespace clio;

namespace {

/// A free TCP port on 127.0.0.1 (the kernel's choice; the daemon binds it a moment later).
uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw Error(std::string("kv_anchor: no free port: ") + std::strerror(errno));
  ::close(fd);
  return ntohs(a.sin_port);
}

bool accepts(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

/// A server process of ours: started on construction (it dies with us), stopped on destruction.
class Daemon {
 public:
  Daemon(const std::string& name, std::vector<std::string> args, uint16_t port) : name_(name) {
    pid_ = ::fork();
    if (pid_ < 0) throw Error("kv_anchor: fork: " + std::string(std::strerror(errno)));
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
        throw Error("kv_anchor: " + name_ +
                    " exited at start (is it installed? scripts/setup-deps.sh)");
      }
      if (now_ns() > deadline) throw Error("kv_anchor: " + name_ + " did not listen within 10 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~Daemon() {
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
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

 private:
  std::string name_;
  pid_t pid_ = -1;
};

struct Point {
  Histogram ns;  ///< per request (depth 1) or per batch
  double ops_per_s = 0;
};

/// Runs `batches` calls of op (each does `per_call` requests) after a short warm-up.
template <typename F>
Point measure(uint64_t batches, uint64_t per_call, F&& op) {
  for (uint64_t i = 0; i < std::min<uint64_t>(batches / 10 + 1, 1000); ++i) op(i);
  Point p;
  const uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < batches; ++i) {
    const uint64_t t = now_ns();
    op(i);
    p.ns.record(now_ns() - t);
  }
  p.ops_per_s = static_cast<double>(batches * per_call) * 1e9 / static_cast<double>(now_ns() - t0);
  return p;
}

/// One result row: which server and request, at which size and depth, and what it did.
bench::Row row(const char* system, const char* op, uint32_t size, uint32_t depth,
               unsigned server_threads, const Point& p) {
  bench::Row r;
  r.set("system", system)
      .set("op", op)
      .set("size", uint64_t{size})
      .set("depth", uint64_t{depth})
      .set("server_threads", uint64_t{server_threads})
      .latency(p.ns)
      .set("ops_per_s", p.ops_per_s);
  return r;
}

constexpr uint64_t kKeys = 10'000;
std::string key_of(uint64_t k) { return "k" + std::to_string(k % kKeys); }

void run_memcached(unsigned threads, const std::vector<uint32_t>& sizes,
                   const std::vector<uint32_t>& depths, uint64_t ops, bench::Report* report) {
  const uint16_t port = free_port();
  Daemon d("memcached",
           {"memcached", "-l", "127.0.0.1", "-p", std::to_string(port), "-U", "0", "-t",
            std::to_string(threads), "-m", "1024", "-u", "root"},
           port);
  std::unique_ptr<memcached_st, decltype(&memcached_free)> mc(memcached_create(nullptr),
                                                              memcached_free);
  memcached_server_add(mc.get(), "127.0.0.1", port);
  memcached_behavior_set(mc.get(), MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  Rng rng(1);
  std::vector<std::string> keys(kKeys);
  for (uint64_t k = 0; k < kKeys; ++k) keys[k] = key_of(k);
  auto fail = [](const char* what, memcached_return_t rc) {
    throw Error(std::string("kv_anchor: memcached ") + what + ": " +
                memcached_strerror(nullptr, rc));
  };
  for (uint32_t size : sizes) {
    const std::string value(size, 'v');
    for (uint64_t k = 0; k < kKeys; ++k)
      if (auto rc =
              memcached_set(mc.get(), keys[k].data(), keys[k].size(), value.data(), size, 0, 0);
          rc != MEMCACHED_SUCCESS)
        fail("set", rc);
    const Point get = measure(ops, 1, [&](uint64_t) {
      const std::string& k = keys[rng.below(kKeys)];
      size_t len = 0;
      uint32_t flags = 0;
      memcached_return_t rc;
      char* v = memcached_get(mc.get(), k.data(), k.size(), &len, &flags, &rc);
      if (v == nullptr || len != size) fail("get", rc);
      std::free(v);
    });
    const Point set = measure(ops, 1, [&](uint64_t) {
      const std::string& k = keys[rng.below(kKeys)];
      if (auto rc = memcached_set(mc.get(), k.data(), k.size(), value.data(), size, 0, 0);
          rc != MEMCACHED_SUCCESS)
        fail("set", rc);
    });
    for (const auto& [op, p] : {std::pair{"get", &get}, std::pair{"set", &set}})
      report->add(row("memcached", op, size, 1, threads, *p));
    for (uint32_t depth : depths) {
      if (depth <= 1) continue;
      std::vector<const char*> ks(depth);
      std::vector<size_t> ls(depth);
      const Point mget = measure(std::max<uint64_t>(ops / depth, 100), depth, [&](uint64_t) {
        for (uint32_t j = 0; j < depth; ++j) {
          const std::string& k = keys[rng.below(kKeys)];
          ks[j] = k.data();
          ls[j] = k.size();
        }
        if (auto rc = memcached_mget(mc.get(), ks.data(), ls.data(), depth);
            rc != MEMCACHED_SUCCESS)
          fail("mget", rc);
        // Every value, until the end (a key drawn twice in one batch comes back once).
        memcached_return_t rc;
        while (memcached_result_st* r = memcached_fetch_result(mc.get(), nullptr, &rc))
          memcached_result_free(r);
      });
      report->add(row("memcached", "multiget", size, depth, threads, mget));
    }
  }
}

void run_redis(const std::vector<uint32_t>& sizes, const std::vector<uint32_t>& depths,
               uint64_t ops, bench::Report* report) {
  const uint16_t port = free_port();
  Daemon d("redis-server",
           {"redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no"},
           port);
  std::unique_ptr<redisContext, decltype(&redisFree)> rc(redisConnect("127.0.0.1", port),
                                                         redisFree);
  if (!rc || rc->err) throw Error("kv_anchor: cannot connect to redis-server");
  auto command = [&](const char* fmt, auto... args) {
    auto* r = static_cast<redisReply*>(redisCommand(rc.get(), fmt, args...));
    if (r == nullptr || r->type == REDIS_REPLY_ERROR)
      throw Error(std::string("kv_anchor: redis: ") + (r ? r->str : rc->errstr));
    freeReplyObject(r);
  };
  constexpr uint64_t kMemory = uint64_t{64} << 20;  // one string: a byte-addressed memory
  command("SETRANGE mem %llu %b", static_cast<unsigned long long>(kMemory - 1), "", size_t{1});
  Rng rng(2);
  for (uint32_t size : sizes) {
    const std::string value(size, 'v');
    auto offset = [&] { return static_cast<unsigned long long>(rng.below(kMemory / size) * size); };
    const Point get = measure(ops, 1, [&](uint64_t) {
      const unsigned long long o = offset();
      command("GETRANGE mem %llu %llu", o, o + size - 1);
    });
    const Point set = measure(ops, 1, [&](uint64_t) {
      command("SETRANGE mem %llu %b", offset(), value.data(), value.size());
    });
    for (const auto& [op, p] : {std::pair{"getrange", &get}, std::pair{"setrange", &set}})
      report->add(row("redis", op, size, 1, 1, *p));
    for (uint32_t depth : depths) {
      if (depth <= 1) continue;
      for (const bool write : {false, true}) {
        const Point pipe = measure(std::max<uint64_t>(ops / depth, 100), depth, [&](uint64_t) {
          for (uint32_t j = 0; j < depth; ++j) {
            const unsigned long long o = offset();
            if (write) {
              redisAppendCommand(rc.get(), "SETRANGE mem %llu %b", o, value.data(), value.size());
            } else {
              redisAppendCommand(rc.get(), "GETRANGE mem %llu %llu", o, o + size - 1);
            }
          }
          for (uint32_t j = 0; j < depth; ++j) {
            void* r = nullptr;
            if (redisGetReply(rc.get(), &r) != REDIS_OK || r == nullptr)
              throw Error(std::string("kv_anchor: redis pipeline: ") + rc->errstr);
            freeReplyObject(r);
          }
        });
        report->add(row("redis", write ? "setrange" : "getrange", size, depth, 1, pipe));
      }
    }
  }
}

std::vector<uint32_t> parse_list(const std::string& s, const char* what, uint32_t max) {
  std::vector<uint32_t> out;
  for (const auto& part : bench::split_list(s)) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || v < 1 || v > max)
      throw ConfigError(std::string("--") + what + ": '" + part + "' is not a number from 1 to " +
                        std::to_string(max));
    out.push_back(static_cast<uint32_t>(v));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("Options");
  bool quick = false;
  opts.add_options()("help,h", "show this help and exit")("quick", po::bool_switch(&quick),
                                                          "a short run (a few seconds)")(
      "systems", po::value<std::string>()->default_value("memcached,redis"),
      "which anchors: memcached, redis")(
      "sizes", po::value<std::string>()->default_value("16,64,256,1024,4096"), "value bytes")(
      "depths", po::value<std::string>()->default_value("1,32"),
      "queue depths (memcached multiget, Redis pipelines); 1: latency only")(
      "ops", po::value<uint64_t>()->default_value(0),
      "requests per point (default 50000, 2000 with --quick)")(
      "memcached-threads", po::value<unsigned>()->default_value(1),
      "memcached's worker threads (-t): set it to the MN's worker count");
  po::variables_map vm;
  if (const int rc = bench::parse_options("kv_anchor", argc, argv, opts, &vm); rc >= 0) return rc;
  try {
    const auto sizes = parse_list(vm["sizes"].as<std::string>(), "sizes", 1 << 20);
    const auto depths = parse_list(vm["depths"].as<std::string>(), "depths", 4096);
    uint64_t ops = vm["ops"].as<uint64_t>();
    if (ops == 0) ops = quick ? 2000 : 50'000;
    bench::Report report("kv_anchor");
    for (const auto& s : bench::split_list(vm["systems"].as<std::string>())) {
      if (s == "memcached") {
        run_memcached(vm["memcached-threads"].as<unsigned>(), sizes, depths, ops, &report);
      } else if (s == "redis") {
        run_redis(sizes, depths, ops, &report);
      } else {
        throw ConfigError("--systems: '" + s + "' is not memcached or redis");
      }
    }
    report.print();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
#include "bench/floors.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "common/rng.h"
#include "common/wire.h"
#include "verbs_shim/registry.h"

namespace clio::bench {

namespace {

/// A bare echo of `server` on a thread of its own (pinned to server_cpu when > 0): every
/// request is answered with a reply of header + N bytes, N being the request's first 4 bytes.
/// Replies to one burst go back in one tx_burst, so the udp backend sends a run of equal ones
/// as one datagram, as the MN's answers go. Stops and joins when destroyed.
class Echo {
 public:
  Echo(net::Transport& server, int server_cpu)
      : server_(server), thread_([this, server_cpu] { run(server_cpu); }) {}
  ~Echo() {
    stop_.store(true);
    thread_.join();
  }
  Echo(const Echo&) = delete;
  Echo& operator=(const Echo&) = delete;

 private:
  void run(int server_cpu) {
    if (server_cpu > 0) pin_to_cpu(server_cpu);
    std::vector<std::byte> reply(wire::kHeaderBytes + 65536, std::byte{0x5a});
    net::PacketView rx[32];
    net::TxItem tx[32];
    while (!stop_.load(std::memory_order_relaxed)) {
      const size_t got = server_.rx_burst(rx);
      for (size_t i = 0; i < got; ++i) {
        uint32_t size = 0;
        if (rx[i].data.size() >= 4) std::memcpy(&size, rx[i].data.data(), 4);
        size = std::min<uint32_t>(size, 65536);
        tx[i] = net::TxItem{rx[i].from, std::span(reply.data(), wire::kHeaderBytes + size), {}};
      }
      size_t sent = 0;
      while (sent < got) sent += server_.tx_burst(std::span(tx + sent, got - sent));
      server_.release(std::span(rx, got));
    }
  }

  net::Transport& server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// An 80-byte request asking the echo for a reply of header + size bytes.
std::vector<std::byte> echo_request(uint32_t size) {
  std::vector<std::byte> req(wire::kHeaderBytes, std::byte{0});
  std::memcpy(req.data(), &size, 4);
  return req;
}

}  // namespace

/// Raw UDP ping-pong: the transport's floor. Returns p50 per size.
std::map<uint32_t, Measured> udp_floor(const std::vector<uint32_t>& sizes, uint64_t n,
                                       int server_cpu) {
  auto server = net::listen("udp:host=127.0.0.1,port=0");
  Echo echo(*server, server_cpu);
  net::Endpoint ep;
  auto client = net::connect(server->locator(), &ep);
  std::map<uint32_t, Measured> out;
  for (uint32_t size : sizes) {
    const std::vector<std::byte> req = echo_request(size);
    auto once = [&](uint64_t) {
      net::TxItem t{ep, req, {}};
      while (client->tx_burst(std::span(&t, 1)) != 1) {
      }
      net::PacketView v;
      while (client->rx_burst(std::span(&v, 1)) == 0) {
      }
      const bool ok = v.data.size() == wire::kHeaderBytes + size;
      client->release(std::span(&v, 1));
      return ok;
    };
    time_ops(n / 10, once);  // warm-up
    out[size] = time_ops(n, once);
  }
  return out;
}

Measured window_floor(const std::string& listen, uint32_t size, uint32_t depth, double seconds,
                      int server_cpu) {
  auto server = net::listen(listen);
  Echo echo(*server, server_cpu);
  net::Endpoint ep;
  auto client = net::connect(server->locator(), &ep);
  const std::vector<std::byte> req = echo_request(size);
  depth = std::max<uint32_t>(depth, 1);
  const uint32_t half = std::max<uint32_t>(1, depth / 2);
  const std::vector<net::TxItem> items(half, net::TxItem{ep, req, {}});
  // Issue times of the requests in flight, oldest first: one echo thread on one socket answers
  // in order, so the oldest is the one a reply answers.
  std::vector<uint64_t> issued(depth);
  uint64_t head = 0, tail = 0;
  auto issue = [&](uint64_t n) {
    const uint64_t now = now_ns();
    for (uint64_t s = 0; s < n; s += half) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(half, n - s));
      for (size_t i = 0; i < k; ++i) issued[tail++ % depth] = now;
      size_t sent = 0;
      while (sent < k) sent += client->tx_burst(std::span(items.data() + sent, k - sent));
    }
  };
  net::PacketView rx[32];
  auto run = [&](double secs, Measured* m) {
    uint64_t ops = 0;
    const uint64_t t0 = now_ns(), end = t0 + static_cast<uint64_t>(secs * 1e9);
    for (;;) {
      const size_t got = client->rx_burst(rx);
      const uint64_t now = now_ns();
      for (size_t i = 0; i < got; ++i) {
        if (rx[i].data.size() != wire::kHeaderBytes + size) {
          std::fprintf(stderr, "window_floor: a reply of %zu bytes\n", rx[i].data.size());
          std::exit(1);
        }
        if (m != nullptr) m->ns.record(now - issued[head % depth]);
        ++head;
      }
      client->release(std::span(rx, got));
      ops += got;
      if (got > 0) issue(got);  // reissue what came back, half a window per burst at most
      if (now >= end) break;    // (the window stays full for the next run)
    }
    if (m != nullptr)
      m->ops_per_s = static_cast<double>(ops) * 1e9 / static_cast<double>(now_ns() - t0);
  };
  issue(depth);
  run(seconds / 10, nullptr);  // warm-up
  Measured m;
  run(seconds, &m);
  // Every reply is reissued, so the window is full unless the transport lost something (udp
  // under overflow): then this floor ran with less in flight than asked, which must not pass
  // unseen.
  if (tail - head != depth)
    std::fprintf(stderr, "window_floor: %llu of %u requests in flight at the end (lost)\n",
                 static_cast<unsigned long long>(tail - head), depth);
  return m;
}

/// The inproc floor: a cache-line ping-pong between this thread's core and `peer_cpu`, where
/// the embedded MN's worker runs. A round trip moves the line there and back, as the least any
/// in-process request and its answer must.
Measured cacheline_floor(uint64_t n, int peer_cpu) {
  struct alignas(64) Line {
    std::atomic<uint64_t> v{0};
  };
  Line ping, pong;
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    if (peer_cpu > 0) pin_to_cpu(peer_cpu);
    uint64_t seen = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t v = ping.v.load(std::memory_order_acquire);
      if (v != seen) {
        seen = v;
        pong.v.store(v, std::memory_order_release);
      }
    }
  });
  uint64_t next = 0;
  auto once = [&](uint64_t) {
    ping.v.store(++next, std::memory_order_release);
    while (pong.v.load(std::memory_order_acquire) != next) {
    }
    return true;
  };
  time_ops(n / 10, once);  // warm-up
  const Measured m = time_ops(n, once);
  stop.store(true);
  echo.join();
  return m;
}

}  // namespace clio::bench

namespace clio::bench {

Measured endpoints_floor(const std::string& listen, uint64_t clients, uint32_t size, uint64_t n,
                         int server_cpu) {
  auto server = net::listen(listen);
  Echo echo(*server, server_cpu);
  std::vector<std::unique_ptr<net::Transport>> cs;
  net::Endpoint ep;
  for (uint64_t i = 0; i < clients; ++i) cs.push_back(net::connect(server->locator(), &ep));
  const std::vector<std::byte> req = echo_request(size);
  Rng rng(clients);
  auto once = [&](uint64_t) {
    net::Transport& c = *cs[rng.below(clients)];
    net::TxItem t{ep, req, {}};
    while (c.tx_burst(std::span(&t, 1)) != 1) {
    }
    net::PacketView v;
    while (c.rx_burst(std::span(&v, 1)) == 0) {
    }
    const bool ok = v.data.size() == wire::kHeaderBytes + size;
    c.release(std::span(&v, 1));
    return ok;
  };
  time_ops(n / 10 + 1, once);  // warm-up
  return time_ops(n, once);
}

}  // namespace clio::bench

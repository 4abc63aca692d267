// SPDX-License-Identifier: Apache-2.0
#include "bench/floors.h"

#include <atomic>
#include <cstring>
#include <thread>

#include "common/rng.h"
#include "common/wire.h"
#include "verbs_shim/registry.h"

namespace clio::bench {

/// Raw UDP ping-pong: the transport's floor. Returns p50 per size.
std::map<uint32_t, Measured> udp_floor(const std::vector<uint32_t>& sizes, uint64_t n,
                                       int server_cpu) {
  auto server = net::listen("udp:host=127.0.0.1,port=0");
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    if (server_cpu > 0) pin_to_cpu(server_cpu);
    std::vector<std::byte> reply(wire::kHeaderBytes + 65536, std::byte{0x5a});
    net::PacketView rx[32];
    net::TxItem tx[32];
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t got = server->rx_burst(rx);
      for (size_t i = 0; i < got; ++i) {
        uint32_t size;
        std::memcpy(&size, rx[i].data.data(), 4);
        tx[i] = net::TxItem{rx[i].from, std::span(reply.data(), wire::kHeaderBytes + size), {}};
      }
      size_t sent = 0;
      while (sent < got) sent += server->tx_burst(std::span(tx + sent, got - sent));
      server->release(std::span(rx, got));
    }
  });
  net::Endpoint ep;
  auto client = net::connect(server->locator(), &ep);
  std::map<uint32_t, Measured> out;
  std::vector<std::byte> req(wire::kHeaderBytes, std::byte{0});
  for (uint32_t size : sizes) {
    std::memcpy(req.data(), &size, 4);
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
  stop.store(true);
  echo.join();
  return out;
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
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    if (server_cpu > 0) pin_to_cpu(server_cpu);
    std::vector<std::byte> reply(wire::kHeaderBytes + size, std::byte{0x5a});
    net::PacketView rx[32];
    net::TxItem tx[32];
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t got = server->rx_burst(rx);
      for (size_t i = 0; i < got; ++i) tx[i] = net::TxItem{rx[i].from, reply, {}};
      size_t sent = 0;
      while (sent < got) sent += server->tx_burst(std::span(tx + sent, got - sent));
      server->release(std::span(rx, got));
    }
  });
  std::vector<std::unique_ptr<net::Transport>> cs;
  net::Endpoint ep;
  for (uint64_t i = 0; i < clients; ++i) cs.push_back(net::connect(server->locator(), &ep));
  std::vector<std::byte> req(wire::kHeaderBytes, std::byte{0});
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
  const Measured m = time_ops(n, once);
  stop.store(true);
  echo.join();
  return m;
}

}  // namespace clio::bench

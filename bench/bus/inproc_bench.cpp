// The in-process event bus: events published and consumed with an
// acknowledgement each, per second.
//
//   bus_inproc_bench [--events 2000000] [--batch 256] [--publish-batch 256] [--payload 200]
//                    [--bridge]
//
// One thread publishes (publish_async_many of --publish-batch events, as the outbox relay does;
// 1: publish_async each), one consumes: fetch up to --batch
// deliveries, acknowledge each (ack_many: one lock for the batch). The clock runs from the first
// publish until every publish_async has reported done, which for the in-process bus means every
// event was acknowledged. --bridge consumes through a Bridge (the path modules use: lanes, order
// guard, dead-letter rules) instead of a bare fetch/ack loop. Prints one JSON line. Results:
// docs/benchmarks.md.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bus/bridge.hpp"
#include "bus/inproc_bus.hpp"

using namespace office;
using Steady = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App cli{"in-process bus benchmark"};
  std::size_t events = 2'000'000;
  std::size_t batch = 256;
  std::size_t payload = 200;
  std::size_t subjects = 64;
  std::size_t publish_batch = 256;
  bool use_bridge = false;
  cli.add_option("--events", events);
  cli.add_option("--batch", batch);
  cli.add_option("--payload", payload, "payload bytes");
  cli.add_option("--subjects", subjects, "distinct subjects");
  cli.add_option("--publish-batch", publish_batch,
                 "events per publish_async_many (1: publish_async each)");
  cli.add_flag("--bridge", use_bridge, "consume through a Bridge");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  bus::InprocBusOptions bo;
  bo.max_events = 100'000;
  auto b = bus::open_inproc_bus(bo);
  bus::ConsumerOptions co;
  co.name = "bench";
  co.filter = "bench.>";
  co.max_in_flight = 1000;
  co.lanes = 1;
  auto consumer = b->consumer(co);
  if (!consumer) return 1;

  // Prepared up front so the clock measures the bus, not making ids.
  std::vector<bus::Event> prepared;
  prepared.reserve(events);
  std::vector<std::string> subject_names;
  for (std::size_t i = 0; i < subjects; ++i)
    subject_names.push_back("bench.t1.s" + std::to_string(i));
  for (std::size_t i = 0; i < events; ++i) {
    prepared.push_back(bus::make_event("office.bench.v1.Thing", "t1", subject_names[i % subjects],
                                       std::string(payload, 'x')));
  }

  std::atomic<std::size_t> done{0};
  std::atomic<std::size_t> failed{0};
  std::atomic<bool> stop{false};
  std::unique_ptr<bus::Bridge> bridge;
  std::thread consumer_thread;
  if (use_bridge) {
    bridge = std::make_unique<bus::Bridge>(
        *b, *consumer, [](const bus::Event&, const bus::DeliveryInfo&) -> Status { return {}; });
    bridge->start();
  } else {
    consumer_thread = std::thread([&] {
      while (!stop.load()) {
        auto got = (*consumer)->fetch(batch, std::chrono::milliseconds(50));
        if (!got) continue;
        (void)(*consumer)->ack_many(*got);
      }
    });
  }

  auto t0 = Steady::now();
  // Like the outbox relay, the publisher keeps a window below the bus's
  // bound, so publish_async is never refused.
  const std::size_t window = bo.max_events - 1000;
  std::size_t published = 0;
  auto on_done = [&](const Status& st) {
    if (st.ok()) {
      done.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed.fetch_add(1);
    }
  };
  std::vector<bus::EventBus::Outgoing> batch_buf;
  for (std::size_t i = 0; i < prepared.size();) {
    const std::size_t n = std::min(std::max<std::size_t>(1, publish_batch), prepared.size() - i);
    while (published + n - done.load(std::memory_order_relaxed) - failed.load() >= window) {
      std::this_thread::yield();
    }
    if (n == 1) {
      b->publish_async(std::move(prepared[i]), on_done);
    } else {
      batch_buf.clear();
      for (std::size_t k = 0; k < n; ++k)
        batch_buf.push_back(bus::EventBus::Outgoing{std::move(prepared[i + k]), on_done});
      if (b->publish_async_many(batch_buf) != n) failed.fetch_add(n - 1);
    }
    i += n;
    published += n;
  }
  while (done.load() + failed.load() < events)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  double secs = std::chrono::duration<double>(Steady::now() - t0).count();
  stop = true;
  if (consumer_thread.joinable()) consumer_thread.join();
  if (bridge) bridge->stop();
  std::printf(
      "{\"bench\":\"bus_inproc\",\"consumer\":\"%s\",\"events\":%zu,\"payload\":%zu,"
      "\"seconds\":%.3f,\"events_per_s\":%.0f,\"failed\":%zu}\n",
      use_bridge ? "bridge" : "fetch_ack", events, payload, secs,
      static_cast<double>(events) / secs, failed.load());
  return failed.load() == 0 ? 0 : 1;
}

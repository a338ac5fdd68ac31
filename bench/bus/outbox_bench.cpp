// The outbox relay on SQLite: events per second from commit to consumer
// acknowledgement.
//
//   bus_outbox_bench --dir DIR [--events 200000] [--per-tx 50] [--writers 4]
//
// `writers` threads commit transactions of `per-tx` events each (a domain
// row + its outbox row per event, durable: WAL + synchronous=FULL, group
// commit), the relay publishes them to the in-process bus, a Bridge
// acknowledges each. The clock runs from the first commit until the last
// event was acknowledged and its outbox row marked sent. Prints one JSON
// line with the rate and the commit-to-ack latency percentiles.
// Results: docs/benchmarks.md.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bus/bridge.hpp"
#include "bus/inproc_bus.hpp"
#include "bus/outbox.hpp"
#include "bus/schema.hpp"
#include "storage/database.hpp"

using namespace office;
using Steady = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App cli{"outbox relay benchmark"};
  std::string dir = ".";
  std::size_t events = 200'000;
  std::size_t per_tx = 50;
  std::size_t writers = 4;
  cli.add_option("--dir", dir, "directory for the SQLite file");
  cli.add_option("--events", events);
  cli.add_option("--per-tx", per_tx, "events committed per transaction");
  cli.add_option("--writers", writers, "committing threads");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  std::filesystem::path path = std::filesystem::path(dir) / "outbox_bench.db";
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + "-wal");
  std::filesystem::remove(path.string() + "-shm");
  storage::SqliteOptions so;
  so.path = path.string();
  auto db = storage::open_sqlite(so);
  if (!db) {
    std::fprintf(stderr, "%s\n", db.error().message.c_str());
    return 1;
  }
  const storage::Migration domain[] = {
      {"bench", 1, "domain rows", "CREATE TABLE things (id TEXT PRIMARY KEY, n BIGINT NOT NULL)"}};
  if (!(*db)->migrate(bus::migrations()) || !(*db)->migrate(domain)) return 1;

  auto b = bus::open_inproc_bus();
  bus::ConsumerOptions co;
  co.name = "bench";
  co.filter = "bench.>";
  co.max_in_flight = 1000;
  co.lanes = 2;
  auto consumer = b->consumer(co);
  if (!consumer) return 1;

  // The commit time of each event, by its payload (its index).
  std::vector<Steady::time_point> committed(events);
  std::vector<Steady::time_point> acked_at(events);
  std::atomic<std::size_t> acked{0};
  bus::Bridge bridge(*b, *consumer, [&](const bus::Event& e, const bus::DeliveryInfo&) -> Status {
    std::size_t i = std::stoul(e.payload.substr(0, e.payload.find(' ')));
    acked_at[i] = Steady::now();
    acked.fetch_add(1, std::memory_order_relaxed);
    return {};
  });
  bridge.start();
  bus::OutboxRelay relay(**db, *b);
  relay.start();

  auto t0 = Steady::now();
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < writers; ++w) {
    threads.emplace_back([&] {
      while (true) {
        std::size_t first = next.fetch_add(per_tx);
        if (first >= events) return;
        std::size_t last = std::min(events, first + per_tx);
        std::vector<bus::Event> batch;
        for (std::size_t i = first; i < last; ++i) {
          batch.push_back(bus::make_event("office.bench.v1.Made", "t1",
                                          "bench.t1.s" + std::to_string(i % 64),
                                          std::to_string(i) + std::string(150, ' ')));
        }
        Status st = (*db)->write([&](storage::Tx& tx) -> Status {
          for (const auto& e : batch) {
            auto r = tx.exec("INSERT INTO things (id, n) VALUES (?1, ?2)",
                             {e.id, static_cast<std::int64_t>(std::stoul(e.payload))});
            if (!r) return r.error();
            if (auto s = bus::append_outbox(tx, e); !s) return s;
          }
          return {};
        });
        if (!st) {
          std::fprintf(stderr, "commit: %s\n", st.error().message.c_str());
          std::exit(1);
        }
        auto now = Steady::now();
        for (std::size_t i = first; i < last; ++i) committed[i] = now;
        relay.notify();
      }
    });
  }
  for (auto& t : threads) t.join();
  while (acked.load() < events || relay.stats().marked < events) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  double secs = std::chrono::duration<double>(Steady::now() - t0).count();
  relay.stop();
  bridge.stop();
  // The writer notes the commit time when write() returned, which can be
  // after the relay already delivered the event: that counts as 0.
  std::vector<double> latency_ms(events);
  for (std::size_t i = 0; i < events; ++i) {
    latency_ms[i] = std::max(
        0.0, std::chrono::duration<double, std::milli>(acked_at[i] - committed[i]).count());
  }
  std::sort(latency_ms.begin(), latency_ms.end());
  auto pct = [&](double p) { return latency_ms[static_cast<std::size_t>(p * (events - 1))]; };
  std::printf(
      "{\"bench\":\"bus_outbox_sqlite\",\"events\":%zu,\"per_tx\":%zu,\"writers\":%zu,"
      "\"seconds\":%.3f,\"events_per_s\":%.0f,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f}\n",
      events, per_tx, writers, secs, static_cast<double>(events) / secs, pct(0.5), pct(0.99),
      latency_ms.back());
  return 0;
}

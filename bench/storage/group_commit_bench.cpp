// Durable small writes per second, with and without group commit.
//
//   group_commit_bench --backend sqlite --dir DIR --writers 100 --seconds 10 [--max-batch 1]
//   group_commit_bench --backend postgres --url postgresql://... --writers 100 --seconds 10
//
// Each of `writers` threads commits units in a loop; a unit is one write()
// with one single-row INSERT, and write() returns only once it is durable
// (SQLite: WAL + synchronous=FULL; PostgreSQL: its defaults, fsync on). Prints
// one JSON line: units/s, transactions (fsyncs) and latency percentiles.
// --max-batch 1 is one transaction per write (the comparison). See
// bench/storage/group_commit.sh and docs/benchmarks.md.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "storage/database.hpp"

using office::Status;
using office::storage::Database;
using office::storage::Tx;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App cli{"group commit benchmark"};
  std::string backend = "sqlite";
  std::string dir = ".";
  std::string url;
  int writers = 100;
  double seconds = 10;
  std::size_t max_batch = 512;
  std::size_t pg_lanes = 2;
  cli.add_option("--backend", backend)->check(CLI::IsMember({"sqlite", "postgres"}));
  cli.add_option("--dir", dir, "directory for the SQLite file");
  cli.add_option("--url", url, "PostgreSQL URL");
  cli.add_option("--writers", writers)->check(CLI::Range(1, 10000));
  cli.add_option("--seconds", seconds);
  cli.add_option("--max-batch", max_batch, "1 = one transaction per write");
  cli.add_option("--pg-write-connections", pg_lanes);
  bool async = false;
  cli.add_flag("--async", async,
               "writers are chains of write_async() calls (each starts its next unit in the "
               "completion of the last) instead of threads blocked in write()");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  office::storage::WriteOptions w;
  w.max_batch = max_batch;
  office::Result<std::unique_ptr<Database>> opened = office::Error::internal("unset");
  if (backend == "sqlite") {
    std::filesystem::path path = std::filesystem::path(dir) / "group_commit_bench.db";
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
    office::storage::SqliteOptions o;
    o.path = path.string();
    o.synchronous_full = true;
    o.writes = w;
    opened = office::storage::open_sqlite(o);
  } else {
    office::storage::PostgresOptions o;
    o.url = url;
    o.writes = w;
    o.write_connections = pg_lanes;
    opened = office::storage::open_postgres(o);
  }
  if (!opened) {
    std::fprintf(stderr, "open: %s\n", opened.error().message.c_str());
    return 1;
  }
  Database& db = **opened;
  Status st = db.write([](Tx& tx) -> Status {
    if (auto r = tx.exec("DROP TABLE IF EXISTS bench"); !r) return r.error();
    if (auto r = tx.exec("CREATE TABLE bench (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)"); !r)
      return r.error();
    return {};
  });
  if (!st) {
    std::fprintf(stderr, "create: %s\n", st.error().message.c_str());
    return 1;
  }

  std::atomic<std::int64_t> next_id{1};
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> failures{0};
  std::vector<std::vector<std::uint32_t>> latencies_us(static_cast<std::size_t>(writers));
  const std::string payload(64, 'x');
  auto before = db.write_stats();
  auto start = Clock::now();
  if (async) {
    // Completions run on the committer thread, one at a time: a writer's
    // vector is only ever touched by its own chain.
    std::atomic<int> finished{0};
    std::function<void(int)> submit = [&](int w) {
      if (stop.load(std::memory_order_relaxed)) {
        ++finished;
        return;
      }
      std::int64_t id = next_id.fetch_add(1);
      auto t0 = Clock::now();
      bool queued = db.write_async(
          [id, &payload](Tx& tx) -> Status {
            auto r = tx.exec("INSERT INTO bench (id, payload) VALUES (?1, ?2)", {id, payload});
            if (!r) return r.error();
            return {};
          },
          [&, w, t0](Status s) {
            auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
            if (s) {
              latencies_us[static_cast<std::size_t>(w)].push_back(
                  static_cast<std::uint32_t>(us.count()));
            } else {
              ++failures;
            }
            submit(w);
          });
      if (!queued) {
        ++failures;
        ++finished;
      }
    };
    for (int w = 0; w < writers; ++w) submit(w);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    while (finished.load() < writers) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  } else {
    std::vector<std::thread> threads;
    for (int t = 0; t < writers; ++t) {
      threads.emplace_back([&, t] {
        auto& lat = latencies_us[static_cast<std::size_t>(t)];
        lat.reserve(1 << 16);
        while (!stop.load(std::memory_order_relaxed)) {
          std::int64_t id = next_id.fetch_add(1);
          auto t0 = Clock::now();
          Status s = db.write([&](Tx& tx) -> Status {
            auto r = tx.exec("INSERT INTO bench (id, payload) VALUES (?1, ?2)", {id, payload});
            if (!r) return r.error();
            return {};
          });
          auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
          if (!s) {
            ++failures;
            continue;
          }
          lat.push_back(static_cast<std::uint32_t>(us.count()));
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : threads) t.join();
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  auto after = db.write_stats();

  std::vector<std::uint32_t> all;
  for (auto& v : latencies_us) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) -> double {
    if (all.empty()) return 0;
    return all[std::min(all.size() - 1,
                        static_cast<std::size_t>(p * static_cast<double>(all.size())))] /
           1000.0;
  };
  std::uint64_t units = after.units - before.units;
  std::uint64_t txns = after.batches - before.batches;
  std::int64_t rows = -1;
  (void)db.read([&](Tx& tx) -> Status {
    auto r = tx.query_one("SELECT count(*) FROM bench");
    if (r && *r) rows = (*r)->i64(0);
    return {};
  });
  std::printf(
      "{\"backend\":\"%s\",\"api\":\"%s\",\"writers\":%d,\"max_batch\":%zu,\"seconds\":%.2f,"
      "\"units\":%llu,"
      "\"units_per_s\":%.0f,\"transactions\":%llu,\"units_per_transaction\":%.1f,"
      "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"failures\":%lld,\"rows\":%lld}\n",
      backend.c_str(), async ? "write_async" : "write", writers, max_batch, elapsed,
      static_cast<unsigned long long>(units), static_cast<double>(units) / elapsed,
      static_cast<unsigned long long>(txns),
      txns ? static_cast<double>(units) / static_cast<double>(txns) : 0.0, pct(0.5), pct(0.99),
      static_cast<long long>(failures.load()), static_cast<long long>(rows));
  return rows == static_cast<std::int64_t>(units) && failures == 0 ? 0 : 2;
}

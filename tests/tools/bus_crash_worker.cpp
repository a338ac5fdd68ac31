// The process the outbox crash test (src/bus/outbox_test.cpp) SIGKILLs.
// Each run: open the SQLite database in DIR, start a consumer whose effect
// (a row in `effects`) commits with its inbox row, the outbox relay, and a
// producer that commits domain rows, each with its event in the outbox, in
// one transaction, until TOTAL rows exist. With --kill-percent P the relay's
// observer SIGKILLs this process with probability P% right after rows were
// committed and read but before they are published (stage "read") or right
// after a publish was confirmed but before the row is marked sent (stage
// "published"). Exits 0 once every domain row's effect has happened and the
// outbox is empty. With --nats URL the bus is NATS JetStream on that server
// (which outlives the kills) instead of the in-process bus.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <random>
#include <thread>

#include "bus/bridge.hpp"
#include "bus/inbox.hpp"
#include "bus/inproc_bus.hpp"
#include "bus/nats_bus.hpp"
#include "bus/outbox.hpp"
#include "bus/schema.hpp"
#include "core/clock.hpp"
#include "storage/database.hpp"

using namespace office;
using namespace std::chrono_literals;

namespace {

const storage::Migration kTestTables[] = {
    {"bus_crash", 1, "domain rows and their effects",
     "CREATE TABLE domain (n BIGINT PRIMARY KEY, event_id TEXT NOT NULL);"
     "CREATE TABLE effects (event_id TEXT PRIMARY KEY, times BIGINT NOT NULL);"},
};

std::int64_t scalar(storage::Database& db, const std::string& sql) {
  std::int64_t v = 0;
  auto st = db.read([&](storage::Tx& tx) -> Status {
    auto r = tx.query_one(sql);
    if (!r) return r.error();
    v = *r ? (*r)->i64(0) : 0;
    return {};
  });
  if (!st) {
    std::fprintf(stderr, "query failed: %s\n", st.error().message.c_str());
    std::exit(3);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bus crash worker"};
  std::string dir;
  std::int64_t total = 2000;
  int kill_percent = 0;
  unsigned seed = 1;
  std::string nats;
  app.add_option("dir", dir)->required();
  app.add_option("--total", total);
  app.add_option("--kill-percent", kill_percent);
  app.add_option("--seed", seed);
  app.add_option("--nats", nats, "nats://host:port: the JetStream bus");
  CLI11_PARSE(app, argc, argv);

  storage::SqliteOptions so;
  so.path = dir + "/crash.db";
  auto db = storage::open_sqlite(so);
  if (!db) {
    std::fprintf(stderr, "open: %s\n", db.error().message.c_str());
    return 3;
  }
  if (auto st = (*db)->migrate(bus::migrations()); !st) return 3;
  if (auto st = (*db)->migrate(kTestTables); !st) return 3;

  std::unique_ptr<bus::EventBus> bus;
  if (nats.empty()) {
    bus::InprocBusOptions bo;
    bo.dead_letters = db->get();
    bus = bus::open_inproc_bus(bo);
  } else {
    bus::NatsBusOptions no;
    no.url = nats;
    auto opened = bus::open_nats_bus(no);
    if (!opened) {
      std::fprintf(stderr, "nats: %s\n", opened.error().message.c_str());
      return 3;
    }
    bus = std::move(*opened);
  }
  bus::ConsumerOptions co;
  co.name = "effects";
  co.filter = "crash.>";
  // Deliveries a killed round held come back after the broker's ack wait
  // (drop_after + 10 s): keep it short here.
  co.drop_after = std::chrono::seconds(2);
  auto consumer = bus->consumer(co);
  if (!consumer) return 3;
  storage::Database& database = **db;
  bus::Bridge bridge(*bus, *consumer, [&](const bus::Event& e, const bus::DeliveryInfo&) -> Status {
    return database.write([&](storage::Tx& tx) -> Status {
      auto first = bus::inbox_claim(tx, "effects", e.id, SystemClock::instance().now_ms());
      if (!first) return first.error();
      if (!*first) return {};
      // Without the inbox a second delivery would make times 2.
      auto r = tx.exec(
          "INSERT INTO effects (event_id, times) VALUES (?1, 1) "
          "ON CONFLICT (event_id) DO UPDATE SET times = effects.times + 1",
          {e.id});
      if (!r) return r.error();
      return {};
    });
  });
  bridge.start();

  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> pct(0, 99);
  bus::RelayOptions ro;
  ro.batch = 64;
  ro.observer = [&](bus::RelayOptions::Stage stage, std::uint64_t seq) {
    if (stage == bus::RelayOptions::Stage::kMarked || kill_percent <= 0) return;
    if (pct(rng) < kill_percent) {
      std::fprintf(stderr, "killing at %s of row %llu\n",
                   stage == bus::RelayOptions::Stage::kRead ? "read" : "published",
                   static_cast<unsigned long long>(seq));
      std::raise(SIGKILL);
    }
  };
  bus::OutboxRelay relay(database, *bus, ro);
  relay.start();

  std::int64_t n = scalar(database, "SELECT COUNT(*) FROM domain");
  while (n < total) {
    std::int64_t next = n;
    auto st = database.write([&](storage::Tx& tx) -> Status {
      bus::Event e =
          bus::make_event("office.test.v1.Made", "t1", "crash.t1.made", std::to_string(next));
      auto r = tx.exec("INSERT INTO domain (n, event_id) VALUES (?1, ?2)", {next, e.id});
      if (!r) return r.error();
      return bus::append_outbox(tx, e);
    });
    if (!st) {
      std::fprintf(stderr, "produce: %s\n", st.error().message.c_str());
      return 3;
    }
    ++n;
    relay.notify();
  }
  // Wait for every effect and an empty outbox.
  for (int i = 0; i < 3000; ++i) {
    if (scalar(database, "SELECT COUNT(*) FROM effects") == total &&
        scalar(database, "SELECT COUNT(*) FROM bus_outbox") == 0) {
      relay.stop();
      bridge.stop();
      std::printf("done %lld\n", static_cast<long long>(total));
      return 0;
    }
    std::this_thread::sleep_for(20ms);
  }
  std::fprintf(stderr, "timed out waiting for the effects\n");
  return 4;
}

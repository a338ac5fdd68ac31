#include "bus/schema.hpp"

namespace office::bus {

namespace {

// Times are Unix milliseconds. bus_outbox.seq is the relay's order: on SQLite
// (one writer) rows commit in seq order.
const storage::Migration kMigrations[] = {
    {"bus", 1, "outbox, inbox, dead letters",
     R"sql(
CREATE TABLE bus_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL,
  envelope BLOB NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE TABLE bus_inbox (
  consumer TEXT NOT NULL,
  event_id TEXT NOT NULL,
  handled_ms BIGINT NOT NULL,
  PRIMARY KEY (consumer, event_id)
);
CREATE INDEX bus_inbox_by_time ON bus_inbox(handled_ms);
CREATE TABLE bus_dead_letters (
  id TEXT PRIMARY KEY,
  consumer TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  deliveries BIGINT NOT NULL,
  time_ms BIGINT NOT NULL,
  envelope BLOB NOT NULL
);
CREATE INDEX bus_dead_letters_by_consumer ON bus_dead_letters(consumer, id);
)sql",
     R"sql(
CREATE TABLE bus_outbox (
  seq BIGSERIAL PRIMARY KEY,
  event_id TEXT NOT NULL,
  envelope BYTEA NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE TABLE bus_inbox (
  consumer TEXT NOT NULL,
  event_id TEXT NOT NULL,
  handled_ms BIGINT NOT NULL,
  PRIMARY KEY (consumer, event_id)
);
CREATE INDEX bus_inbox_by_time ON bus_inbox(handled_ms);
CREATE TABLE bus_dead_letters (
  id TEXT PRIMARY KEY,
  consumer TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  deliveries BIGINT NOT NULL,
  time_ms BIGINT NOT NULL,
  envelope BYTEA NOT NULL
);
CREATE INDEX bus_dead_letters_by_consumer ON bus_dead_letters(consumer, id);
)sql"},
};

}  // namespace

std::span<const storage::Migration> migrations() { return kMigrations; }

}  // namespace office::bus

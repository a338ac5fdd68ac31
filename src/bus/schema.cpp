#include "bus/schema.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace office::bus {

namespace {

// Times are Unix milliseconds. bus_outbox.seq is the relay's order: on SQLite
// (one writer) rows commit in seq order. The two backends differ only in the
// sequence and the binary type, so the script is written once.
std::string script(std::string_view serial, std::string_view blob) {
  std::string sql = R"sql(
CREATE TABLE bus_outbox (
  seq $SERIAL,
  event_id TEXT NOT NULL,
  envelope $BLOB NOT NULL,
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
  envelope $BLOB NOT NULL
);
CREATE INDEX bus_dead_letters_by_consumer ON bus_dead_letters(consumer, id);
)sql";
  for (auto [from, to] : {std::pair{std::string_view("$SERIAL"), serial},
                          std::pair{std::string_view("$BLOB"), blob}}) {
    for (std::size_t at = sql.find(from); at != std::string::npos; at = sql.find(from, at)) {
      sql.replace(at, from.size(), to);
      at += to.size();
    }
  }
  return sql;
}

const std::vector<storage::Migration>& all() {
  static const std::vector<storage::Migration> migrations = {
      {"bus", 1, "outbox, inbox, dead letters", script("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
       script("BIGSERIAL PRIMARY KEY", "BYTEA")},
  };
  return migrations;
}

}  // namespace

std::span<const storage::Migration> migrations() { return all(); }

}  // namespace office::bus

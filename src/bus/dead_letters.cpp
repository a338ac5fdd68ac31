#include "bus/dead_letters.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "core/ids.hpp"
#include "storage/database.hpp"

namespace office::bus {

namespace {

class MemoryDeadLetters final : public DeadLetterStore {
 public:
  Status add(const DeadLetter& letter) override {
    std::lock_guard lock(mu_);
    letters_[letter.id] = letter;
    return {};
  }
  Result<DeadLetterPage> list(const DeadLetterQuery& q) override {
    std::lock_guard lock(mu_);
    DeadLetterPage page;
    auto it = q.page_token.empty() ? letters_.begin() : letters_.upper_bound(q.page_token);
    for (; it != letters_.end(); ++it) {
      if (!q.consumer.empty() && it->second.consumer != q.consumer) continue;
      if (page.items.size() == q.limit) {
        page.next_page_token = page.items.back().id;
        break;
      }
      page.items.push_back(it->second);
    }
    return page;
  }
  Result<DeadLetter> get(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = letters_.find(id);
    if (it == letters_.end()) return Error::not_found("no such dead letter");
    return it->second;
  }
  Status remove(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = letters_.find(id);
    if (it == letters_.end()) return Error::not_found("no such dead letter");
    letters_.erase(it);
    return {};
  }
  Result<std::uint64_t> purge(std::string_view consumer) override {
    std::lock_guard lock(mu_);
    return static_cast<std::uint64_t>(std::erase_if(letters_, [&](const auto& kv) {
      return consumer.empty() || kv.second.consumer == consumer;
    }));
  }
  Result<std::uint64_t> count(std::string_view consumer) override {
    std::lock_guard lock(mu_);
    return static_cast<std::uint64_t>(
        std::count_if(letters_.begin(), letters_.end(),
                      [&](const auto& kv) { return kv.second.consumer == consumer; }));
  }

 private:
  std::mutex mu_;
  std::map<std::string, DeadLetter, std::less<>> letters_;  // by id: UUIDv7, oldest first
};

using storage::Row;
using storage::Tx;
using storage::Value;

constexpr std::string_view kColumns =
    "id, consumer, reason, detail, deliveries, time_ms, envelope FROM bus_dead_letters";

Result<DeadLetter> from_row(const Row& row) {
  DeadLetter d;
  d.id = row.text(0);
  d.consumer = row.text(1);
  d.reason = row.text(2);
  d.detail = row.text(3);
  d.deliveries = static_cast<std::uint32_t>(row.i64(4));
  d.time_ms = row.i64(5);
  auto event = decode_event(row.bytes(6));
  if (!event) return Error::internal("dead letter " + d.id + ": " + event.error().message);
  d.event = std::move(*event);
  return d;
}

class SqlDeadLetters final : public DeadLetterStore {
 public:
  explicit SqlDeadLetters(storage::Database& db) : db_(db) {}

  Status add(const DeadLetter& d) override {
    std::string envelope = encode_event(d.event);
    return db_.write([&](Tx& tx) -> Status {
      auto r = tx.exec(
          "INSERT INTO bus_dead_letters (id, consumer, reason, detail, deliveries, time_ms, "
          "envelope) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
          {d.id, d.consumer, d.reason, d.detail, static_cast<std::int64_t>(d.deliveries), d.time_ms,
           storage::Bytes{envelope}});
      if (!r) return r.error();
      return {};
    });
  }

  Result<DeadLetterPage> list(const DeadLetterQuery& q) override {
    DeadLetterPage page;
    Status st = db_.read([&](Tx& tx) -> Status {
      page = {};
      std::string sql = "SELECT " + std::string(kColumns) + " WHERE id > ?1";
      std::vector<Value> params{q.page_token};
      if (!q.consumer.empty()) {
        sql += " AND consumer = ?2";
        params.emplace_back(q.consumer);
      }
      sql += " ORDER BY id LIMIT " + std::to_string(q.limit + 1);
      auto rows = tx.query(sql, params);
      if (!rows) return rows.error();
      for (const Row& row : *rows) {
        if (page.items.size() == q.limit) {
          page.next_page_token = page.items.back().id;
          break;
        }
        auto d = from_row(row);
        if (!d) return d.error();
        page.items.push_back(std::move(*d));
      }
      return {};
    });
    if (!st) return st.error();
    return page;
  }

  Result<DeadLetter> get(std::string_view id) override {
    std::optional<Row> row;
    Status st = db_.read([&](Tx& tx) -> Status {
      auto r =
          tx.query_one("SELECT " + std::string(kColumns) + " WHERE id = ?1", {std::string(id)});
      if (!r) return r.error();
      row = std::move(*r);
      return {};
    });
    if (!st) return st.error();
    if (!row) return Error::not_found("no such dead letter");
    return from_row(*row);
  }

  Status remove(std::string_view id) override {
    std::int64_t n = 0;
    Status st = db_.write([&](Tx& tx) -> Status {
      auto r = tx.exec("DELETE FROM bus_dead_letters WHERE id = ?1", {std::string(id)});
      if (!r) return r.error();
      n = *r;
      return {};
    });
    if (!st) return st;
    if (n == 0) return Error::not_found("no such dead letter");
    return {};
  }

  Result<std::uint64_t> purge(std::string_view consumer) override {
    std::int64_t n = 0;
    Status st = db_.write([&](Tx& tx) -> Status {
      auto r = consumer.empty() ? tx.exec("DELETE FROM bus_dead_letters")
                                : tx.exec("DELETE FROM bus_dead_letters WHERE consumer = ?1",
                                          {std::string(consumer)});
      if (!r) return r.error();
      n = *r;
      return {};
    });
    if (!st) return st.error();
    return static_cast<std::uint64_t>(n);
  }

  Result<std::uint64_t> count(std::string_view consumer) override {
    std::int64_t n = 0;
    Status st = db_.read([&](Tx& tx) -> Status {
      auto r = tx.query_one("SELECT COUNT(*) FROM bus_dead_letters WHERE consumer = ?1",
                            {std::string(consumer)});
      if (!r) return r.error();
      n = *r ? (*r)->i64(0) : 0;
      return {};
    });
    if (!st) return st.error();
    return static_cast<std::uint64_t>(n);
  }

 private:
  storage::Database& db_;
};

}  // namespace

std::unique_ptr<DeadLetterStore> memory_dead_letters() {
  return std::make_unique<MemoryDeadLetters>();
}

std::unique_ptr<DeadLetterStore> sql_dead_letters(storage::Database& db) {
  return std::make_unique<SqlDeadLetters>(db);
}

Status check_query(DeadLetterQuery& query) {
  query.limit = std::clamp<std::size_t>(query.limit, 1, 1000);
  if (!query.consumer.empty()) {
    if (auto st = validate_consumer_name(query.consumer); !st) return st;
  }
  if (!query.page_token.empty() && !Uuid::parse(query.page_token)) {
    return Error::invalid("page token is not one this server gave");
  }
  return {};
}

}  // namespace office::bus

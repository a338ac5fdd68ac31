#include "storage/sqlite_connection.hpp"

#include <sqlite3.h>

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/log.hpp"

namespace office::storage {

namespace {

constexpr std::size_t kMaxLoggedSql = 300;

std::string_view clip(std::string_view sql) {
  return sql.size() <= kMaxLoggedSql ? sql : sql.substr(0, kMaxLoggedSql);
}

// True if only whitespace and semicolons follow the first statement.
bool only_blank(const char* p, const char* end) {
  for (; p < end; ++p) {
    if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';') return false;
  }
  return true;
}

Error misuse(std::string_view what, std::string_view sql) {
  spdlog::error("storage: {} [sql: {}]", what, clip(sql));
  return Error::internal("database error");
}

Value read_column(sqlite3_stmt* stmt, int i) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
      return Value(std::in_place_type<std::int64_t>, sqlite3_column_int64(stmt, i));
    case SQLITE_FLOAT:
      return Value(std::in_place_type<double>, sqlite3_column_double(stmt, i));
    case SQLITE_TEXT: {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
      return Value(std::in_place_type<std::string>, p,
                   static_cast<std::size_t>(sqlite3_column_bytes(stmt, i)));
    }
    case SQLITE_BLOB: {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, i));
      auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt, i));
      return Value(std::in_place_type<Bytes>, Bytes{p ? std::string(p, n) : std::string()});
    }
    default:
      return Value();
  }
}

Row read_row(sqlite3_stmt* stmt) {
  int n = sqlite3_column_count(stmt);
  std::vector<Value> values;
  values.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) values.push_back(read_column(stmt, i));
  return Row(std::move(values));
}

// Leaves a cached statement ready for its next use; bindings point into the
// caller's parameters, which die when the call returns.
void release(sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
}

sqlite3_stmt* prepare_persistent(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  return stmt;
}

}  // namespace

Error map_sqlite_error(sqlite3* db, int rc, std::string_view sql) {
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return Error::exists("already exists");
  }
  const char* msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    spdlog::warn("storage: sqlite busy ({}): {} [sql: {}]", rc, msg, clip(sql));
    return Error::unavailable("database busy, retry later");
  }
  spdlog::error("storage: sqlite error {} ({}): {} [sql: {}]", rc, sqlite3_errstr(rc), msg,
                clip(sql));
  return Error::internal("database error");
}

// ---- SqliteStatementCache ----

SqliteStatementCache::~SqliteStatementCache() {
  index_.clear();
  for (auto& e : lru_) sqlite3_finalize(e.stmt);
}

sqlite3_stmt* SqliteStatementCache::get(std::string_view sql, int* rc) {
  if (auto it = index_.find(sql); it != index_.end()) {
    ++hits_;
    if (it->second != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->stmt;
  }
  ++misses_;
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  *rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &stmt, &tail);
  if (*rc != SQLITE_OK) return nullptr;
  if (stmt == nullptr || !only_blank(tail, sql.data() + sql.size())) {
    // Empty SQL, or a second statement that would be silently ignored.
    sqlite3_finalize(stmt);
    *rc = SQLITE_MISUSE;
    return nullptr;
  }
  lru_.push_front(Entry{std::string(sql), stmt});
  index_.emplace(lru_.front().sql, lru_.begin());
  std::size_t limit = capacity_ == 0 ? 1 : capacity_;
  while (lru_.size() > limit) {
    Entry& victim = lru_.back();
    index_.erase(victim.sql);  // before the string the key points into dies
    sqlite3_finalize(victim.stmt);
    lru_.pop_back();
  }
  return stmt;
}

// ---- SqliteConnection ----

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::open(
    const SqliteConnectionOptions& options) {
  int flags =
      SQLITE_OPEN_NOMUTEX |
      (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(options.path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    spdlog::error("storage: cannot open sqlite database {}: {}", options.path,
                  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return Error::unavailable("database cannot be opened");
  }
  std::unique_ptr<SqliteConnection> conn(new SqliteConnection(db));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);

  // The first statement reads the file header: a non-database fails here.
  auto fail = [&](std::string_view step) -> Error {
    spdlog::error("storage: cannot open sqlite database {} ({}): {}", options.path, step,
                  sqlite3_errmsg(db));
    return Error::unavailable("database cannot be opened");
  };
  if (options.read_only) {
    if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      return fail("read schema");
    }
  } else {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr) != SQLITE_OK) {
      return fail("journal_mode");
    }
    rc = sqlite3_step(stmt);
    std::string mode = rc == SQLITE_ROW && sqlite3_column_text(stmt, 0)
                           ? reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))
                           : "";
    sqlite3_finalize(stmt);
    if (mode != "wal") return fail("journal_mode=WAL");
    const char* sync =
        options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    if (sqlite3_exec(db, sync, nullptr, nullptr, nullptr) != SQLITE_OK) return fail("synchronous");
    // Checkpoints: the database's writer connection replaces SQLite's
    // automatic checkpoint with its own (sqlite_database.cpp, Checkpointer).
  }
  // 32 MiB of page cache (SQLite's default is 2 MiB), allocated as used: with
  // a thousand documents being edited, the op log's and the catalogue's
  // index pages were read back with pread on most commits.
  if (sqlite3_exec(db, "PRAGMA cache_size=-32768", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("cache_size");
  }
  if (sqlite3_exec(db, "PRAGMA foreign_keys=ON", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("foreign_keys");
  }

  conn->cache_ = std::make_unique<SqliteStatementCache>(db, options.statement_cache_size);
  conn->begin_ = prepare_persistent(db, "BEGIN");
  conn->begin_immediate_ = prepare_persistent(db, "BEGIN IMMEDIATE");
  conn->commit_ = prepare_persistent(db, "COMMIT");
  conn->rollback_ = prepare_persistent(db, "ROLLBACK");
  conn->savepoint_ = prepare_persistent(db, "SAVEPOINT unit");
  conn->release_ = prepare_persistent(db, "RELEASE unit");
  conn->rollback_to_ = prepare_persistent(db, "ROLLBACK TO unit");
  if (!conn->begin_ || !conn->begin_immediate_ || !conn->commit_ || !conn->rollback_ ||
      !conn->savepoint_ || !conn->release_ || !conn->rollback_to_) {
    return fail("prepare transaction statements");
  }
  return conn;
}

SqliteConnection::~SqliteConnection() {
  cache_.reset();
  for (sqlite3_stmt* s :
       {begin_, begin_immediate_, commit_, rollback_, savepoint_, release_, rollback_to_})
    sqlite3_finalize(s);
  // Every statement is finalized above, so close cannot fail with SQLITE_BUSY.
  sqlite3_close(db_);
}

sqlite3_stmt* SqliteConnection::prepare_bound(std::string_view sql, std::span<const Value> params,
                                              std::optional<Error>* err) {
  int rc = SQLITE_OK;
  sqlite3_stmt* stmt = cache_->get(sql, &rc);
  if (stmt == nullptr) {
    *err = rc == SQLITE_MISUSE ? misuse("empty SQL or more than one statement", sql)
                               : map_sqlite_error(db_, rc, sql);
    return nullptr;
  }
  if (sqlite3_bind_parameter_count(stmt) != static_cast<int>(params.size())) {
    *err = misuse("parameter count does not match the placeholders", sql);
    return nullptr;
  }
  int i = 1;
  for (const Value& v : params) {
    rc = std::visit(
        [&](const auto& x) -> int {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            return sqlite3_bind_null(stmt, i);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            return sqlite3_bind_int64(stmt, i, x);
          } else if constexpr (std::is_same_v<T, double>) {
            return sqlite3_bind_double(stmt, i, x);
          } else if constexpr (std::is_same_v<T, Bytes>) {
            return sqlite3_bind_blob64(stmt, i, x.data.data(), x.data.size(), SQLITE_STATIC);
          } else {
            return sqlite3_bind_text64(stmt, i, x.data(), x.size(), SQLITE_STATIC, SQLITE_UTF8);
          }
        },
        v);
    if (rc != SQLITE_OK) {
      *err = map_sqlite_error(db_, rc, sql);
      release(stmt);
      return nullptr;
    }
    ++i;
  }
  return stmt;
}

Result<std::int64_t> SqliteConnection::exec(std::string_view sql, std::span<const Value> params) {
  std::optional<Error> err;
  sqlite3_stmt* stmt = prepare_bound(sql, params, &err);
  if (!stmt) return std::move(*err);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) {
    Error e = map_sqlite_error(db_, rc, sql);
    release(stmt);
    return e;
  }
  release(stmt);
  return static_cast<std::int64_t>(sqlite3_changes64(db_));
}

Result<std::vector<Row>> SqliteConnection::query(std::string_view sql,
                                                 std::span<const Value> params) {
  std::optional<Error> err;
  sqlite3_stmt* stmt = prepare_bound(sql, params, &err);
  if (!stmt) return std::move(*err);
  std::vector<Row> rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) rows.push_back(read_row(stmt));
  if (rc != SQLITE_DONE) {
    Error e = map_sqlite_error(db_, rc, sql);
    release(stmt);
    return e;
  }
  release(stmt);
  return rows;
}

Result<std::optional<Row>> SqliteConnection::query_one(std::string_view sql,
                                                       std::span<const Value> params) {
  std::optional<Error> err;
  sqlite3_stmt* stmt = prepare_bound(sql, params, &err);
  if (!stmt) return std::move(*err);
  int rc = sqlite3_step(stmt);
  std::optional<Row> row;
  if (rc == SQLITE_ROW) {
    row.emplace(read_row(stmt));
  } else if (rc != SQLITE_DONE) {
    Error e = map_sqlite_error(db_, rc, sql);
    release(stmt);
    return e;
  }
  release(stmt);
  return row;
}

Status SqliteConnection::exec_script(std::string_view sql) {
  std::string text(sql);
  char* msg = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return {};
  std::string detail = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  Error e = map_sqlite_error(db_, rc, sql);
  // Scripts are migrations run at start-up: the operator needs SQLite's reason.
  e.message += ": " + detail;
  return e;
}

Status SqliteConnection::step_control(sqlite3_stmt* stmt, std::string_view what) {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) {
    last_rc_ = rc & 0xff;
    return map_sqlite_error(db_, rc, what);
  }
  last_rc_ = 0;
  return {};
}

Status SqliteConnection::savepoint() { return step_control(savepoint_, "SAVEPOINT"); }
Status SqliteConnection::release_savepoint() { return step_control(release_, "RELEASE"); }
Status SqliteConnection::rollback_to_savepoint() {
  return step_control(rollback_to_, "ROLLBACK TO");
}

Status SqliteConnection::begin(bool immediate) {
  return immediate ? step_control(begin_immediate_, "BEGIN IMMEDIATE")
                   : step_control(begin_, "BEGIN");
}

Status SqliteConnection::commit() { return step_control(commit_, "COMMIT"); }

bool SqliteConnection::rollback() {
  if (autocommit()) return true;
  int rc = sqlite3_step(rollback_);
  sqlite3_reset(rollback_);
  if (rc != SQLITE_DONE) map_sqlite_error(db_, rc, "ROLLBACK");
  return autocommit();
}

bool SqliteConnection::autocommit() const { return sqlite3_get_autocommit(db_) != 0; }

}  // namespace office::storage

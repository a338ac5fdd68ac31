#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "storage/database.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace office::storage {

/// Maps a SQLite result code to an Error: UNIQUE/PRIMARY KEY -> kAlreadyExists,
/// BUSY/LOCKED -> kUnavailable, anything else -> kInternal with a generic message.
/// Logs the SQLite message (and the SQL, never the parameters) except for
/// kAlreadyExists, which is an expected outcome.
Error map_sqlite_error(sqlite3* db, int rc, std::string_view sql);

/// Per-connection LRU cache of prepared statements keyed by SQL text.
/// Not thread-safe (owned by one SqliteConnection). Finalizes evicted statements, so a
/// statement obtained from get() is valid only until the next get().
class SqliteStatementCache {
 public:
  SqliteStatementCache(sqlite3* db, std::size_t capacity) : db_(db), capacity_(capacity) {}
  ~SqliteStatementCache();
  SqliteStatementCache(const SqliteStatementCache&) = delete;
  SqliteStatementCache& operator=(const SqliteStatementCache&) = delete;

  /// The prepared statement for sql (prepared on a miss), or the SQLite error code
  /// in *rc with nullptr. A capacity of 0 still caches the one statement in use.
  sqlite3_stmt* get(std::string_view sql, int* rc);
  std::size_t size() const { return lru_.size(); }
  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }

 private:
  struct Entry {
    std::string sql;
    sqlite3_stmt* stmt;
  };
  using List = std::list<Entry>;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  sqlite3* db_;
  std::size_t capacity_;
  List lru_;  // front = most recently used; keys of index_ point into these strings
  std::unordered_map<std::string_view, List::iterator, Hash, std::equal_to<>> index_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

struct SqliteConnectionOptions {
  std::string path;
  bool read_only = false;
  int busy_timeout_ms = 5000;
  std::size_t statement_cache_size = 128;
  bool synchronous_full = true;
};

/// One SQLite connection with its statement cache and the Tx operations.
/// Not thread-safe: used by one thread at a time (opened SQLITE_OPEN_NOMUTEX).
class SqliteConnection {
 public:
  /// Opens and configures a connection (WAL, busy timeout, foreign keys,
  /// synchronous). Errors: kUnavailable if the file can't be opened or isn't a
  /// database.
  static Result<std::unique_ptr<SqliteConnection>> open(const SqliteConnectionOptions& options);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  Result<std::int64_t> exec(std::string_view sql, std::span<const Value> params);
  Result<std::vector<Row>> query(std::string_view sql, std::span<const Value> params);
  Result<std::optional<Row>> query_one(std::string_view sql, std::span<const Value> params);
  /// Runs one or more statements without parameters (migrations); not cached.
  Status exec_script(std::string_view sql);

  /// BEGIN (IMMEDIATE for writers) / COMMIT / ROLLBACK on pre-prepared statements.
  Status begin(bool immediate);
  Status commit();
  /// SAVEPOINT / RELEASE / ROLLBACK TO of the one savepoint "unit" (group commit).
  Status savepoint();
  Status release_savepoint();
  Status rollback_to_savepoint();
  /// The primary SQLite result code of the last failed BEGIN/COMMIT/SAVEPOINT
  /// step or statement (0 after success).
  int last_error() const { return last_rc_; }
  /// Rolls back if a transaction is open; returns false if the connection is still
  /// inside a transaction afterwards (unusable).
  bool rollback();
  /// True if no transaction is open.
  bool autocommit() const;

  sqlite3* handle() const { return db_; }
  const SqliteStatementCache& cache() const { return *cache_; }

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  // Prepares (via the cache) and binds; nullptr with *err set on failure.
  sqlite3_stmt* prepare_bound(std::string_view sql, std::span<const Value> params,
                              std::optional<Error>* err);
  Status step_control(sqlite3_stmt* stmt, std::string_view what);

  sqlite3* db_;
  std::unique_ptr<SqliteStatementCache> cache_;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* begin_immediate_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* savepoint_ = nullptr;
  sqlite3_stmt* release_ = nullptr;
  sqlite3_stmt* rollback_to_ = nullptr;
  int last_rc_ = 0;
};

}  // namespace office::storage

#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"

namespace office::storage {

/// A bound parameter or a column value. NULL is std::monostate.
using Value = std::variant<std::monostate, std::int64_t, double, std::string>;

/// One result row. Column access by index; a wrong index or type is a
/// programming error (asserts in debug).
class Row {
 public:
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}
  std::size_t size() const { return values_.size(); }
  bool is_null(std::size_t i) const;
  std::int64_t i64(std::size_t i) const;                     ///< integer column (NULL -> 0)
  std::optional<std::int64_t> opt_i64(std::size_t i) const;  ///< NULL -> nullopt
  double f64(std::size_t i) const;                           ///< real column (integers convert)
  const std::string& text(std::size_t i) const;              ///< text/blob column (NULL -> "")
  std::optional<std::string> opt_text(std::size_t i) const;
  bool boolean(std::size_t i) const { return i64(i) != 0; }
  /// The raw value (for generic code, e.g. tests and tools).
  const Value& value(std::size_t i) const { return values_.at(i); }

 private:
  std::vector<Value> values_;
};

/// SQL access inside one transaction. SQL uses `?1, ?2, ...` placeholders (the
/// PostgreSQL implementation rewrites them to `$1, $2, ...`); write portable SQL
/// (no SQLite-only functions) so both backends run the same queries.
/// Errors: a UNIQUE violation -> kAlreadyExists; a busy/locked database past the
/// busy timeout -> kUnavailable; anything else -> kInternal (logged).
/// Not thread-safe: used only by the thread running the transaction callback.
class Tx {
 public:
  virtual ~Tx() = default;
  /// Runs a statement; returns the number of rows changed.
  virtual Result<std::int64_t> exec(std::string_view sql,
                                    std::initializer_list<Value> params = {}) = 0;
  /// Runs a query; returns all rows.
  virtual Result<std::vector<Row>> query(std::string_view sql,
                                         std::initializer_list<Value> params = {}) = 0;
  /// Runs a query; returns the first row or nullopt.
  virtual Result<std::optional<Row>> query_one(std::string_view sql,
                                               std::initializer_list<Value> params = {}) = 0;
};

/// One versioned schema change of one module. Applied once, in version order,
/// at start-up; an applied migration whose SQL changed is refused (checksum).
struct Migration {
  std::string module;  ///< e.g. "identity"
  int version;         ///< 1, 2, 3 ... per module
  std::string name;    ///< short description
  std::string sql;     ///< one or more statements
};

/// A database. Thread-safe: any thread may call read()/write() concurrently.
/// Writes are serialised (one writer at a time) and durable when write()
/// returns ok (committed). Reads see the latest committed state and do not
/// block writes (SQLite WAL; PostgreSQL MVCC).
class Database {
 public:
  virtual ~Database() = default;
  /// Runs fn in a read-write transaction: commits if fn returns ok, rolls back
  /// (and returns fn's error) otherwise. fn must not call read()/write() itself
  /// (a nested write() on the same thread returns kInternal instead of
  /// deadlocking; a nested read() would not see this transaction's changes).
  /// If fn throws, the transaction is rolled back and kInternal is returned: no
  /// exception leaves write()/read(). A failed COMMIT is returned as its error.
  /// The Tx reference is valid only during fn.
  virtual Status write(const std::function<Status(Tx&)>& fn) = 0;
  /// Runs fn in a read-only transaction (consistent snapshot of committed data;
  /// statements that write fail with kInternal). Same error rules as write().
  virtual Status read(const std::function<Status(Tx&)>& fn) const = 0;
  /// Applies the not-yet-applied migrations, each in its own transaction
  /// together with its schema_migrations row; see docs/storage.md.
  /// Errors: kInvalidArgument (versions of a module not 1, 2, 3 ... in list
  /// order), kFailedPrecondition naming module and version (an applied
  /// migration's SQL changed, or a pending one is older than an applied one),
  /// else the failing migration's error prefixed with "migration <module> v<N>".
  /// Checks run before anything is applied. Call at start-up, before serving.
  virtual Status migrate(std::span<const Migration> migrations) = 0;
  /// Cheap liveness probe for /readyz.
  virtual bool healthy() const = 0;
  /// "sqlite" or "postgres".
  virtual std::string_view backend() const = 0;
};

struct SqliteOptions {
  std::string path;  ///< file path; ":memory:" is not supported (use a temp dir)
  int busy_timeout_ms = 5000;
  std::size_t statement_cache_size = 128;  ///< prepared statements kept per connection
  bool synchronous_full =
      true;  ///< FULL: fsync on every commit; NORMAL may lose the last commits on power loss
  std::size_t max_idle_readers = 16;  ///< read-only connections kept open between read() calls
};

/// Opens (creating if needed) a SQLite database in WAL mode with foreign keys on.
/// One writer connection (write() holds a mutex; BEGIN IMMEDIATE) and a pool of
/// read-only connections, one per concurrent read() call, opened lazily.
/// Errors: kUnavailable when the file cannot be opened or is not a database;
/// kInvalidArgument for an empty, ":memory:" or "file:" path.
Result<std::unique_ptr<Database>> open_sqlite(const SqliteOptions& options);

}  // namespace office::storage

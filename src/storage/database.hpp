#pragma once

#include <chrono>
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

/// Binary data (SQLite BLOB, PostgreSQL bytea), distinct from text so that
/// each backend binds it as bytes: text must be valid UTF-8, bytes need not.
struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
};

/// A bound parameter or a column value. NULL is std::monostate.
using Value = std::variant<std::monostate, std::int64_t, double, std::string, Bytes>;

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
  const std::string& text(std::size_t i) const;              ///< text column (NULL -> "")
  std::optional<std::string> opt_text(std::size_t i) const;
  const std::string& bytes(std::size_t i) const;  ///< bytes (or text) column (NULL -> "")
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
/// Parameters are a runtime-sized list (`std::span<const Value>`, e.g. a
/// vector built for an IN list or a multi-row insert) or a braced list.
/// Not thread-safe: used only by the thread running the transaction callback.
class Tx {
 public:
  virtual ~Tx() = default;
  /// Runs a statement; returns the number of rows changed.
  virtual Result<std::int64_t> exec(std::string_view sql, std::span<const Value> params) = 0;
  /// Runs a query; returns all rows.
  virtual Result<std::vector<Row>> query(std::string_view sql, std::span<const Value> params) = 0;
  /// Runs a query; returns the first row or nullopt.
  virtual Result<std::optional<Row>> query_one(std::string_view sql,
                                               std::span<const Value> params) = 0;

  Result<std::int64_t> exec(std::string_view sql, std::initializer_list<Value> params = {}) {
    return exec(sql, std::span<const Value>(params.begin(), params.size()));
  }
  Result<std::vector<Row>> query(std::string_view sql, std::initializer_list<Value> params = {}) {
    return query(sql, std::span<const Value>(params.begin(), params.size()));
  }
  Result<std::optional<Row>> query_one(std::string_view sql,
                                       std::initializer_list<Value> params = {}) {
    return query_one(sql, std::span<const Value>(params.begin(), params.size()));
  }
};

/// One versioned schema change of one module. Applied once, in version order,
/// at start-up; an applied migration whose SQL changed is refused (checksum).
struct Migration {
  std::string module;  ///< e.g. "identity"
  int version;         ///< 1, 2, 3 ... per module
  std::string name;    ///< short description
  std::string sql;  ///< one or more statements (portable SQL, or SQLite's when postgres_sql is set)
  /// PostgreSQL's version of this step when the two differ (e.g. widening a
  /// column, which SQLite does not need). Empty: `sql` runs on both. The
  /// checksum covers the text the backend runs.
  std::string postgres_sql = {};

  const std::string& sql_for(std::string_view backend) const {
    return backend == "postgres" && !postgres_sql.empty() ? postgres_sql : sql;
  }
};

/// A database. Thread-safe: any thread may call read()/write() concurrently.
/// Writes are serialisable and durable when write() returns ok (committed).
/// Reads see the latest committed state and do not block writes (SQLite WAL;
/// PostgreSQL MVCC). Both block the calling thread: call them from a worker
/// pool, never from an I/O thread (docs/concurrency.md).
///
/// Group commit: concurrent write() calls share one database transaction and
/// one fsync. Each call's fn runs on the database's committer thread (not the
/// caller's), inside its own savepoint of the shared transaction: an fn that
/// fails is rolled back alone and its write() returns that error; the others
/// commit together, and each write() returns only after that COMMIT is
/// durable. See docs/storage.md.
///
/// THE RETRY RULE: fn may run more than once for one write() call (a
/// PostgreSQL serialization failure or deadlock, a batch whose COMMIT failed
/// with a retryable error, or the rehearsal mode that tests use to enforce
/// this rule). Each run starts from a rolled-back transaction, so fn must not
/// change state outside the transaction before write() returns: assign
/// captured results (`out = ...`), never accumulate them (`out.push_back`),
/// and act on them (caches, events, replies) only after write() returned ok.
class Database {
 public:
  virtual ~Database() = default;
  /// Runs fn in a read-write transaction: commits if fn returns ok, rolls back
  /// fn's changes (and returns fn's error) otherwise. fn may run more than once
  /// (the retry rule above). fn must not call read()/write() itself (a nested
  /// write() on the same thread returns kInternal instead of deadlocking; a
  /// nested read() would not see this transaction's changes).
  /// If fn throws, its changes are rolled back and kInternal is returned: no
  /// exception leaves write()/read(). A failed COMMIT is returned as its error
  /// (after the bounded retries of retryable failures).
  /// The Tx reference is valid only during fn.
  virtual Status write(const std::function<Status(Tx&)>& fn) = 0;
  /// write() without blocking the caller, for callers that must not wait for
  /// an fsync (a document's serial executor, an event relay): fn runs later,
  /// on the database's committer thread, under the same rules as write()'s
  /// (including the retry rule), and done(status) is called on that thread
  /// once the commit is durable or has failed. done must be quick and must not
  /// call write(): post real work to an executor. Returns false, and calls
  /// nothing, when WriteOptions::max_queue asynchronous writes already wait
  /// (the caller owns the overflow: retry later, push back on its client).
  ///
  /// Order: asynchronous writes with the same non-zero `affinity` go to the
  /// same write lane and commit in call order (a document's ops pass the
  /// document's hash). With affinity 0 any lane is used.
  [[nodiscard]] virtual bool write_async(std::function<Status(Tx&)> fn,
                                         std::function<void(Status)> done,
                                         std::uint64_t affinity = 0) = 0;
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
  /// Cheap liveness probe for /readyz (blocking: a query).
  virtual bool healthy() const = 0;
  /// Group-commit counters since open (for metrics, benchmarks and tests).
  struct WriteStats {
    std::uint64_t batches = 0;      ///< committed transactions
    std::uint64_t units = 0;        ///< write() calls committed in them
    std::uint64_t retries = 0;      ///< callback re-runs after retryable failures
    std::size_t waiting = 0;        ///< write() calls waiting to run their callback now
    std::uint64_t checkpoints = 0;  ///< SQLite: WAL checkpoint passes off the committer
  };
  virtual WriteStats write_stats() const = 0;
  /// "sqlite" or "postgres".
  virtual std::string_view backend() const = 0;
};

/// How write() calls are grouped into transactions (both backends).
struct WriteOptions {
  /// Most write() calls sharing one transaction. 1 turns group commit off:
  /// every write() is its own BEGIN ... COMMIT (no savepoint).
  std::size_t max_batch = 512;
  /// Runs every write callback twice: once in a savepoint that is rolled
  /// back, then for real. A callback that breaks the retry rule then shows up
  /// as a wrong result in tests; `make test` turns this on. Doubles the cost
  /// of writes: not for production.
  bool rehearse = false;
  /// Retries of a whole write after a retryable failure (serialization
  /// failure, deadlock, busy COMMIT) before its error is returned.
  int max_retries = 8;
  /// Asynchronous writes waiting for the committer; write_async() refuses more.
  std::size_t max_queue = 10000;
};

struct SqliteOptions {
  std::string path;  ///< file path; ":memory:" is not supported (use a temp dir)
  int busy_timeout_ms = 5000;
  std::size_t statement_cache_size = 128;  ///< prepared statements kept per connection
  bool synchronous_full =
      true;  ///< FULL: fsync on every commit; NORMAL may lose the last commits on power loss
  std::size_t max_idle_readers = 16;  ///< read-only connections kept open between read() calls
  /// WAL checkpoints (docs/storage.md): a thread of their own copies new WAL
  /// frames into the database file every `checkpoint_interval` while commits
  /// come, and once the WAL has `checkpoint_pages` frames it is started over.
  std::chrono::milliseconds checkpoint_interval{20};
  std::size_t checkpoint_pages = 10000;
  WriteOptions writes;
};

/// Opens (creating if needed) a SQLite database in WAL mode with foreign keys on.
/// One writer connection (group commit; BEGIN IMMEDIATE) and a pool of
/// read-only connections, one per concurrent read() call, opened lazily.
/// Errors: kUnavailable when the file cannot be opened or is not a database;
/// kInvalidArgument for an empty, ":memory:" or "file:" path.
Result<std::unique_ptr<Database>> open_sqlite(const SqliteOptions& options);

struct PostgresOptions {
  /// libpq connection URI, e.g. "postgresql://office@db:5432/office".
  std::string url;
  /// Connections that write, each with its own group-commit batch. Writes
  /// run SERIALIZABLE. One (the default) serialises this process's writes as
  /// SQLite does, so they never conflict with each other; more lanes run
  /// statements in parallel but conflict on hot rows (serialization
  /// failures, retried), and under steady contention a write can run out of
  /// retries (docs/storage.md).
  std::size_t write_connections = 1;
  /// Most connections open for read() at once; a read() waits for a free one
  /// up to acquire_timeout, then fails with kUnavailable.
  std::size_t max_read_connections = 8;
  std::chrono::milliseconds acquire_timeout{5000};
  std::size_t statement_cache_size = 128;  ///< prepared statements kept per connection
  WriteOptions writes;
};

/// Connects to PostgreSQL (libpq). Writes: SERIALIZABLE transactions with
/// group commit, retried on serialization failures and deadlocks. Reads:
/// REPEATABLE READ, READ ONLY (one snapshot per read()). SQL is the same as
/// for SQLite: `?N` placeholders are rewritten to `$N`. Errors: kUnavailable
/// when the server cannot be reached; kInvalidArgument for a malformed URL.
Result<std::unique_ptr<Database>> open_postgres(const PostgresOptions& options);

}  // namespace office::storage

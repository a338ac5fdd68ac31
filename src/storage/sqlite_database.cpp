// SQLite implementation of Database: one writer connection behind a mutex,
// and a pool of read-only connections handed out per read() call.
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "storage/database.hpp"
#include "storage/migrations.hpp"
#include "storage/sqlite_connection.hpp"

namespace office::storage {

namespace {

// Catches a nested write() on the same thread, which would otherwise deadlock.
thread_local const void* t_writing = nullptr;

class SqliteTx final : public Tx {
 public:
  explicit SqliteTx(SqliteConnection& conn) : conn_(conn) {}

  Result<std::int64_t> exec(std::string_view sql, std::initializer_list<Value> params) override {
    if (conn_.autocommit()) return aborted();
    return conn_.exec(sql, params);
  }
  Result<std::vector<Row>> query(std::string_view sql,
                                 std::initializer_list<Value> params) override {
    if (conn_.autocommit()) return aborted();
    return conn_.query(sql, params);
  }
  Result<std::optional<Row>> query_one(std::string_view sql,
                                       std::initializer_list<Value> params) override {
    if (conn_.autocommit()) return aborted();
    return conn_.query_one(sql, params);
  }
  Status exec_script(std::string_view sql) {
    if (conn_.autocommit()) return aborted();
    return conn_.exec_script(sql);
  }

 private:
  // Some errors (disk full, I/O) make SQLite roll the whole transaction back;
  // running later statements in autocommit mode would commit them piecemeal.
  static Error aborted() {
    spdlog::error("storage: statement after the transaction was rolled back by SQLite");
    return Error::internal("database error");
  }

  SqliteConnection& conn_;
};

// Runs fn, turning an escaping exception into kInternal (no exceptions cross the API).
Status run_guarded(const std::function<Status(Tx&)>& fn, Tx& tx, const char* kind) {
  try {
    return fn(tx);
  } catch (const std::exception& e) {
    spdlog::error("storage: exception in {} transaction: {}", kind, e.what());
  } catch (...) {
    spdlog::error("storage: unknown exception in {} transaction", kind);
  }
  return Error::internal("internal error");
}

class ReaderPool {
 public:
  ReaderPool(SqliteConnectionOptions options, std::size_t max_idle)
      : options_(std::move(options)), max_idle_(max_idle) {
    idle_.reserve(max_idle_);
  }

  Result<std::unique_ptr<SqliteConnection>> acquire() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<SqliteConnection> conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
      }
    }
    return SqliteConnection::open(options_);  // outside the lock: opening does I/O
  }

  void release(std::unique_ptr<SqliteConnection> conn) {
    {
      std::lock_guard lock(mu_);
      if (idle_.size() < max_idle_) {
        idle_.push_back(std::move(conn));
        return;
      }
    }
    // Over the idle limit: conn closes here, outside the lock.
  }

 private:
  const SqliteConnectionOptions options_;
  const std::size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<SqliteConnection>> idle_;  // guarded by mu_
};

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(std::unique_ptr<SqliteConnection> writer, SqliteConnectionOptions reader_options,
                 std::size_t max_idle_readers)
      : writer_(std::move(writer)),
        readers_(std::move(reader_options), max_idle_readers == 0 ? 1 : max_idle_readers) {}

  Status write(const std::function<Status(Tx&)>& fn) override {
    if (t_writing == this) {
      spdlog::error("storage: write() called inside write() on the same database");
      return Error::internal("internal error");
    }
    std::lock_guard lock(write_mu_);
    if (!writer_->autocommit() && !writer_->rollback()) {
      return Error::internal("database error");
    }
    if (auto st = writer_->begin(/*immediate=*/true); !st) return st;
    SqliteTx tx(*writer_);
    const void* outer =
        std::exchange(t_writing, this);  // a write to another Database may enclose this one
    Status result = run_guarded(fn, tx, "write");
    t_writing = outer;
    if (result) result = writer_->commit();
    if (!result) writer_->rollback();
    return result;
  }

  Status read(const std::function<Status(Tx&)>& fn) const override {
    auto conn = readers_.acquire();
    if (!conn) return std::move(conn).error();
    SqliteConnection& c = **conn;
    // A deferred BEGIN takes the WAL snapshot at the first statement and keeps it
    // until COMMIT, so every query in fn sees the same committed state.
    if (auto st = c.begin(/*immediate=*/false); !st) {
      if (c.autocommit()) readers_.release(std::move(*conn));
      return st;
    }
    SqliteTx tx(c);
    Status result = run_guarded(fn, tx, "read");
    if (!c.autocommit() && !c.commit()) c.rollback();
    if (c.autocommit()) readers_.release(std::move(*conn));  // else: broken, drop it
    return result;
  }

  Status migrate(std::span<const Migration> migrations) override {
    return apply_migrations(*this, migrations, [](Tx& tx, std::string_view sql) {
      // Only write() creates the Tx passed here, and it is always a SqliteTx.
      return static_cast<SqliteTx&>(tx).exec_script(sql);
    });
  }

  bool healthy() const override {
    Status st = read([](Tx& tx) -> Status {
      auto row = tx.query_one("SELECT 1");
      if (!row) return row.error();
      if (!*row || (*row)->i64(0) != 1) return Error::internal("unexpected SELECT 1 result");
      return {};
    });
    return st.ok();
  }

  std::string_view backend() const override { return "sqlite"; }

  void add_idle_reader(std::unique_ptr<SqliteConnection> conn) {
    readers_.release(std::move(conn));
  }

 private:
  std::mutex write_mu_;
  std::unique_ptr<SqliteConnection> writer_;  // guarded by write_mu_; closed last
  mutable ReaderPool readers_;
};

}  // namespace

Result<std::unique_ptr<Database>> open_sqlite(const SqliteOptions& options) {
  if (options.path.empty() || options.path == ":memory:" || options.path.starts_with("file:")) {
    return Error::invalid("sqlite path must be a file path");
  }
  SqliteConnectionOptions writer_options{
      .path = options.path,
      .read_only = false,
      .busy_timeout_ms = options.busy_timeout_ms,
      .statement_cache_size = options.statement_cache_size,
      .synchronous_full = options.synchronous_full,
  };
  auto writer = SqliteConnection::open(writer_options);
  if (!writer) return std::move(writer).error();

  SqliteConnectionOptions reader_options = writer_options;
  reader_options.read_only = true;
  // Open one reader now so a file readers cannot open fails here, not on first read.
  auto reader = SqliteConnection::open(reader_options);
  if (!reader) return std::move(reader).error();

  auto db = std::make_unique<SqliteDatabase>(std::move(*writer), reader_options,
                                             options.max_idle_readers);
  db->add_idle_reader(std::move(*reader));
  spdlog::info("storage: opened sqlite database {} (synchronous={})", options.path,
               options.synchronous_full ? "FULL" : "NORMAL");
  std::unique_ptr<Database> out = std::move(db);
  return out;
}

}  // namespace office::storage

// SQLite implementation of Database: one writer connection with group commit,
// and a pool of read-only connections handed out per read() call.
#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "storage/database.hpp"
#include "storage/group_commit.hpp"
#include "storage/migrations.hpp"
#include "storage/sqlite_connection.hpp"

namespace office::storage {

namespace {

class SqliteTx final : public Tx {
 public:
  explicit SqliteTx(SqliteConnection& conn) : conn_(conn) {}
  using Tx::exec;
  using Tx::query;
  using Tx::query_one;

  Result<std::int64_t> exec(std::string_view sql, std::span<const Value> params) override {
    if (auto e = refuse()) return std::move(*e);
    return checked(conn_.exec(sql, params));
  }
  Result<std::vector<Row>> query(std::string_view sql, std::span<const Value> params) override {
    if (auto e = refuse()) return std::move(*e);
    return checked(conn_.query(sql, params));
  }
  Result<std::optional<Row>> query_one(std::string_view sql,
                                       std::span<const Value> params) override {
    if (auto e = refuse()) return std::move(*e);
    return checked(conn_.query_one(sql, params));
  }
  /// A new unit starts: statements may run again.
  void reset() { failed_ = false; }
  bool failed() const { return failed_; }

 private:
  // After a failed statement the callback must return an error: PostgreSQL
  // aborts the transaction at the first error, and code tested on SQLite must
  // behave the same there (docs/storage.md).
  std::optional<Error> refuse() const {
    if (conn_.autocommit()) return aborted();
    if (failed_) {
      spdlog::error("storage: statement after a failed statement in the same transaction");
      return Error::internal("database error");
    }
    return std::nullopt;
  }
  template <class T>
  Result<T> checked(Result<T> r) {
    if (!r) failed_ = true;
    return r;
  }

  // Some errors (disk full, I/O) make SQLite roll the whole transaction back;
  // running later statements in autocommit mode would commit them piecemeal.
  static Error aborted() {
    spdlog::error("storage: statement after the transaction was rolled back by SQLite");
    return Error::internal("database error");
  }

  SqliteConnection& conn_;
  bool failed_ = false;
};

// The writer connection as the group committer sees it.
class SqliteWriteConnection final : public WriteConnection {
 public:
  explicit SqliteWriteConnection(std::unique_ptr<SqliteConnection> conn)
      : conn_(std::move(conn)), tx_(*conn_) {}

  Status begin() override {
    tx_.reset();
    if (!conn_->autocommit() && !conn_->rollback()) return Error::internal("database error");
    return conn_->begin(/*immediate=*/true);
  }
  Status commit() override { return conn_->commit(); }
  bool rollback() override { return conn_->rollback(); }
  Status savepoint() override {
    tx_.reset();
    return conn_->savepoint();
  }
  Status release_savepoint() override { return conn_->release_savepoint(); }
  Status rollback_to_savepoint() override {
    tx_.reset();
    return conn_->rollback_to_savepoint();
  }
  bool in_transaction() const override { return !conn_->autocommit(); }
  bool transaction_usable() const override { return !conn_->autocommit(); }
  // A COMMIT that found the database busy (another process reading in a way
  // that blocks the WAL) can be tried again; BEGIN IMMEDIATE already waited
  // busy_timeout_ms and is not retried.
  bool last_error_retryable() const override {
    int rc = conn_->last_error();
    return (rc == 5 /*SQLITE_BUSY*/ || rc == 6 /*SQLITE_LOCKED*/) && !conn_->autocommit();
  }
  Tx& tx() override { return tx_; }
  bool tx_failed() const override { return tx_.failed(); }

  Status exec_script(std::string_view sql) { return conn_->exec_script(sql); }

 private:
  std::unique_ptr<SqliteConnection> conn_;
  SqliteTx tx_;
};

// Runs fn, turning an escaping exception into kInternal (no exceptions cross the API).
Status run_guarded(const std::function<Status(Tx&)>& fn, Tx& tx) {
  try {
    return fn(tx);
  } catch (const std::exception& e) {
    spdlog::error("storage: exception in read transaction: {}", e.what());
  } catch (...) {
    spdlog::error("storage: unknown exception in read transaction");
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

// Copies the WAL into the database file on a thread of its own, a little at
// a time, so that neither the committer nor the disk stops for it. SQLite's
// own checkpoint ran on the committing thread every N frames and wrote (then
// fsynced) tens of MiB at once: every commit's WAL fsync queued behind that
// flush (with a thousand documents being edited, op-to-ack p99 went from
// 23-32 ms without checkpoints to 79-122 ms; docs/benchmarks.md).
//
// - Every `interval`, if commits came since, a PASSIVE pass copies what is
//   new, concurrently with later commits: each flush is small.
// - SQLite starts the WAL over only once every frame is in the database, and
//   commits keep appending frames behind a background pass. So once the WAL
//   has `pages` frames, the writer's WAL hook (after a commit, on the
//   committer's thread) asks for passes until one has little left to copy,
//   then copies that little itself at its next commit: the next write
//   transaction starts the WAL from the beginning.
// - A WAL that still grows past 4 x pages (a reader that holds old frames)
//   gets a pass at each commit, as SQLite's automatic checkpoint would.
class Checkpointer {
 public:
  Checkpointer(std::unique_ptr<SqliteConnection> conn, std::size_t pages,
               std::chrono::milliseconds interval)
      : conn_(std::move(conn)),
        pages_(static_cast<int>(std::max<std::size_t>(pages, 1))),
        interval_(interval) {
    thread_ = std::thread([this] { run(); });
  }
  ~Checkpointer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Makes this the writer connection's checkpoint (replacing SQLite's
  // automatic one); returns the connection.
  std::unique_ptr<SqliteConnection> attach(std::unique_ptr<SqliteConnection> writer) {
    sqlite3_wal_hook(writer->handle(), &Checkpointer::hook, this);
    return writer;
  }

  std::uint64_t passes() const {
    std::lock_guard lock(mu_);
    return passes_;
  }

 private:
  enum class Phase { kIdle, kRequested, kRunning, kDone };

  // sqlite3_wal_hook's callback on the writer connection.
  static int hook(void* self, sqlite3* db, const char* /*schema*/, int frames) {
    static_cast<Checkpointer*>(self)->on_commit(db, frames);
    return SQLITE_OK;
  }
  static constexpr int kMaxPasses = 5;
  static constexpr int kFewFrames = 64;

  void on_commit(sqlite3* writer, int frames) {
    bool finish = false;
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      ++commits_;
      if (phase_ == Phase::kDone) {
        phase_ = Phase::kIdle;
        finish = true;
      } else if (phase_ == Phase::kIdle && frames >= pages_) {
        phase_ = Phase::kRequested;
        wake = true;
      }
    }
    if (wake) cv_.notify_one();
    if (finish || frames >= 4 * pages_) {
      // SQLITE_BUSY while a background pass runs: nothing to do then.
      (void)pass(writer);
    }
  }

  void run() {
    std::unique_lock lock(mu_);
    std::uint64_t seen = 0;  // commits_ at the last pass
    while (true) {
      cv_.wait_for(lock, interval_, [&] { return stop_ || phase_ == Phase::kRequested; });
      if (stop_) return;
      const bool requested = phase_ == Phase::kRequested;
      if (!requested && commits_ == seen) continue;
      seen = commits_;
      if (requested) phase_ = Phase::kRunning;
      lock.unlock();
      // Asked to catch up: passes until one had little left to copy, so the
      // committer's pass then copies only what the last one did not see.
      int before = -1;
      for (int i = 0; i < (requested ? kMaxPasses : 1); ++i) {
        const int copied = pass(conn_->handle());
        if (copied < 0 || (before >= 0 && copied - before < kFewFrames)) break;
        before = copied;
      }
      lock.lock();
      ++passes_;
      if (requested) phase_ = Phase::kDone;
    }
  }

  // One PASSIVE checkpoint; the frames now in the database, or -1.
  static int pass(sqlite3* db) {
    int frames = 0;
    int copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
    if (rc == SQLITE_OK) return copied;
    if (rc != SQLITE_BUSY)
      spdlog::warn("storage: sqlite checkpoint failed: {}", sqlite3_errstr(rc));
    return -1;
  }

  std::unique_ptr<SqliteConnection> conn_;
  const int pages_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Phase phase_ = Phase::kIdle;  // guarded by mu_
  std::uint64_t commits_ = 0;   // guarded by mu_
  bool stop_ = false;           // guarded by mu_
  std::uint64_t passes_ = 0;    // guarded by mu_
  std::thread thread_;
};

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(std::unique_ptr<SqliteConnection> writer,
                 std::unique_ptr<SqliteConnection> checkpointer, std::size_t checkpoint_pages,
                 std::chrono::milliseconds checkpoint_interval,
                 SqliteConnectionOptions reader_options, std::size_t max_idle_readers,
                 WriteOptions write_options)
      : checkpointer_(std::move(checkpointer), checkpoint_pages, checkpoint_interval),
        writer_(std::make_unique<SqliteWriteConnection>(checkpointer_.attach(std::move(writer))),
                write_options),
        readers_(std::move(reader_options), max_idle_readers == 0 ? 1 : max_idle_readers) {}

  Status write(const std::function<Status(Tx&)>& fn) override { return writer_.write(fn); }

  bool write_async(std::function<Status(Tx&)> fn, std::function<void(Status)> done,
                   std::uint64_t /*affinity: one lane*/) override {
    return writer_.write_async(std::move(fn), std::move(done));
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
    Status result = run_guarded(fn, tx);
    if (!c.autocommit() && !c.commit()) c.rollback();
    if (c.autocommit()) readers_.release(std::move(*conn));  // else: broken, drop it
    return result;
  }

  Status migrate(std::span<const Migration> migrations) override {
    return apply_migrations(
        *this, migrations, [this](const std::function<Status(Tx&, const ScriptRunner&)>& fn) {
          return writer_.exclusive([&](WriteConnection& conn) {
            auto& c = static_cast<SqliteWriteConnection&>(conn);
            return fn(c.tx(), [&c](std::string_view sql) { return c.exec_script(sql); });
          });
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

  WriteStats write_stats() const override {
    auto s = writer_.stats();
    return WriteStats{s.batches, s.units, s.retries, writer_.load(), checkpointer_.passes()};
  }

  void add_idle_reader(std::unique_ptr<SqliteConnection> conn) {
    readers_.release(std::move(conn));
  }

 private:
  Checkpointer checkpointer_;  // destroyed after the writer: its hook points here
  WriteLane writer_;           // owns the writer connection
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

  auto checkpointer = SqliteConnection::open(writer_options);
  if (!checkpointer) return std::move(checkpointer).error();

  auto db = std::make_unique<SqliteDatabase>(
      std::move(*writer), std::move(*checkpointer), options.checkpoint_pages,
      options.checkpoint_interval, reader_options, options.max_idle_readers, options.writes);
  db->add_idle_reader(std::move(*reader));
  spdlog::info("storage: opened sqlite database {} (synchronous={}, group commit up to {})",
               options.path, options.synchronous_full ? "FULL" : "NORMAL",
               options.writes.max_batch);
  std::unique_ptr<Database> out = std::move(db);
  return out;
}

}  // namespace office::storage

// PostgreSQL implementation of Database: write lanes (a connection each, with
// group commit, SERIALIZABLE) and a bounded pool of read connections.
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "storage/database.hpp"
#include "storage/group_commit.hpp"
#include "storage/migrations.hpp"
#include "storage/postgres_connection.hpp"

namespace office::storage {

namespace {

// Any key will do, as long as every office-suite process uses the same one.
constexpr std::string_view kMigrationLock = "SELECT pg_advisory_xact_lock(7243508311)";

class PgTx final : public Tx {
 public:
  explicit PgTx(PgConnection& conn) : conn_(conn) {}
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
  void reset() { failed_ = false; }
  bool failed() const { return failed_; }

 private:
  // PostgreSQL refuses statements after an error anyway ("current transaction
  // is aborted"); saying so here keeps the message and the code the same as
  // on SQLite.
  std::optional<Error> refuse() const {
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

  PgConnection& conn_;
  bool failed_ = false;
};

bool retryable_state(const std::string& s) { return s == "40001" || s == "40P01"; }

class PgWriteConnection final : public WriteConnection {
 public:
  explicit PgWriteConnection(std::unique_ptr<PgConnection> conn)
      : conn_(std::move(conn)), tx_(*conn_) {}

  Status begin() override {
    tx_.reset();
    if (conn_->broken() && !conn_->reset()) return Error::unavailable("database cannot be reached");
    return conn_->control("BEGIN ISOLATION LEVEL SERIALIZABLE");
  }
  Status commit() override { return conn_->control("COMMIT"); }
  bool rollback() override {
    if (!conn_->in_transaction()) return !conn_->broken();
    return conn_->control("ROLLBACK").ok() && !conn_->in_transaction();
  }
  Status savepoint() override {
    tx_.reset();
    return conn_->control("SAVEPOINT unit");
  }
  Status release_savepoint() override { return conn_->control("RELEASE SAVEPOINT unit"); }
  Status rollback_to_savepoint() override {
    tx_.reset();
    return conn_->control("ROLLBACK TO SAVEPOINT unit");
  }
  bool in_transaction() const override { return conn_->in_transaction() && !conn_->broken(); }
  bool transaction_usable() const override {
    return conn_->in_transaction() && !conn_->in_failed_transaction() && !conn_->broken();
  }
  bool last_error_retryable() const override {
    return retryable_state(conn_->last_sqlstate()) || conn_->broken();
  }
  Tx& tx() override { return tx_; }
  bool tx_failed() const override { return tx_.failed(); }
  bool reconnect() override { return conn_->reset(); }

  PgConnection& connection() { return *conn_; }

 private:
  std::unique_ptr<PgConnection> conn_;
  PgTx tx_;
};

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

// At most `max` connections for reads; read() waits for one up to a timeout.
class PgReadPool {
 public:
  PgReadPool(std::string url, std::size_t max, std::chrono::milliseconds timeout, std::size_t cache)
      : url_(std::move(url)), max_(max == 0 ? 1 : max), timeout_(timeout), cache_(cache) {}

  Result<std::unique_ptr<PgConnection>> acquire() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout_, [&] { return !idle_.empty() || open_ < max_; })) {
      return Error::unavailable("database busy, retry later");
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++open_;
    lock.unlock();
    auto c = PgConnection::open(url_, cache_);  // outside the lock: connecting does I/O
    if (!c) release(nullptr);
    return c;
  }

  // nullptr (or a broken connection) gives the slot back.
  void release(std::unique_ptr<PgConnection> c) {
    {
      std::lock_guard lock(mu_);
      if (c && !c->broken() && !c->in_transaction()) {
        idle_.push_back(std::move(c));
      } else {
        --open_;
      }
    }
    cv_.notify_one();
  }

 private:
  const std::string url_;
  const std::size_t max_;
  const std::chrono::milliseconds timeout_;
  const std::size_t cache_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mu_
  std::size_t open_ = 0;                             // guarded by mu_: idle + lent out
};

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(std::vector<std::unique_ptr<WriteLane>> lanes, const PostgresOptions& o)
      : lanes_(std::move(lanes)),
        readers_(o.url, o.max_read_connections, o.acquire_timeout, o.statement_cache_size) {}

  Status write(const std::function<Status(Tx&)>& fn) override {
    for (const auto& lane : lanes_) {
      if (lane->running_here()) {  // another lane would not deadlock, but it is not one transaction
        spdlog::error("storage: write() called from a write callback of the same database");
        return Error::internal("internal error");
      }
    }
    return pick_lane().write(fn);
  }

  bool write_async(std::function<Status(Tx&)> fn, std::function<void(Status)> done,
                   std::uint64_t affinity) override {
    WriteLane& lane = affinity == 0 ? pick_lane() : *lanes_[affinity % lanes_.size()];
    return lane.write_async(std::move(fn), std::move(done));
  }

  Status read(const std::function<Status(Tx&)>& fn) const override {
    auto conn = readers_.acquire();
    if (!conn) return std::move(conn).error();
    PgConnection& c = **conn;
    if (Status st = c.control("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"); !st) {
      if (c.broken()) c.reset();
      readers_.release(std::move(*conn));
      return st;
    }
    PgTx tx(c);
    Status result = run_guarded(fn, tx);
    // A read-only transaction commits nothing: COMMIT or ROLLBACK only ends
    // it; if even that fails, the pool drops the connection (still in a transaction).
    if (!c.control(c.in_failed_transaction() ? "ROLLBACK" : "COMMIT")) (void)c.control("ROLLBACK");
    readers_.release(std::move(*conn));
    return result;
  }

  Status migrate(std::span<const Migration> migrations) override {
    return apply_migrations(
        *this, migrations, [this](const std::function<Status(Tx&, const ScriptRunner&)>& fn) {
          return lanes_.front()->exclusive([&](WriteConnection& conn) -> Status {
            auto& c = static_cast<PgWriteConnection&>(conn);
            // Replicas starting together apply each migration once, in turn.
            if (Status st = c.connection().control(kMigrationLock); !st) return st;
            return fn(c.tx(),
                      [&c](std::string_view sql) { return c.connection().exec_script(sql); });
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

  std::string_view backend() const override { return "postgres"; }

  WriteStats write_stats() const override {
    WriteStats total;
    for (const auto& lane : lanes_) {
      auto s = lane->stats();
      total.batches += s.batches;
      total.units += s.units;
      total.retries += s.retries;
      total.waiting += lane->load();
    }
    return total;
  }

 private:
  // The lane with the fewest callers waiting; ties go round-robin.
  WriteLane& pick_lane() {
    std::size_t start = next_.fetch_add(1, std::memory_order_relaxed) % lanes_.size();
    WriteLane* best = lanes_[start].get();
    for (std::size_t i = 1; i < lanes_.size(); ++i) {
      WriteLane* l = lanes_[(start + i) % lanes_.size()].get();
      if (l->load() < best->load()) best = l;
    }
    return *best;
  }

  std::vector<std::unique_ptr<WriteLane>> lanes_;
  std::atomic<std::size_t> next_{0};
  mutable PgReadPool readers_;
};

}  // namespace

Result<std::unique_ptr<Database>> open_postgres(const PostgresOptions& options) {
  if (options.url.empty()) return Error::invalid("PostgreSQL URL is empty");
  std::vector<std::unique_ptr<WriteLane>> lanes;
  const std::size_t n = options.write_connections == 0 ? 1 : options.write_connections;
  for (std::size_t i = 0; i < n; ++i) {
    auto conn = PgConnection::open(options.url, options.statement_cache_size);
    if (!conn) return std::move(conn).error();
    lanes.push_back(std::make_unique<WriteLane>(
        std::make_unique<PgWriteConnection>(std::move(*conn)), options.writes));
  }
  spdlog::info("storage: connected to PostgreSQL ({} write connections, up to {} for reads)", n,
               options.max_read_connections);
  std::unique_ptr<Database> db = std::make_unique<PostgresDatabase>(std::move(lanes), options);
  return db;
}

}  // namespace office::storage

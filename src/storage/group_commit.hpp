#pragma once
// Internal to storage: group commit over one writing connection, shared by the
// SQLite and PostgreSQL backends. See docs/storage.md ("Group commit").

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "core/result.hpp"
#include "storage/database.hpp"

namespace office::storage {

/// What a backend's writing connection offers the group committer. Used only
/// by the thread holding the lane's mutex.
class WriteConnection {
 public:
  virtual ~WriteConnection() = default;
  /// BEGIN a read-write transaction (SQLite: IMMEDIATE; PostgreSQL: SERIALIZABLE).
  virtual Status begin() = 0;
  virtual Status commit() = 0;
  /// Rolls back whatever is open; false if the connection is unusable afterwards.
  virtual bool rollback() = 0;
  /// SAVEPOINT / RELEASE / ROLLBACK TO of the one unit savepoint.
  virtual Status savepoint() = 0;
  virtual Status release_savepoint() = 0;
  virtual Status rollback_to_savepoint() = 0;
  /// A transaction is open (possibly failed: PostgreSQL after an error, until
  /// ROLLBACK TO SAVEPOINT). False when the database ended it by itself
  /// (SQLite after disk full or I/O errors).
  virtual bool in_transaction() const = 0;
  /// A transaction is open and statements can run in it.
  virtual bool transaction_usable() const = 0;
  /// The last failure was transient and the whole transaction should be
  /// retried (serialization failure, deadlock, busy). Reset by begin().
  virtual bool last_error_retryable() const = 0;
  /// The Tx handed to write callbacks. begin(), savepoint() and
  /// rollback_to_savepoint() clear its failed-statement state.
  virtual Tx& tx() = 0;
  /// A statement of the current unit failed (the callback should have
  /// returned an error).
  virtual bool tx_failed() const = 0;
  /// Re-establishes a broken connection (PostgreSQL); SQLite returns false.
  virtual bool reconnect() { return false; }
};

/// Runs write() callbacks in shared transactions on one connection: each
/// caller runs its fn on its own thread while holding the lane, inside a
/// savepoint; the caller that finds nobody else waiting (or the batch full)
/// commits for everybody and wakes them. Thread-safe.
class WriteLane {
 public:
  WriteLane(std::unique_ptr<WriteConnection> conn, WriteOptions options);
  ~WriteLane();
  WriteLane(const WriteLane&) = delete;
  WriteLane& operator=(const WriteLane&) = delete;

  /// Database::write semantics (see database.hpp), retries included.
  Status write(const std::function<Status(Tx&)>& fn);
  /// Runs fn with the connection alone in its own transaction, outside any
  /// batch (migrations: fn may run DDL scripts through the connection).
  Status exclusive(const std::function<Status(WriteConnection&)>& fn);

  /// Callers waiting for the lane now (for choosing the least busy lane).
  std::size_t load() const { return waiting_.load(std::memory_order_relaxed); }

  struct Stats {
    std::uint64_t batches = 0;  ///< committed transactions
    std::uint64_t units = 0;    ///< write() calls committed
    std::uint64_t retries = 0;  ///< fn re-runs after a retryable failure
  };
  /// Never blocks (safe to call from inside a write callback).
  Stats stats() const;

 private:
  struct Batch;
  enum class Attempt { kDone, kRetry };
  Attempt attempt(const std::function<Status(Tx&)>& fn, Status* out);
  Status run_unit(const std::function<Status(Tx&)>& fn);
  void finish_batch(std::unique_lock<std::mutex>& lock);
  void abort_batch(std::unique_lock<std::mutex>& lock, const Error& error, bool retry);

  const WriteOptions options_;
  std::unique_ptr<WriteConnection> conn_;  // guarded by mu_
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  std::atomic<std::size_t> waiting_{0};  // callers blocked on mu_
  std::shared_ptr<Batch> open_;          // guarded by mu_: the transaction being filled
  // Counters readable without mu_ (a callback may ask for them mid-write).
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> units_{0};
  std::atomic<std::uint64_t> retries_{0};
};

}  // namespace office::storage

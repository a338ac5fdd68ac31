#pragma once
// Internal to storage: group commit over one writing connection, shared by the
// SQLite and PostgreSQL backends. See docs/storage.md ("Group commit").

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

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

/// Runs write callbacks in shared transactions on one connection, from a
/// committer thread of its own: callers queue their callback; the committer
/// takes up to max_batch queued callbacks, runs them back to back in one
/// transaction (a savepoint each), commits once and completes them: a blocking
/// caller is woken, an asynchronous one gets its `done` call. A unit thus costs
/// at most one wake-up, and a batch one fsync. Callbacks run on the committer
/// thread (the caller's log trace id goes with them). Thread-safe.
class WriteLane {
 public:
  WriteLane(std::unique_ptr<WriteConnection> conn, WriteOptions options);
  /// Completes everything queued, then stops the committer thread.
  ~WriteLane();
  WriteLane(const WriteLane&) = delete;
  WriteLane& operator=(const WriteLane&) = delete;

  /// Database::write semantics (see database.hpp), retries included.
  Status write(const std::function<Status(Tx&)>& fn);
  /// Database::write_async semantics; false when options.max_queue
  /// asynchronous writes are waiting already (nothing will be called).
  bool write_async(std::function<Status(Tx&)> fn, std::function<void(Status)> done);
  /// Runs fn with the connection alone in its own transaction, outside any
  /// batch (migrations: fn may run DDL scripts through the connection).
  Status exclusive(const std::function<Status(WriteConnection&)>& fn);

  /// True on this lane's committer thread (inside a write callback).
  bool running_here() const;
  /// Callers queued and not yet running (for choosing the least busy lane).
  std::size_t load() const { return queued_.load(std::memory_order_relaxed); }

  struct Stats {
    std::uint64_t batches = 0;  ///< committed transactions
    std::uint64_t units = 0;    ///< write() calls committed
    std::uint64_t retries = 0;  ///< fn re-runs after a retryable failure
  };
  /// Never blocks (safe to call from inside a write callback).
  Stats stats() const;

 private:
  struct Unit;
  void enqueue(Unit* unit);
  void committer();
  void run_batch(std::vector<Unit*>& batch);
  void run_exclusive(Unit& unit);
  Status run_unit(Unit& unit, bool savepoint);
  void complete(Unit& unit, Status result, bool retry);

  const WriteOptions options_;
  std::unique_ptr<WriteConnection> conn_;  // used only by the committer thread

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<Unit*> queue_;       // guarded by mu_
  std::size_t async_queued_ = 0;  // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  std::atomic<std::size_t> queued_{0};
  std::thread thread_;

  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> units_{0};
  std::atomic<std::uint64_t> retries_{0};
};

}  // namespace office::storage

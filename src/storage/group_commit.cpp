#include "storage/group_commit.hpp"

#include <chrono>
#include <exception>
#include <random>
#include <thread>

#include "core/log.hpp"

namespace office::storage {

namespace {

// Runs fn, turning an escaping exception into kInternal (no exceptions cross the API).
Status run_guarded(const std::function<Status(Tx&)>& fn, Tx& tx) {
  try {
    return fn(tx);
  } catch (const std::exception& e) {
    spdlog::error("storage: exception in write transaction: {}", e.what());
  } catch (...) {
    spdlog::error("storage: unknown exception in write transaction");
  }
  return Error::internal("internal error");
}

// A short random pause before a retry, growing with the attempt, so that two
// lanes that conflicted do not collide again in lockstep.
void backoff(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  int cap_us = std::min(50'000, 200 << std::min(attempt, 8));
  std::this_thread::sleep_for(
      std::chrono::microseconds(std::uniform_int_distribution<int>(0, cap_us)(rng)));
}

}  // namespace

struct WriteLane::Batch {
  std::size_t units = 0;  // successful units waiting for COMMIT
  bool done = false;
  bool retry = false;  // the transaction was lost to a transient failure: run again
  Status result;
};

WriteLane::WriteLane(std::unique_ptr<WriteConnection> conn, WriteOptions options)
    : options_(options), conn_(std::move(conn)) {}

WriteLane::~WriteLane() {
  std::lock_guard lock(mu_);
  if (open_) conn_->rollback();  // nobody waits for it: every write() returned
}

Status WriteLane::write(const std::function<Status(Tx&)>& fn) {
  Status out;
  for (int i = 0;; ++i) {
    if (attempt(fn, &out) == Attempt::kDone) return out;
    if (i >= options_.max_retries) {
      spdlog::warn("storage: write gave up after {} retries", i);
      return out.ok() ? Status(Error::unavailable("database busy, retry later")) : out;
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    backoff(i);
  }
}

WriteLane::Attempt WriteLane::attempt(const std::function<Status(Tx&)>& fn, Status* out) {
  waiting_.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock lock(mu_);
  waiting_.fetch_sub(1, std::memory_order_relaxed);

  if (!open_) {
    if (Status st = conn_->begin(); !st) {
      bool retry = conn_->last_error_retryable();
      if (!conn_->rollback()) conn_->reconnect();
      *out = std::move(st);
      return retry ? Attempt::kRetry : Attempt::kDone;
    }
    open_ = std::make_shared<Batch>();
  }
  std::shared_ptr<Batch> batch = open_;

  Status unit = run_unit(fn);
  if (!unit) {
    if (!conn_->transaction_usable() || conn_->last_error_retryable()) {
      // The whole transaction is lost, with the units before this one.
      bool retry = conn_->last_error_retryable();
      abort_batch(lock, unit.error(), retry);
      *out = std::move(unit);
      return retry ? Attempt::kRetry : Attempt::kDone;
    }
    // Only this unit was rolled back (to its savepoint).
    const bool alone = options_.max_batch <= 1 && !options_.rehearse;  // no savepoint
    if (alone || (batch->units == 0 && waiting_.load(std::memory_order_relaxed) == 0)) {
      conn_->rollback();
      open_.reset();
    } else if (waiting_.load(std::memory_order_relaxed) == 0) {
      finish_batch(lock);  // the units before this one commit now
    }
    *out = std::move(unit);
    return Attempt::kDone;
  }

  ++batch->units;
  if (waiting_.load(std::memory_order_relaxed) == 0 || batch->units >= options_.max_batch) {
    finish_batch(lock);
  } else {
    done_cv_.wait(lock, [&] { return batch->done; });
  }
  *out = batch->result;
  return batch->retry ? Attempt::kRetry : Attempt::kDone;
}

Status WriteLane::run_unit(const std::function<Status(Tx&)>& fn) {
  const bool savepoint = options_.max_batch > 1 || options_.rehearse;
  if (savepoint)
    if (Status st = conn_->savepoint(); !st) return st;
  if (options_.rehearse) {
    // The dress rehearsal: a callback that keeps state from this run (breaking
    // the retry rule) gives a wrong result in tests.
    Status first = run_guarded(fn, conn_->tx());
    if (!conn_->in_transaction() || conn_->last_error_retryable()) return first;
    if (Status st = conn_->rollback_to_savepoint(); !st) return st;
  }
  Status result = run_guarded(fn, conn_->tx());
  if (result && conn_->tx_failed()) {
    // PostgreSQL could only roll back here; SQLite must not commit half a unit either.
    spdlog::error("storage: write callback returned ok after a failed statement; rolled back");
    result = Error::internal("database error");
  }
  if (!result) {
    // Undo this unit alone (this also ends PostgreSQL's failed-transaction
    // state); the caller then sees whether the transaction survived.
    if (savepoint && conn_->in_transaction() && !conn_->last_error_retryable()) {
      if (Status st = conn_->rollback_to_savepoint(); !st) return result;
      if (Status st = conn_->release_savepoint(); !st) return result;
    }
    return result;
  }
  if (savepoint)
    if (Status st = conn_->release_savepoint(); !st) return st;
  return result;
}

void WriteLane::finish_batch(std::unique_lock<std::mutex>& /*lock*/) {
  std::shared_ptr<Batch> batch = std::move(open_);
  Status st = conn_->commit();
  if (!st) {
    batch->retry = conn_->last_error_retryable();
    if (!conn_->rollback()) conn_->reconnect();
  } else {
    batches_.fetch_add(1, std::memory_order_relaxed);
    units_.fetch_add(batch->units, std::memory_order_relaxed);
  }
  batch->result = std::move(st);
  batch->done = true;
  done_cv_.notify_all();
}

void WriteLane::abort_batch(std::unique_lock<std::mutex>& /*lock*/, const Error& error,
                            bool retry) {
  std::shared_ptr<Batch> batch = std::move(open_);
  if (!conn_->rollback()) conn_->reconnect();
  batch->retry = retry;
  // The other units did nothing wrong; they learn that the transaction was lost.
  batch->result = retry ? Status(error) : Status(Error::internal("database error"));
  batch->done = true;
  done_cv_.notify_all();
}

Status WriteLane::exclusive(const std::function<Status(WriteConnection&)>& fn) {
  waiting_.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock lock(mu_);
  waiting_.fetch_sub(1, std::memory_order_relaxed);
  if (open_) finish_batch(lock);
  if (Status st = conn_->begin(); !st) {
    if (!conn_->rollback()) conn_->reconnect();
    return st;
  }
  Status result;
  try {
    result = fn(*conn_);
  } catch (const std::exception& e) {
    spdlog::error("storage: exception in exclusive transaction: {}", e.what());
    result = Error::internal("internal error");
  }
  if (result) result = conn_->commit();
  if (!result && !conn_->rollback()) conn_->reconnect();
  return result;
}

WriteLane::Stats WriteLane::stats() const {
  return Stats{batches_.load(std::memory_order_relaxed), units_.load(std::memory_order_relaxed),
               retries_.load(std::memory_order_relaxed)};
}

}  // namespace office::storage

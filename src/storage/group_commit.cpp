#include "storage/group_commit.hpp"

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <random>
#include <string>
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

namespace {
// The lane whose committer runs on this thread (a callback calling write()
// on its own lane would wait for itself).
thread_local const WriteLane* t_lane = nullptr;
}  // namespace

struct WriteLane::Unit {
  const std::function<Status(Tx&)>* fn = nullptr;  // blocking write()
  std::function<Status(Tx&)> async_fn;             // write_async()
  std::function<void(Status)> done;                // write_async()
  const std::function<Status(WriteConnection&)>* exclusive = nullptr;
  std::string trace_id;  // the caller's, for log lines written by fn on the committer thread
  Status result;
  bool retry = false;
  int attempts = 0;  // write_async: runs so far

  bool is_async() const { return static_cast<bool>(done); }
  const std::function<Status(Tx&)>& callback() const { return fn ? *fn : async_fn; }

  // Handshake with a blocking caller. A mutex and condition variable per unit
  // (not an atomic wait): the caller destroys the unit as soon as it sees the
  // flag, and a notify after the store could touch it after that.
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;  // guarded by mu

  void signal() {
    std::lock_guard lock(mu);
    finished = true;
    cv.notify_one();
  }
  void wait() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished; });
  }
};

WriteLane::WriteLane(std::unique_ptr<WriteConnection> conn, WriteOptions options)
    : options_(options), conn_(std::move(conn)) {
  thread_ = std::thread([this] { committer(); });
  pthread_setname_np(thread_.native_handle(), "db-commit");
}

WriteLane::~WriteLane() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

void WriteLane::enqueue(Unit* unit) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(unit);
    queued_.fetch_add(1, std::memory_order_relaxed);
  }
  work_cv_.notify_one();
}

Status WriteLane::write(const std::function<Status(Tx&)>& fn) {
  if (t_lane == this) {
    spdlog::error("storage: write() called from a write callback of the same database");
    return Error::internal("internal error");
  }
  Unit unit;
  unit.fn = &fn;
  unit.trace_id = log::current_trace_id();
  for (int i = 0;; ++i) {
    {
      std::lock_guard lock(unit.mu);
      unit.finished = false;
    }
    unit.retry = false;
    enqueue(&unit);
    unit.wait();
    if (!unit.retry) return std::move(unit.result);
    if (i >= options_.max_retries) {
      spdlog::warn("storage: write gave up after {} retries", i);
      return unit.result.ok() ? Status(Error::unavailable("database busy, retry later"))
                              : std::move(unit.result);
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    backoff(i);
  }
}

bool WriteLane::write_async(std::function<Status(Tx&)> fn, std::function<void(Status)> done) {
  auto unit = std::make_unique<Unit>();
  unit->async_fn = std::move(fn);
  unit->done = done ? std::move(done) : [](const Status&) {};
  unit->trace_id = log::current_trace_id();
  {
    std::lock_guard lock(mu_);
    if (stopping_ || async_queued_ >= options_.max_queue) return false;
    ++async_queued_;
    queue_.push_back(unit.release());
    queued_.fetch_add(1, std::memory_order_relaxed);
  }
  work_cv_.notify_one();
  return true;
}

Status WriteLane::exclusive(const std::function<Status(WriteConnection&)>& fn) {
  Unit unit;
  unit.exclusive = &fn;
  enqueue(&unit);
  unit.wait();
  return std::move(unit.result);
}

void WriteLane::committer() {
  t_lane = this;
  std::vector<Unit*> batch;
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) break;  // stopping, and everything is done
    batch.clear();
    // An exclusive unit runs alone.
    if (queue_.front()->exclusive) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    } else {
      const std::size_t max = options_.max_batch == 0 ? 1 : options_.max_batch;
      while (!queue_.empty() && batch.size() < max && !queue_.front()->exclusive) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    queued_.fetch_sub(batch.size(), std::memory_order_relaxed);
    lock.unlock();
    if (batch.front()->exclusive) {
      run_exclusive(*batch.front());
    } else {
      run_batch(batch);
    }
    lock.lock();
  }
}

void WriteLane::complete(Unit& unit, Status result, bool retry) {
  if (!unit.is_async()) {
    unit.result = std::move(result);
    unit.retry = retry;
    unit.signal();  // the caller may destroy the unit from here on
    return;
  }
  if (retry && unit.attempts <= options_.max_retries) {
    // Back to the end of the queue; no sleeping on the committer thread.
    retries_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(mu_);
      queue_.push_back(&unit);
      queued_.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  std::unique_ptr<Unit> owned(&unit);
  {
    std::lock_guard lock(mu_);
    --async_queued_;
  }
  try {
    owned->done(std::move(result));
  } catch (const std::exception& e) {
    spdlog::error("storage: write_async completion threw: {}", e.what());
  } catch (...) {
    spdlog::error("storage: write_async completion threw a non-exception");
  }
}

void WriteLane::run_batch(std::vector<Unit*>& batch) {
  if (Status st = conn_->begin(); !st) {
    bool retry = conn_->last_error_retryable();
    if (!conn_->rollback()) conn_->reconnect();
    for (Unit* u : batch) complete(*u, st, retry);
    return;
  }
  std::vector<Unit*> ok;
  ok.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Unit& u = *batch[i];
    // A unit alone in its transaction needs no savepoint: if it fails, the
    // whole transaction is rolled back (two statements less per write).
    Status r = run_unit(u, batch.size() > 1 || options_.rehearse);
    if (r) {
      ok.push_back(&u);
      continue;
    }
    if (conn_->transaction_usable() && !conn_->last_error_retryable()) {
      complete(u, std::move(r), false);  // rolled back to its savepoint, alone
      continue;
    }
    // The whole transaction is lost, with the units before this one.
    const bool retry = conn_->last_error_retryable();
    if (!conn_->rollback()) conn_->reconnect();
    for (Unit* done : ok)
      complete(*done, retry ? r : Status(Error::internal("database error")), retry);
    for (std::size_t j = i + 1; j < batch.size();
         ++j)  // never ran: not their fault, run them again
      complete(*batch[j], Error::unavailable("database busy, retry later"), true);
    complete(u, std::move(r), retry);
    return;
  }
  if (ok.empty()) {
    if (!conn_->rollback()) conn_->reconnect();
    return;
  }
  Status st = conn_->commit();
  if (!st) {
    const bool retry = conn_->last_error_retryable();
    if (!conn_->rollback()) conn_->reconnect();
    for (Unit* u : ok) complete(*u, st, retry);
    return;
  }
  batches_.fetch_add(1, std::memory_order_relaxed);
  units_.fetch_add(ok.size(), std::memory_order_relaxed);
  for (Unit* u : ok) complete(*u, {}, false);
}

Status WriteLane::run_unit(Unit& unit, bool savepoint) {
  log::ScopedTrace trace(unit.trace_id);
  ++unit.attempts;
  const std::function<Status(Tx&)>& fn = unit.callback();
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

void WriteLane::run_exclusive(Unit& unit) {
  if (Status st = conn_->begin(); !st) {
    if (!conn_->rollback()) conn_->reconnect();
    complete(unit, std::move(st), false);
    return;
  }
  Status result;
  try {
    result = (*unit.exclusive)(*conn_);
  } catch (const std::exception& e) {
    spdlog::error("storage: exception in exclusive transaction: {}", e.what());
    result = Error::internal("internal error");
  }
  if (result) result = conn_->commit();
  if (!result && !conn_->rollback()) conn_->reconnect();
  complete(unit, std::move(result), false);
}

bool WriteLane::running_here() const { return t_lane == this; }

WriteLane::Stats WriteLane::stats() const {
  return Stats{batches_.load(std::memory_order_relaxed), units_.load(std::memory_order_relaxed),
               retries_.load(std::memory_order_relaxed)};
}

}  // namespace office::storage

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/executor.hpp"

namespace office {

/// Runs tasks at a later time: periodic purges, readiness probes, session
/// expiry. Timer callbacks run on the scheduler's own thread and must be
/// short and non-blocking: real work is posted to an executor from there.
/// Thread-safe.
class Scheduler {
 public:
  using TimerId = std::uint64_t;
  virtual ~Scheduler() = default;
  /// Runs task once, after delay. Returns an id for cancel().
  virtual TimerId after(std::chrono::milliseconds delay, Task task) = 0;
  /// Runs fn every period (first run after one period) until cancelled.
  virtual TimerId every(std::chrono::milliseconds period, std::function<void()> fn) = 0;
  /// Cancels a timer; true if it had not run yet (or was periodic). A callback
  /// running right now on the scheduler's thread finishes.
  virtual bool cancel(TimerId id) = 0;
};

/// The real scheduler: one thread, steady clock. The destructor stops the
/// thread; timers not yet due never run.
class ThreadScheduler final : public Scheduler {
 public:
  ThreadScheduler();
  ~ThreadScheduler() override;
  ThreadScheduler(const ThreadScheduler&) = delete;
  ThreadScheduler& operator=(const ThreadScheduler&) = delete;

  TimerId after(std::chrono::milliseconds delay, Task task) override;
  TimerId every(std::chrono::milliseconds period, std::function<void()> fn) override;
  bool cancel(TimerId id) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A scheduler for tests: time moves only in advance(), which runs the due
/// callbacks on the calling thread in time order. Thread-safe.
class ManualScheduler final : public Scheduler {
 public:
  ManualScheduler();
  ~ManualScheduler() override;
  TimerId after(std::chrono::milliseconds delay, Task task) override;
  TimerId every(std::chrono::milliseconds period, std::function<void()> fn) override;
  bool cancel(TimerId id) override;
  /// Moves time forward by d, running every callback that falls due.
  void advance(std::chrono::milliseconds d);
  /// Timers waiting.
  std::size_t pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace office

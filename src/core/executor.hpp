#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace office {

/// A move-only nullary callable: what executors run. (std::function needs a
/// copyable target; tasks often own a buffer or a connection.)
class Task {
 public:
  Task() = default;
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Task>>>
  Task(F&& f)  // NOLINT(google-explicit-constructor): a lambda converts to a Task
      : impl_(std::make_unique<Impl<std::decay_t<F>>>(std::forward<F>(f))) {}
  Task(Task&&) noexcept = default;
  Task& operator=(Task&&) noexcept = default;

  explicit operator bool() const { return impl_ != nullptr; }
  void operator()() { impl_->call(); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call() = 0;
  };
  template <class F>
  struct Impl final : Base {
    explicit Impl(F&& f) : fn(std::move(f)) {}
    explicit Impl(const F& f) : fn(f) {}
    void call() override { fn(); }
    F fn;
  };
  std::unique_ptr<Base> impl_;
};

/// Where work runs. The execution model (docs/concurrency.md): I/O threads
/// never block; blocking and CPU-heavy work runs on bounded pools; one object
/// that must not run concurrently with itself gets a SerialExecutor; every
/// queue has a bound, and the caller of try_post owns the overflow.
/// Implementations are thread-safe.
class Executor {
 public:
  virtual ~Executor() = default;
  /// Queues task to run later on one of the executor's threads; never blocks
  /// and never runs it inline. Returns false, and destroys the task unrun,
  /// when the queue is at its bound or the executor is shutting down: the
  /// caller decides what overflow means (HTTP 503 with Retry-After, WebSocket
  /// close 1013, or stop reading). A task that throws is logged and dropped;
  /// the executor keeps running.
  [[nodiscard]] virtual bool try_post(Task task) = 0;
};

struct ThreadPoolOptions {
  std::string name = "pool";     ///< for logs and thread names (at most 15 characters)
  unsigned threads = 2;          ///< at least 1
  std::size_t max_queue = 1024;  ///< tasks waiting (not running); try_post fails beyond
};

/// A fixed set of threads taking tasks from one bounded FIFO queue.
/// Thread-safe. The destructor calls shutdown().
class ThreadPool final : public Executor {
 public:
  explicit ThreadPool(ThreadPoolOptions options);
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  bool try_post(Task task) override;
  /// Stops accepting tasks, runs every task already queued, joins the
  /// threads. Idempotent; must not be called from one of the pool's threads.
  void shutdown();
  /// True on one of this pool's threads.
  bool in_pool_thread() const;

  struct Stats {
    std::size_t queued = 0;      ///< waiting now
    std::size_t running = 0;     ///< executing now
    std::uint64_t executed = 0;  ///< finished since start
    std::uint64_t rejected = 0;  ///< try_post refused (queue full or shutting down)
  };
  Stats stats() const;
  const ThreadPoolOptions& options() const;

 private:
  // SerialExecutor queues its continuations over the bound: it bounds its own
  // queue and keeps at most one continuation here, so the overshoot is bounded
  // by the number of serial executors.
  friend class SerialExecutor;
  struct State;
  std::shared_ptr<State> state_;
};

/// Runs its tasks one at a time, in the order they were posted, on the
/// threads of a ThreadPool (a strand): the owner of an object that must not be
/// touched concurrently (an open document, a connection's state) posts all
/// its work here and needs no lock. At most `max_queue` tasks wait; try_post
/// fails beyond. After running `batch` tasks in a row it yields the pool
/// thread to others, so one busy owner cannot starve the pool. Thread-safe.
/// Destroying a SerialExecutor does not cancel tasks already accepted: they
/// still run (the queue outlives the object), so they must hold what they
/// use (e.g. a shared_ptr to their owner).
class SerialExecutor final : public Executor {
 public:
  SerialExecutor(ThreadPool& pool, std::size_t max_queue, std::size_t batch = 64);
  ~SerialExecutor() override;
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  bool try_post(Task task) override;
  /// Queues a task even past max_queue: only for the continuation of work
  /// this executor already accepted (a database commit's completion, a
  /// reply), which must not be dropped; that work bounds how many there are.
  /// False only when the pool is gone.
  bool post_continuation(Task task);
  /// True while one of this executor's tasks runs on the calling thread.
  bool running_here() const;
  /// Tasks waiting (not counting the one running).
  std::size_t queued() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

/// A point in (steady) time by which work must be done. Requests carry one;
/// a task that starts after its deadline is answered with an error instead of
/// being run, and blocking calls bound their waits by it.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  /// No deadline.
  Deadline() = default;
  explicit Deadline(Clock::time_point at) : at_(at) {}
  static Deadline after(std::chrono::milliseconds d) { return Deadline(Clock::now() + d); }
  static Deadline never() { return Deadline(); }

  Clock::time_point at() const { return at_; }
  bool is_set() const { return at_ != Clock::time_point::max(); }
  bool passed(Clock::time_point now = Clock::now()) const { return now >= at_; }
  /// Time left (zero once passed; a large value when unset).
  std::chrono::milliseconds remaining(Clock::time_point now = Clock::now()) const;

 private:
  Clock::time_point at_ = Clock::time_point::max();
};

}  // namespace office

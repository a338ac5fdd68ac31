#include "core/executor.hpp"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

namespace office {

namespace {

void run_guarded(Task& task, const std::string& where) {
  try {
    task();
  } catch (const std::exception& e) {
    spdlog::error("{}: task threw: {}", where, e.what());
  } catch (...) {
    spdlog::error("{}: task threw a non-exception", where);
  }
}

}  // namespace

// --- ThreadPool --------------------------------------------------------------

struct ThreadPool::State {
  explicit State(ThreadPoolOptions o) : options(std::move(o)) {
    options.threads = std::max(1u, options.threads);
  }

  ThreadPoolOptions options;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Task> queue;   // guarded by mu
  bool stopping = false;    // guarded by mu: try_post refuses
  bool stopped = false;     // guarded by mu: threads gone, nothing runs any more
  std::size_t running = 0;  // guarded by mu
  std::uint64_t executed = 0;
  std::uint64_t rejected = 0;
  std::vector<std::thread> threads;  // touched only by the constructor and shutdown()
  std::mutex shutdown_mu;            // serialises shutdown()

  bool push(Task&& task, bool bounded) {
    {
      std::lock_guard lock(mu);
      if (stopped || (bounded && (stopping || queue.size() >= options.max_queue))) {
        ++rejected;
        return false;
      }
      queue.push_back(std::move(task));
    }
    cv.notify_one();
    return true;
  }

  void work();
};

namespace {
thread_local const void* t_pool = nullptr;  // the ThreadPool::State this thread serves
}  // namespace

void ThreadPool::State::work() {
  t_pool = this;
  std::unique_lock lock(mu);
  while (true) {
    cv.wait(lock, [this] { return !queue.empty() || stopping; });
    if (queue.empty()) break;  // stopping and drained
    Task task = std::move(queue.front());
    queue.pop_front();
    ++running;
    lock.unlock();
    run_guarded(task, options.name);
    task = Task();  // destroy captures outside the lock
    lock.lock();
    --running;
    ++executed;
  }
}

ThreadPool::ThreadPool(ThreadPoolOptions options)
    : state_(std::make_shared<State>(std::move(options))) {
  State& s = *state_;
  s.threads.reserve(s.options.threads);
  for (unsigned i = 0; i < s.options.threads; ++i) {
    s.threads.emplace_back([st = state_.get()] { st->work(); });
    std::string name = s.options.name.substr(0, 12) + "-" + std::to_string(i);
    pthread_setname_np(s.threads.back().native_handle(), name.substr(0, 15).c_str());
  }
}

ThreadPool::~ThreadPool() { shutdown(); }

bool ThreadPool::try_post(Task task) { return state_->push(std::move(task), /*bounded=*/true); }

void ThreadPool::shutdown() {
  State& s = *state_;
  std::lock_guard serial(s.shutdown_mu);
  {
    std::lock_guard lock(s.mu);
    if (s.stopped) return;
    s.stopping = true;
  }
  s.cv.notify_all();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  std::deque<Task> left;
  {
    std::lock_guard lock(s.mu);
    s.stopped = true;
    left.swap(s.queue);  // continuations posted by the last tasks
  }
  if (!left.empty()) spdlog::warn("{}: {} tasks dropped at shutdown", s.options.name, left.size());
}

bool ThreadPool::in_pool_thread() const { return t_pool == state_.get(); }

ThreadPool::Stats ThreadPool::stats() const {
  std::lock_guard lock(state_->mu);
  return Stats{state_->queue.size(), state_->running, state_->executed, state_->rejected};
}

const ThreadPoolOptions& ThreadPool::options() const { return state_->options; }

// --- SerialExecutor -------------------------------------------------------------

struct SerialExecutor::State : std::enable_shared_from_this<SerialExecutor::State> {
  State(std::shared_ptr<ThreadPool::State> p, std::size_t max_q, std::size_t b)
      : pool(std::move(p)), max_queue(max_q), batch(std::max<std::size_t>(1, b)) {}

  const std::shared_ptr<ThreadPool::State> pool;  // kept alive: tasks may outlive the ThreadPool
  const std::size_t max_queue;
  const std::size_t batch;
  mutable std::mutex mu;
  std::deque<Task> queue;      // guarded by mu
  bool scheduled = false;      // guarded by mu: a drain() is queued on or running in the pool
  std::thread::id running_on;  // guarded by mu

  bool post(Task&& task, bool bounded = true) {
    {
      std::lock_guard lock(mu);
      if (bounded && queue.size() >= max_queue) return false;
      queue.push_back(std::move(task));
      if (scheduled) return true;
      scheduled = true;
    }
    return schedule();
  }

  bool schedule() {
    if (pool->push([self = shared_from_this()] { self->drain(); }, /*bounded=*/false)) return true;
    // The pool is gone: nothing will ever run these.
    std::lock_guard lock(mu);
    scheduled = false;
    queue.clear();
    return false;
  }

  void drain() {
    for (std::size_t i = 0; i < batch; ++i) {
      Task task;
      {
        std::lock_guard lock(mu);
        if (queue.empty()) {
          scheduled = false;
          running_on = {};
          return;
        }
        task = std::move(queue.front());
        queue.pop_front();
        running_on = std::this_thread::get_id();
      }
      run_guarded(task, "serial executor");
    }
    {
      std::lock_guard lock(mu);
      running_on = {};
      if (queue.empty()) {
        scheduled = false;
        return;
      }
    }
    schedule();  // more waiting: go to the back of the pool's queue (fairness)
  }
};

SerialExecutor::SerialExecutor(ThreadPool& pool, std::size_t max_queue, std::size_t batch)
    : state_(std::make_shared<State>(pool.state_, max_queue, batch)) {}

SerialExecutor::~SerialExecutor() = default;

bool SerialExecutor::try_post(Task task) { return state_->post(std::move(task)); }

bool SerialExecutor::post_continuation(Task task) {
  return state_->post(std::move(task), /*bounded=*/false);
}

bool SerialExecutor::running_here() const {
  std::lock_guard lock(state_->mu);
  return state_->running_on == std::this_thread::get_id();
}

std::size_t SerialExecutor::queued() const {
  std::lock_guard lock(state_->mu);
  return state_->queue.size();
}

// --- Deadline -----------------------------------------------------------------

std::chrono::milliseconds Deadline::remaining(Clock::time_point now) const {
  if (!is_set()) return std::chrono::milliseconds(std::chrono::hours(24 * 365));
  if (now >= at_) return std::chrono::milliseconds(0);
  return std::chrono::ceil<std::chrono::milliseconds>(at_ - now);
}

}  // namespace office

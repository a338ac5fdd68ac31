#include "core/scheduler.hpp"

#include <pthread.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include <spdlog/spdlog.h>

namespace office {

namespace {

using Ms = std::chrono::milliseconds;
using Ns = std::chrono::nanoseconds;

// The timers of one scheduler, by due time. Not thread-safe: the owner locks.
class TimerQueue {
 public:
  struct Entry {
    Task once;
    std::function<void()> periodic;
    Ns period{0};
  };
  using Key = std::pair<Ns, Scheduler::TimerId>;

  Scheduler::TimerId add(Ns due, Entry e) {
    Scheduler::TimerId id = next_id_++;
    insert({due, id}, std::move(e));
    return id;
  }
  void insert(Key key, Entry e) {
    by_due_.emplace(key, std::move(e));
    index_.emplace(key.second, key.first);
  }
  bool cancel(Scheduler::TimerId id) {
    if (id != 0 && id == running_) {  // running now: a periodic one is not re-armed
      running_cancelled_ = true;
      return true;
    }
    return erase(id);
  }
  std::optional<Ns> next_due() const {
    if (by_due_.empty()) return std::nullopt;
    return by_due_.begin()->first.first;
  }
  // Removes and returns the earliest timer if it is due at `now`.
  std::optional<std::pair<Key, Entry>> pop_due(Ns now) {
    if (by_due_.empty() || by_due_.begin()->first.first > now) return std::nullopt;
    auto node = by_due_.extract(by_due_.begin());
    index_.erase(node.key().second);
    running_ = node.key().second;
    running_cancelled_ = false;
    return std::pair{node.key(), std::move(node.mapped())};
  }
  // After a popped timer ran: a periodic one goes back unless it was cancelled.
  void done(Key key, Entry e) {
    if (e.periodic && !running_cancelled_) {
      const Key next{key.first + e.period, key.second};
      insert(next, std::move(e));
    }
    running_ = 0;
  }
  std::size_t size() const { return by_due_.size(); }

 private:
  bool erase(Scheduler::TimerId id) {
    auto it = index_.find(id);
    if (it == index_.end()) return false;
    by_due_.erase({it->second, id});
    index_.erase(it);
    return true;
  }

  std::map<Key, Entry> by_due_;
  std::unordered_map<Scheduler::TimerId, Ns> index_;
  Scheduler::TimerId next_id_ = 1;
  Scheduler::TimerId running_ = 0;
  bool running_cancelled_ = false;
};

void run_entry(TimerQueue::Entry& e) {
  try {
    if (e.periodic) {
      e.periodic();
    } else if (e.once) {
      e.once();
    }
  } catch (const std::exception& ex) {
    spdlog::error("scheduler: timer callback threw: {}", ex.what());
  } catch (...) {
    spdlog::error("scheduler: timer callback threw a non-exception");
  }
}

Ns steady_now() { return std::chrono::steady_clock::now().time_since_epoch(); }

}  // namespace

// --- ThreadScheduler -------------------------------------------------------------

struct ThreadScheduler::Impl {
  std::mutex mu;
  std::condition_variable cv;
  TimerQueue timers;  // guarded by mu
  bool stop = false;  // guarded by mu
  std::thread thread;

  void loop() {
    std::unique_lock lock(mu);
    while (!stop) {
      auto due = timers.next_due();
      if (!due) {
        cv.wait(lock);
        continue;
      }
      Ns now = steady_now();
      if (*due > now) {
        cv.wait_for(lock, *due - now);
        continue;
      }
      auto popped = timers.pop_due(now);
      if (!popped) continue;
      lock.unlock();
      run_entry(popped->second);
      lock.lock();
      timers.done(popped->first, std::move(popped->second));
    }
  }
};

ThreadScheduler::ThreadScheduler() : impl_(std::make_unique<Impl>()) {
  impl_->thread = std::thread([this] { impl_->loop(); });
  pthread_setname_np(impl_->thread.native_handle(), "scheduler");
}

ThreadScheduler::~ThreadScheduler() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

Scheduler::TimerId ThreadScheduler::after(Ms delay, Task task) {
  TimerId id;
  {
    std::lock_guard lock(impl_->mu);
    id = impl_->timers.add(steady_now() + delay, TimerQueue::Entry{std::move(task), {}, Ns(0)});
  }
  impl_->cv.notify_all();
  return id;
}

Scheduler::TimerId ThreadScheduler::every(Ms period, std::function<void()> fn) {
  TimerId id;
  {
    std::lock_guard lock(impl_->mu);
    id = impl_->timers.add(steady_now() + period, TimerQueue::Entry{Task(), std::move(fn), period});
  }
  impl_->cv.notify_all();
  return id;
}

bool ThreadScheduler::cancel(TimerId id) {
  std::lock_guard lock(impl_->mu);
  return impl_->timers.cancel(id);
}

// --- ManualScheduler -------------------------------------------------------------

struct ManualScheduler::Impl {
  mutable std::mutex mu;
  TimerQueue timers;  // guarded by mu
  Ns now{0};          // guarded by mu
};

ManualScheduler::ManualScheduler() : impl_(std::make_unique<Impl>()) {}
ManualScheduler::~ManualScheduler() = default;

Scheduler::TimerId ManualScheduler::after(Ms delay, Task task) {
  std::lock_guard lock(impl_->mu);
  return impl_->timers.add(impl_->now + delay, TimerQueue::Entry{std::move(task), {}, Ns(0)});
}

Scheduler::TimerId ManualScheduler::every(Ms period, std::function<void()> fn) {
  std::lock_guard lock(impl_->mu);
  return impl_->timers.add(impl_->now + period, TimerQueue::Entry{Task(), std::move(fn), period});
}

bool ManualScheduler::cancel(TimerId id) {
  std::lock_guard lock(impl_->mu);
  return impl_->timers.cancel(id);
}

void ManualScheduler::advance(Ms d) {
  std::unique_lock lock(impl_->mu);
  const Ns target = impl_->now + d;
  while (true) {
    auto due = impl_->timers.next_due();
    if (!due || *due > target) break;
    impl_->now = std::max(impl_->now, *due);
    auto popped = impl_->timers.pop_due(impl_->now);
    lock.unlock();
    run_entry(popped->second);
    lock.lock();
    impl_->timers.done(popped->first, std::move(popped->second));
  }
  impl_->now = target;
}

std::size_t ManualScheduler::pending() const {
  std::lock_guard lock(impl_->mu);
  return impl_->timers.size();
}

}  // namespace office

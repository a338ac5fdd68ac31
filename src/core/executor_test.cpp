#include "core/executor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace office {
namespace {

// Holds pool threads until opened, so tests control what is queued.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(ThreadPool, RunsTasksAndMoveOnlyCaptures) {
  ThreadPool pool({"t", 2, 16});
  auto p = std::make_unique<int>(41);
  std::promise<int> got;
  ASSERT_TRUE(pool.try_post([p = std::move(p), &got] { got.set_value(*p + 1); }));
  EXPECT_EQ(got.get_future().get(), 42);
}

TEST(ThreadPool, RefusesBeyondItsBoundAndCountsRejections) {
  ThreadPool pool({"t", 1, 3});
  Gate gate;
  std::atomic<int> ran{0};
  std::promise<void> started;
  ASSERT_TRUE(pool.try_post([&] {
    started.set_value();
    gate.wait();
    ++ran;
  }));
  started.get_future().wait();  // the one thread is busy; the queue is empty
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.try_post([&] { ++ran; })) << i;
  EXPECT_FALSE(pool.try_post([&] { ++ran; }));  // the 4th waiting task is over the bound
  EXPECT_EQ(pool.stats().queued, 3u);
  EXPECT_EQ(pool.stats().rejected, 1u);
  gate.open();
  pool.shutdown();
  EXPECT_EQ(ran.load(), 4);            // the refused task never ran
  EXPECT_FALSE(pool.try_post([] {}));  // after shutdown
}

TEST(ThreadPool, ShutdownRunsWhatWasQueued) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool({"t", 1, 100});
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.try_post([&] { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(ThreadPool, ThrowingTaskDoesNotKillTheThread) {
  ThreadPool pool({"t", 1, 4});
  ASSERT_TRUE(pool.try_post([] { throw std::runtime_error("boom"); }));
  std::promise<bool> in_pool;
  ASSERT_TRUE(pool.try_post([&] { in_pool.set_value(pool.in_pool_thread()); }));
  EXPECT_TRUE(in_pool.get_future().get());
  EXPECT_FALSE(pool.in_pool_thread());
}

TEST(SerialExecutor, RunsInOrderOneAtATime) {
  ThreadPool pool({"t", 4, 1024});
  SerialExecutor serial(pool, 10'000, /*batch=*/3);
  std::vector<int> seen;  // no lock: the serial executor is the only writer
  std::atomic<int> concurrent{0};
  std::atomic<int> max_concurrent{0};
  std::promise<void> done;
  constexpr int kN = 2000;
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(serial.try_post([&, i] {
      int c = ++concurrent;
      int m = max_concurrent.load();
      while (c > m && !max_concurrent.compare_exchange_weak(m, c)) {
      }
      EXPECT_TRUE(serial.running_here());
      seen.push_back(i);
      --concurrent;
      if (i == kN - 1) done.set_value();
    }));
  }
  done.get_future().wait();
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) ASSERT_EQ(seen[i], i);
  EXPECT_EQ(max_concurrent.load(), 1);
  EXPECT_FALSE(serial.running_here());
}

TEST(SerialExecutor, BoundedQueue) {
  ThreadPool pool({"t", 1, 16});
  Gate gate;
  std::promise<void> started;
  ASSERT_TRUE(pool.try_post([&] {  // occupy the only pool thread
    started.set_value();
    gate.wait();
  }));
  started.get_future().wait();
  SerialExecutor serial(pool, 2);
  std::atomic<int> ran{0};
  EXPECT_TRUE(serial.try_post([&] { ++ran; }));
  EXPECT_TRUE(serial.try_post([&] { ++ran; }));
  EXPECT_FALSE(serial.try_post([&] { ++ran; }));
  EXPECT_EQ(serial.queued(), 2u);
  gate.open();
  pool.shutdown();
  EXPECT_EQ(ran.load(), 2);
}

TEST(SerialExecutor, TwoSerialsShareAPoolFairly) {
  // A busy serial executor yields after `batch` tasks, so another one's task
  // runs before the busy one's queue is empty.
  ThreadPool pool({"t", 1, 16});
  Gate gate;
  std::promise<void> started;
  ASSERT_TRUE(pool.try_post([&] {
    started.set_value();
    gate.wait();
  }));
  started.get_future().wait();
  SerialExecutor busy(pool, 1000, /*batch=*/4);
  SerialExecutor other(pool, 10);
  std::vector<char> order;  // only pool's one thread writes
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(busy.try_post([&] { order.push_back('b'); }));
  ASSERT_TRUE(other.try_post([&] { order.push_back('o'); }));
  gate.open();
  pool.shutdown();
  ASSERT_EQ(order.size(), 101u);
  auto pos = std::find(order.begin(), order.end(), 'o') - order.begin();
  EXPECT_LE(pos, 8);  // after at most two batches of the busy one
}

TEST(SerialExecutor, AcceptedTasksOutliveTheObject) {
  ThreadPool pool({"t", 1, 16});
  std::atomic<int> ran{0};
  {
    SerialExecutor serial(pool, 10);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(serial.try_post([&] { ++ran; }));
  }
  pool.shutdown();
  EXPECT_EQ(ran.load(), 5);
}

TEST(Deadline, Basics) {
  Deadline none;
  EXPECT_FALSE(none.is_set());
  EXPECT_FALSE(none.passed());
  auto now = Deadline::Clock::now();
  Deadline d(now + std::chrono::milliseconds(100));
  EXPECT_FALSE(d.passed(now));
  EXPECT_EQ(d.remaining(now), std::chrono::milliseconds(100));
  EXPECT_TRUE(d.passed(now + std::chrono::milliseconds(100)));
  EXPECT_EQ(d.remaining(now + std::chrono::seconds(1)), std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace office

namespace office {
namespace {

TEST(SerialExecutor, ContinuationsPassTheBoundAndKeepOrder) {
  ThreadPool pool({"t", 1, 16});
  std::promise<void> started;
  std::promise<void> release;
  auto gate = release.get_future().share();
  ASSERT_TRUE(pool.try_post([&] {
    started.set_value();
    gate.wait();
  }));
  started.get_future().wait();
  SerialExecutor serial(pool, 1);
  std::vector<int> order;
  EXPECT_TRUE(serial.try_post([&] { order.push_back(1); }));
  EXPECT_FALSE(serial.try_post([&] { order.push_back(-1); }));  // the bound holds for new work
  EXPECT_TRUE(serial.post_continuation([&] { order.push_back(2); }));
  EXPECT_TRUE(serial.post_continuation([&] { order.push_back(3); }));
  release.set_value();
  pool.shutdown();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

}  // namespace
}  // namespace office

#include "core/scheduler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <vector>

namespace office {
namespace {

using std::chrono::milliseconds;

TEST(ManualScheduler, RunsDueTimersInTimeOrder) {
  ManualScheduler s;
  std::vector<int> order;
  s.after(milliseconds(30), [&] { order.push_back(3); });
  s.after(milliseconds(10), [&] { order.push_back(1); });
  s.after(milliseconds(20), [&] { order.push_back(2); });
  s.advance(milliseconds(15));
  EXPECT_EQ(order, (std::vector<int>{1}));
  s.advance(milliseconds(15));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(s.pending(), 0u);
}

TEST(ManualScheduler, PeriodicAndCancel) {
  ManualScheduler s;
  int ticks = 0;
  auto id = s.every(milliseconds(100), [&] { ++ticks; });
  s.advance(milliseconds(350));
  EXPECT_EQ(ticks, 3);
  EXPECT_TRUE(s.cancel(id));
  s.advance(milliseconds(1000));
  EXPECT_EQ(ticks, 3);
  auto once = s.after(milliseconds(5), [&] { ticks = -1; });
  EXPECT_TRUE(s.cancel(once));
  EXPECT_FALSE(s.cancel(once));
  s.advance(milliseconds(10));
  EXPECT_EQ(ticks, 3);
}

TEST(ManualScheduler, PeriodicCanCancelItself) {
  ManualScheduler s;
  int ticks = 0;
  Scheduler::TimerId id = 0;
  id = s.every(milliseconds(10), [&] {
    if (++ticks == 2) s.cancel(id);
  });
  s.advance(milliseconds(100));
  EXPECT_EQ(ticks, 2);
  EXPECT_EQ(s.pending(), 0u);
}

TEST(ThreadScheduler, FiresOnItsThread) {
  ThreadScheduler s;
  std::promise<void> fired;
  s.after(milliseconds(1), [&] { fired.set_value(); });
  EXPECT_EQ(fired.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  std::atomic<int> ticks{0};
  std::promise<void> three;
  auto id = s.every(milliseconds(1), [&] {
    if (++ticks == 3) three.set_value();
  });
  EXPECT_EQ(three.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  s.cancel(id);
  bool cancelled_ran = false;
  auto later = s.after(std::chrono::hours(1), [&] { cancelled_ran = true; });
  EXPECT_TRUE(s.cancel(later));
  EXPECT_FALSE(cancelled_ran);
}

}  // namespace
}  // namespace office

#include "identity/login_limiter.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace office::identity {
namespace {

using std::chrono::seconds;

LoginLimits limits() {
  LoginLimits l;
  l.pair_max_failures = 3;
  l.pair_max_backoff_s = 60;
  l.account_max_failures = 6;
  l.account_max_backoff_s = 10;
  l.address_max_failures = 8;
  l.address_max_backoff_s = 300;
  l.failure_window_s = 3600;
  return l;
}

TEST(LoginLimiter, PairBacksOffExponentiallyUpToItsCap) {
  FakeClock clock;
  LoginLimiter l(clock, limits());
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(l.blocked_for("acct", "1.2.3.4"));
    l.record_failure("acct", "1.2.3.4");
  }
  EXPECT_FALSE(l.blocked_for("acct", "1.2.3.4"));  // 3 failures are free
  std::int64_t expected = 1;
  for (int i = 0; i < 10; ++i) {
    l.record_failure("acct", "1.2.3.4");
    auto wait = l.blocked_for("acct", "1.2.3.4");
    ASSERT_TRUE(wait) << i;
    EXPECT_EQ(*wait, std::min<std::int64_t>(expected, 60)) << i;
    clock.advance(seconds(*wait - 1));
    EXPECT_TRUE(l.blocked_for("acct", "1.2.3.4"));  // still, one second before
    clock.advance(seconds(1));
    EXPECT_FALSE(l.blocked_for("acct", "1.2.3.4"));
    expected *= 2;
  }
  // Another address is not held back by this pair (account tier: 13 > 6, but
  // its cap is short and it started counting at the 7th failure).
  clock.advance(seconds(10));
  EXPECT_FALSE(l.blocked_for("acct", "5.6.7.8"));
}

TEST(LoginLimiter, SuccessClearsThePairAndTrustsIt) {
  FakeClock clock;
  LoginLimiter l(clock, limits());
  for (int i = 0; i < 4; ++i) l.record_failure("acct", "10.0.0.1");
  EXPECT_TRUE(l.blocked_for("acct", "10.0.0.1"));
  clock.advance(seconds(1));
  l.record_success("acct", "10.0.0.1");
  EXPECT_FALSE(l.blocked_for("acct", "10.0.0.1"));
  l.record_failure("acct", "10.0.0.1");  // counting starts again from zero
  EXPECT_FALSE(l.blocked_for("acct", "10.0.0.1"));
  // An attacker hammers the account from many addresses: the account tier
  // holds everyone else back for at most its short cap, but not the address
  // the user logged in from before.
  for (int i = 0; i < 50; ++i) l.record_failure("acct", "203.0.113." + std::to_string(i));
  auto stranger = l.blocked_for("acct", "198.51.100.7");
  ASSERT_TRUE(stranger);
  EXPECT_LE(*stranger, 10);
  EXPECT_FALSE(l.blocked_for("acct", "10.0.0.1"));
  clock.advance(seconds(10));
  EXPECT_FALSE(l.blocked_for("acct", "198.51.100.7"));
}

TEST(LoginLimiter, AddressTierCatchesPasswordSpraying) {
  FakeClock clock;
  LoginLimiter l(clock, limits());
  // One guess per account, many accounts, one address.
  for (int i = 0; i < 8; ++i) l.record_failure("user" + std::to_string(i), "192.0.2.9");
  EXPECT_FALSE(l.blocked_for("fresh-account", "192.0.2.9"));
  l.record_failure("user8", "192.0.2.9");
  auto wait = l.blocked_for("fresh-account", "192.0.2.9");
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 1);
  EXPECT_FALSE(l.blocked_for("fresh-account", "192.0.2.10"));  // other addresses are fine
}

TEST(LoginLimiter, CountersAreForgottenAfterTheWindow) {
  FakeClock clock;
  LoginLimiter l(clock, limits());
  for (int i = 0; i < 3; ++i) l.record_failure("acct", "a");
  clock.advance(seconds(3600));
  l.record_failure("acct", "a");  // the old three no longer count
  EXPECT_FALSE(l.blocked_for("acct", "a"));
}

TEST(LoginLimiter, TiersCanBeTurnedOff) {
  FakeClock clock;
  LoginLimits off = limits();
  off.pair_max_failures = off.account_max_failures = off.address_max_failures = 0;
  LoginLimiter l(clock, off);
  for (int i = 0; i < 100; ++i) l.record_failure("acct", "a");
  EXPECT_FALSE(l.blocked_for("acct", "a"));
  EXPECT_EQ(l.size(), 0u);
}

TEST(LoginLimiter, MemoryIsBounded) {
  FakeClock clock;
  LoginLimits small = limits();
  small.max_entries = 30;
  LoginLimiter l(clock, small);
  for (int i = 0; i < 5000; ++i)
    l.record_failure("acct" + std::to_string(i), "addr" + std::to_string(i));
  EXPECT_LE(l.size(), 30u);
  // The most recent keys are the ones kept.
  for (int i = 0; i < 4; ++i) l.record_failure("acct4999", "addr4999");
  EXPECT_TRUE(l.blocked_for("acct4999", "addr4999"));
}

TEST(LoginLimiter, ThreadSafe) {
  FakeClock clock;
  LoginLimits small = limits();
  small.max_entries = 100;
  LoginLimiter l(clock, small);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string acct = "a" + std::to_string((i * 7 + t) % 150);
        (void)l.blocked_for(acct, "x");
        if (i % 3 == 0)
          l.record_success(acct, "x");
        else
          l.record_failure(acct, "x");
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_LE(l.size(), 100u);
}

}  // namespace
}  // namespace office::identity

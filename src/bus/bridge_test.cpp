// The bridge against a scripted consumer: the test decides what each fetch
// returns and in which order nak'd events come back, which a real broker does
// not let a test choose (conformance_test.cpp runs the bridge on both buses).
#include "bus/bridge.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bus/test_bus.hpp"

namespace office::bus {
namespace {

using namespace std::chrono_literals;

class ScriptedConsumer final : public Consumer {
 public:
  explicit ScriptedConsumer(ConsumerOptions o) : opts_(std::move(o)) {}
  const ConsumerOptions& options() const override { return opts_; }

  Result<std::vector<Delivery>> fetch(std::size_t max, std::chrono::milliseconds wait) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [&] { return !ready_.empty(); });
    std::vector<Delivery> out;
    while (!ready_.empty() && out.size() < max) {
      out.push_back(ready_.front());
      ready_.pop_front();
    }
    return out;
  }
  Status ack(const Delivery& d) override { return settle(d, acked_); }
  Status term(const Delivery& d) override { return settle(d, termed_); }
  Status nak(const Delivery& d, std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    nakd_[d.seq] = d;
    cv_.notify_all();
    return {};
  }

  // The test's side.
  void deliver(std::uint64_t seq, const std::string& subject, const std::string& payload) {
    Delivery d;
    d.event =
        std::make_shared<const Event>(make_event("office.test.v1.Thing", "t1", subject, payload));
    d.seq = seq;
    std::lock_guard lock(mu_);
    ready_.push_back(d);
    cv_.notify_all();
  }
  // Delivers the nak'd event `seq` again (once it was nak'd).
  bool redeliver(std::uint64_t seq) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, 5s, [&] { return nakd_.count(seq) != 0; })) return false;
    Delivery d = nakd_[seq];
    nakd_.erase(seq);
    ++d.attempt;
    ready_.push_back(d);
    cv_.notify_all();
    return true;
  }
  bool settled(std::uint64_t seq, std::chrono::milliseconds wait = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, wait,
                        [&] { return acked_.count(seq) != 0 || termed_.count(seq) != 0; });
  }
  bool was_termed(std::uint64_t seq) {
    std::lock_guard lock(mu_);
    return termed_.count(seq) != 0;
  }

 private:
  Status settle(const Delivery& d, std::map<std::uint64_t, int>& into) {
    std::lock_guard lock(mu_);
    ++into[d.seq];
    cv_.notify_all();
    return {};
  }

  ConsumerOptions opts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Delivery> ready_;
  std::map<std::uint64_t, Delivery> nakd_;
  std::map<std::uint64_t, int> acked_, termed_;
};

struct Recorder {
  std::mutex mu;
  std::vector<std::string> handled;  // payloads handled successfully, in order
  std::map<std::string, int> calls;
};

TEST(Bridge, EventsNakdToWaitKeepSubjectOrderWhenTheBrokerReturnsThemOutOfOrder) {
  ConsumerOptions o;
  o.name = "ordered";
  o.max_deliver = 2;
  o.nak_delay = 10ms;
  auto consumer = std::make_shared<ScriptedConsumer>(o);
  testing::FakeBus bus;
  Recorder r;
  Bridge bridge(bus, consumer, [&](const Event& e, const DeliveryInfo&) -> Status {
    std::lock_guard lock(r.mu);
    ++r.calls[e.payload];
    if (e.payload == "poison") return Error::unavailable("downstream is down");
    r.handled.push_back(e.payload);
    return {};
  });
  bridge.start();
  // Both wait behind "poison" (nak'd without a handler call).
  consumer->deliver(1, "a.p", "poison");
  consumer->deliver(2, "a.p", "first");
  consumer->deliver(3, "a.p", "second");
  ASSERT_TRUE(consumer->redeliver(1));  // fails again: dead letter
  ASSERT_TRUE(consumer->settled(1));
  EXPECT_TRUE(consumer->was_termed(1));
  // The broker returns the later event first: it must wait for "first".
  ASSERT_TRUE(consumer->redeliver(3));
  ASSERT_TRUE(consumer->redeliver(3));  // nak'd again without running
  ASSERT_TRUE(consumer->redeliver(2));
  ASSERT_TRUE(consumer->settled(2));
  ASSERT_TRUE(consumer->redeliver(3));
  ASSERT_TRUE(consumer->settled(3));
  bridge.stop();
  std::lock_guard lock(r.mu);
  EXPECT_EQ(r.handled, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(r.calls["second"], 1);
  EXPECT_EQ(r.calls["poison"], 2);
  ASSERT_EQ(bus.letters.size(), 1U);
  EXPECT_EQ(bus.letters[0].reason, kReasonMaxDeliver);
}

TEST(Bridge, AnEventThatNeverComesBackStopsHoldingUpItsSubject) {
  // Its redelivery went to another bridge sharing the consumer: after
  // stale_after (here drop_after / 4 = 100 ms) the later events go on.
  ConsumerOptions o;
  o.name = "shared";
  o.nak_delay = 10ms;
  o.drop_after = 400ms;
  auto consumer = std::make_shared<ScriptedConsumer>(o);
  testing::FakeBus bus;
  Recorder r;
  Bridge bridge(bus, consumer, [&](const Event& e, const DeliveryInfo&) -> Status {
    std::lock_guard lock(r.mu);
    if (++r.calls[e.payload] == 1 && e.payload == "flaky") return Error::unavailable("try later");
    r.handled.push_back(e.payload);
    return {};
  });
  bridge.start();
  consumer->deliver(1, "a.p", "flaky");
  consumer->deliver(2, "a.p", "later");
  ASSERT_TRUE(consumer->redeliver(2));  // still waits for "flaky"
  ASSERT_TRUE(consumer->redeliver(2));
  EXPECT_FALSE(consumer->settled(2, 20ms));
  std::this_thread::sleep_for(250ms);
  ASSERT_TRUE(consumer->redeliver(2));
  ASSERT_TRUE(consumer->settled(2));
  bridge.stop();
  std::lock_guard lock(r.mu);
  EXPECT_EQ(r.handled, (std::vector<std::string>{"later"}));
  EXPECT_EQ(r.calls["later"], 1);
}

}  // namespace
}  // namespace office::bus

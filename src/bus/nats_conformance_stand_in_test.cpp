// Stand-in for conformance_test.cpp until it is merged (CMakeLists.txt
// compiles this file only while conformance_test.cpp does not exist): a few
// cases of the contract in event_bus.hpp, run on every BusConformance
// instantiation (here: Nats, nats_bus_test.cpp). Delete it at the merge.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

#include "bus/conformance.hpp"

namespace office::bus::testing {

std::string BusConformance::scope() const {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "_" + info->name() + "_" +
         std::to_string(counter++);
}

namespace {

using std::chrono::milliseconds;

Event event_on(const std::string& subject, const std::string& payload = "p") {
  return make_event("office.test.v1.Thing", "t1", subject, payload);
}

TEST_P(BusConformance, StandInDeliversInOrderAndAcks) {
  auto bus = open(scope());
  ASSERT_NE(bus, nullptr);
  ConsumerOptions co;
  co.name = "c1";
  co.filter = "docs.>";
  auto consumer = bus->consumer(co);
  ASSERT_TRUE(consumer) << consumer.error().message;
  std::vector<Event> sent;
  for (int i = 0; i < 5; ++i) {
    sent.push_back(event_on("docs.t1.e" + std::to_string(i), std::to_string(i)));
    ASSERT_TRUE(bus->publish(sent.back()));
  }
  ASSERT_TRUE(bus->publish(event_on("chat.t1.x")));  // not for this filter
  std::vector<Delivery> got;
  for (int round = 0; round < 20 && got.size() < 5; ++round) {
    auto batch = (*consumer)->fetch(10, milliseconds(500));
    ASSERT_TRUE(batch) << batch.error().message;
    for (auto& d : *batch) got.push_back(std::move(d));
  }
  ASSERT_EQ(got.size(), 5u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].event, sent[i]);
    EXPECT_EQ(got[i].attempt, 1u);
    if (i > 0) {
      EXPECT_GT(got[i].seq, got[i - 1].seq);
    }
    EXPECT_TRUE((*consumer)->ack(got[i]));
  }
  auto more = (*consumer)->fetch(10, milliseconds(200));
  ASSERT_TRUE(more);
  EXPECT_TRUE(more->empty());
}

TEST_P(BusConformance, StandInNakRedeliversWithTheNextAttempt) {
  auto bus = open(scope());
  ConsumerOptions co;
  co.name = "c1";
  auto consumer = bus->consumer(co);
  ASSERT_TRUE(consumer);
  Event e = event_on("a.b");
  ASSERT_TRUE(bus->publish(e));
  auto first = (*consumer)->fetch(1, milliseconds(1000));
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);
  ASSERT_TRUE((*consumer)->nak(first->front(), milliseconds(0)));
  auto second = (*consumer)->fetch(1, milliseconds(2000));
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ(second->front().event.id, e.id);
  EXPECT_EQ(second->front().attempt, 2u);
  ASSERT_TRUE((*consumer)->term(second->front()));
  auto none = (*consumer)->fetch(1, milliseconds(300));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(BusConformance, StandInAConsumerReattachesAfterReopening) {
  const std::string s = scope();
  Event e = event_on("a.b");
  {
    auto bus = open(s);
    ConsumerOptions co;
    co.name = "durable";
    ASSERT_TRUE(bus->consumer(co));
    ASSERT_TRUE(bus->publish(e));
  }
  auto bus = open(s);
  ConsumerOptions co;
  co.name = "durable";
  auto consumer = bus->consumer(co);
  ASSERT_TRUE(consumer);
  auto got = (*consumer)->fetch(5, milliseconds(1000));
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().event, e);
}

TEST_P(BusConformance, StandInRejectsInvalidInput) {
  auto bus = open(scope());
  Event bad = event_on("a.b");
  bad.id = "nope";
  auto st = bus->publish(bad);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  ConsumerOptions co;
  co.name = "bad name";
  auto c = bus->consumer(co);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bus->dead_letter("0190d5a4-0000-7000-8000-000000000000").error().code,
            ErrorCode::kNotFound);
}

}  // namespace
}  // namespace office::bus::testing

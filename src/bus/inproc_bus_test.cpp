// What only the in-process bus does (the shared semantics are in
// conformance_test.cpp): its memory bound, its ack wait, when it reports an
// event done, and its dead letters in the database.
#include "bus/inproc_bus.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "bus/schema.hpp"
#include "core/ids.hpp"
#include "storage/test_util.hpp"

namespace office::bus {
namespace {

using namespace std::chrono_literals;

Event event_on(const std::string& subject) {
  return make_event("office.test.v1.Thing", "t1", subject, "p");
}

ConsumerOptions opts(const std::string& name) {
  ConsumerOptions o;
  o.name = name;
  return o;
}

TEST(InprocBus, PublishAsyncManyStopsWhereTheBusIsFull) {
  InprocBusOptions o;
  o.max_events = 10;
  auto bus = open_inproc_bus(o);
  auto c = bus->consumer(opts("slow"));
  ASSERT_TRUE(c);
  std::vector<EventBus::Outgoing> batch;
  std::atomic<int> refused_code{-1};
  std::atomic<int> after{0};
  for (int i = 0; i < 15; ++i) {
    batch.push_back(EventBus::Outgoing{event_on("a.b"), [&, i](const Status& st) {
                                         if (i == 10) {
                                           refused_code =
                                               st.ok() ? 0 : static_cast<int>(st.error().code);
                                         } else if (i > 10) {
                                           after.fetch_add(1);
                                         }
                                       }});
  }
  EXPECT_EQ(bus->publish_async_many(batch), 10U);
  EXPECT_EQ(refused_code.load(), static_cast<int>(ErrorCode::kResourceExhausted));
  EXPECT_EQ(after.load(), 0);
  auto got = (*c)->fetch(100, 100ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 10U);
}

TEST(InprocBus, HoldsAtMostMaxEventsAndRefusesOrWaitsBeyond) {
  InprocBusOptions o;
  o.max_events = 10;
  o.publish_timeout = 200ms;
  auto bus = open_inproc_bus(o);
  auto c = bus->consumer(opts("slow"));
  ASSERT_TRUE(c);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(bus->publish(event_on("a.b")));
  std::atomic<int> code{-1};
  bus->publish_async(event_on("a.b"), [&](const Status& st) {
    code = st.ok() ? 0 : static_cast<int>(st.error().code);
  });
  EXPECT_EQ(code.load(), static_cast<int>(ErrorCode::kResourceExhausted)) << "refused at once";
  auto t0 = std::chrono::steady_clock::now();
  auto st = bus->publish(event_on("a.b"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kResourceExhausted);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms) << "publish waited for room";
  // Handling one makes room: a waiting publish goes through.
  std::thread later([&] {
    std::this_thread::sleep_for(50ms);
    auto got = (*c)->fetch(1, 1s);
    ASSERT_TRUE(got && got->size() == 1);
    ASSERT_TRUE((*c)->ack((*got)[0]));
  });
  EXPECT_TRUE(bus->publish(event_on("a.b")));
  later.join();
}

TEST(InprocBus, ReportsAnEventDoneOnlyWhenEveryMatchingConsumerHandledIt) {
  auto bus = open_inproc_bus();
  auto a = bus->consumer(opts("a"));
  auto b = bus->consumer(opts("b"));
  ASSERT_TRUE(a && b);
  std::atomic<int> done{0};
  bus->publish_async(event_on("x.y"), [&](const Status& st) {
    EXPECT_TRUE(st.ok());
    ++done;
  });
  auto da = (*a)->fetch(1, 1s);
  auto db = (*b)->fetch(1, 1s);
  ASSERT_TRUE(da && db && da->size() == 1 && db->size() == 1);
  ASSERT_TRUE((*a)->ack((*da)[0]));
  EXPECT_EQ(done.load(), 0) << "b has not handled it yet";
  ASSERT_TRUE((*b)->term((*db)[0]));
  EXPECT_EQ(done.load(), 1) << "terminated counts as handled (it was dead-lettered)";
  // An event nobody subscribes to is done at once.
  bus->publish_async(event_on("x.y"), [&](const Status&) { ++done; });
  EXPECT_EQ(done.load(), 1);  // a and b both match ">": not done yet
  auto c = bus->consumer([] {
    ConsumerOptions o;
    o.name = "narrow";
    o.filter = "only.this";
    return o;
  }());
  ASSERT_TRUE(c);
  bus->publish_async(event_on("nobody.cares"), [&](const Status&) { ++done; });
  EXPECT_EQ(done.load(), 1);
}

TEST(InprocBus, AnUnacknowledgedDeliveryComesBackAfterTheAckWait) {
  InprocBusOptions o;
  o.ack_wait = 200ms;
  auto bus = open_inproc_bus(o);
  auto c = bus->consumer(opts("forgetful"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(bus->publish(event_on("a.b")));
  auto first = (*c)->fetch(1, 1s);
  ASSERT_TRUE(first && first->size() == 1);
  auto none = (*c)->fetch(1, 100ms);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto again = (*c)->fetch(1, 2s);
  ASSERT_TRUE(again && again->size() == 1);
  EXPECT_EQ((*again)[0].seq, (*first)[0].seq);
  EXPECT_EQ((*again)[0].attempt, 2U);
  auto stats = bus->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ((*stats)[0].redelivered, 1U);
}

TEST(InprocBus, AtMost64DurableConsumers) {
  auto bus = open_inproc_bus();
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(bus->consumer(opts("c" + std::to_string(i))));
  auto one_more = bus->consumer(opts("c64"));
  ASSERT_FALSE(one_more);
  EXPECT_EQ(one_more.error().code, ErrorCode::kResourceExhausted);
  EXPECT_TRUE(bus->consumer(opts("c3"))) << "an existing one is still found";
}

TEST(InprocBus, DeadLettersInTheDatabaseSurviveAReopen) {
  storage::testing::TempDir dir;
  DeadLetter letter;
  letter.id = new_id();
  letter.event = event_on("a.b");
  letter.consumer = "mail";
  letter.reason = std::string(kReasonRejected);
  letter.detail = "no such mailbox";
  letter.deliveries = 1;
  letter.time_ms = 42;
  {
    auto db = storage::testing::open_or_die(dir.file("bus.db"));
    ASSERT_TRUE(db->migrate(migrations()));
    InprocBusOptions o;
    o.dead_letters = db.get();
    auto bus = open_inproc_bus(o);
    ASSERT_TRUE(bus->add_dead_letter(letter));
  }
  auto db = storage::testing::open_or_die(dir.file("bus.db"));
  InprocBusOptions o;
  o.dead_letters = db.get();
  auto bus = open_inproc_bus(o);
  auto back = bus->dead_letter(letter.id);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->event, letter.event);
  EXPECT_EQ(back->detail, "no such mailbox");
  EXPECT_EQ(back->time_ms, 42);
  DeadLetterQuery q;
  q.page_token = "not-a-token";
  EXPECT_EQ(bus->dead_letters(q).error().code, ErrorCode::kInvalidArgument);
  q = {};
  q.consumer = "bad name";
  EXPECT_EQ(bus->dead_letters(q).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace office::bus

// The NATS JetStream bus: the shared conformance suite (on one private
// nats-server per test process, one stream pair per test) and what only
// JetStream has: de-duplication by event id, reconnection, the dead-letter
// stream, messages that are no events, consumers that disagree.
#include "bus/nats_bus.hpp"

#include <gtest/gtest.h>
#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/conformance.hpp"
#include "bus/test_nats.hpp"
#include "core/ids.hpp"

namespace office::bus {
namespace {

using std::chrono::milliseconds;
using testing::NatsServer;
using testing::shared_nats_server;

// Stream and subject names for a scope: one token of [A-Za-z0-9_-].
std::string scope_token(const std::string& scope) {
  std::string s;
  for (char c : scope) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    s += ok ? c : '_';
  }
  if (s.size() > 80) s = s.substr(0, 60) + "_" + std::to_string(std::hash<std::string>{}(s));
  return s;
}

NatsBusOptions scoped_options(const std::string& scope, const std::string& url) {
  const std::string t = scope_token(scope);
  NatsBusOptions o;
  o.url = url;
  o.stream = "EV_" + t;
  o.dead_letter_stream = "DL_" + t;
  o.subject_prefix = "ev." + t;
  o.dead_letter_prefix = "dl." + t;
  return o;
}

std::unique_ptr<EventBus> open_or_fail(const NatsBusOptions& o) {
  auto bus = open_nats_bus(o);
  if (!bus) {
    ADD_FAILURE() << "open_nats_bus: " << bus.error().message;
    return nullptr;
  }
  return std::move(bus).value();
}

testing::BusFactory nats_factory() {
  return {"Nats", [](const std::string& scope) {
            return open_or_fail(scoped_options(scope, shared_nats_server().url()));
          }};
}

}  // namespace

namespace testing {
INSTANTIATE_TEST_SUITE_P(Nats, BusConformance, ::testing::Values(nats_factory()),
                         [](const auto& info) { return info.param.name; });
}  // namespace testing

namespace {

Event event_on(const std::string& subject, const std::string& payload = "payload") {
  return make_event("office.test.v1.Thing", "t1", subject, payload);
}

class NatsBusTest : public ::testing::Test {
 protected:
  std::string scope() const {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string("N_") + info->name();
  }
  NatsBusOptions options(const std::string& url = shared_nats_server().url()) const {
    return scoped_options(scope(), url);
  }
  static std::shared_ptr<Consumer> consumer_or_fail(EventBus& bus, const std::string& name,
                                                    const std::string& filter = ">") {
    ConsumerOptions co;
    co.name = name;
    co.filter = filter;
    auto c = bus.consumer(co);
    EXPECT_TRUE(c) << c.error().message;
    return c ? *c : nullptr;
  }
  // Fetches until n deliveries came or `within` passed; acks them when asked.
  static std::vector<Delivery> drain(Consumer& c, std::size_t n, milliseconds within, bool ack) {
    std::vector<Delivery> got;
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
      auto batch = c.fetch(n - got.size(), milliseconds(200));
      if (!batch) continue;
      for (auto& d : *batch) {
        if (ack) {
          EXPECT_TRUE(c.ack(d));
        }
        got.push_back(std::move(d));
      }
    }
    return got;
  }
};

TEST_F(NatsBusTest, ReportsItsBackend) {
  auto bus = open_or_fail(options());
  ASSERT_NE(bus, nullptr);
  EXPECT_EQ(bus->backend(), "nats");
  EXPECT_TRUE(bus->durable());
}

TEST_F(NatsBusTest, StoresAnEventIdOnceWithinTheDuplicateWindow) {
  auto bus = open_or_fail(options());
  auto c = consumer_or_fail(*bus, "dedup");
  Event e = event_on("docs.t1.created");
  ASSERT_TRUE(bus->publish(e));
  ASSERT_TRUE(bus->publish(e));  // a retry after a lost acknowledgement: ok, stored once
  std::atomic<int> done{0};
  bus->publish_async(e, [&](Status st) {
    EXPECT_TRUE(st);
    ++done;
  });
  Event other = event_on("docs.t1.created");
  ASSERT_TRUE(bus->publish(other));
  auto got = drain(*c, 3, milliseconds(1500), true);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event->id, e.id);
  EXPECT_EQ(got[1].event->id, other.id);
  EXPECT_EQ(done.load(), 1);
}

TEST_F(NatsBusTest, AConsumerThatExistsWithAnotherFilterIsAFailedPrecondition) {
  auto bus = open_or_fail(options());
  ASSERT_NE(consumer_or_fail(*bus, "c", "docs.>"), nullptr);
  ASSERT_NE(consumer_or_fail(*bus, "c", "docs.>"), nullptr);  // same filter: the same consumer
  ConsumerOptions co;
  co.name = "c";
  co.filter = "chat.>";
  auto other = bus->consumer(co);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(other.error().message.find("docs.>"), std::string::npos) << other.error().message;
}

TEST_F(NatsBusTest, OpeningFailsWhenAStreamHasOtherSubjects) {
  NatsBusOptions o = options();
  auto first = open_or_fail(o);
  ASSERT_NE(first, nullptr);
  first.reset();
  o.subject_prefix = "elsewhere";
  auto bus = open_nats_bus(o);
  ASSERT_FALSE(bus);
  EXPECT_EQ(bus.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(NatsBusTest, OpeningFailsQuicklyWithoutAServer) {
  NatsServer server;
  const std::string url = server.url();
  server.kill();
  NatsBusOptions o = options(url);
  o.connect_timeout = milliseconds(500);
  const auto start = std::chrono::steady_clock::now();
  auto bus = open_nats_bus(o);
  ASSERT_FALSE(bus);
  EXPECT_EQ(bus.error().code, ErrorCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(NatsBusTest, APublishWithoutTheServerIsUnavailableAfterTheRequestTimeout) {
  NatsServer server;
  NatsBusOptions o = options(server.url());
  o.request_timeout = milliseconds(500);
  auto bus = open_or_fail(o);
  ASSERT_NE(bus, nullptr);
  server.kill();
  auto st = bus->publish(event_on("a.b"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  auto c = bus->consumer(ConsumerOptions{.name = "c"});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(bus->stats().error().code, ErrorCode::kUnavailable);
}

TEST_F(NatsBusTest, DeliveriesOutliveTheBusAndTheirConsumer) {
  auto bus = open_or_fail(options());
  auto c = consumer_or_fail(*bus, "c");
  ASSERT_TRUE(bus->publish(event_on("a.b")));
  auto got = drain(*c, 1, milliseconds(1500), false);
  ASSERT_EQ(got.size(), 1u);
  bus.reset();
  EXPECT_TRUE(c->ack(got[0]));
  c.reset();
  got.clear();
}

TEST_F(NatsBusTest, StatsCountPendingInFlightRedeliveredAndDeadLettered) {
  auto bus = open_or_fail(options());
  auto c = consumer_or_fail(*bus, "stats", "docs.>");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(bus->publish(event_on("docs.t1.x")));
  auto got = drain(*c, 2, milliseconds(1500), false);  // 2 in flight, 2 pending
  ASSERT_EQ(got.size(), 2u);
  ASSERT_TRUE(c->nak(got[0], milliseconds(0)));
  DeadLetter d;
  d.event = *got[1].event;
  d.consumer = "stats";
  d.reason = std::string(kReasonMaxDeliver);
  ASSERT_TRUE(bus->add_dead_letter(d));
  auto stats = bus->stats();
  ASSERT_TRUE(stats) << stats.error().message;
  ASSERT_EQ(stats->size(), 1u);
  const ConsumerStats& s = stats->front();
  EXPECT_EQ(s.name, "stats");
  EXPECT_EQ(s.filter, "docs.>");
  EXPECT_EQ(s.dead_lettered, 1u);
  EXPECT_EQ(s.pending + s.in_flight, 4u);
  EXPECT_GE(s.in_flight, 1u);
}

DeadLetter letter_for(const std::string& consumer, const std::string& subject) {
  DeadLetter d;
  d.id = new_id();
  d.event = event_on(subject);
  d.consumer = consumer;
  d.reason = std::string(kReasonMaxDeliver);
  d.detail = "handler said no";
  d.deliveries = 5;
  d.time_ms = 1'767'225'600'123;
  return d;
}

TEST_F(NatsBusTest, DeadLettersAreKeptListedFoundRemovedAndPurged) {
  auto bus = open_or_fail(options());
  std::vector<DeadLetter> a, b;
  for (int i = 0; i < 3; ++i) a.push_back(letter_for("a", "docs.t1.a" + std::to_string(i)));
  for (int i = 0; i < 2; ++i) b.push_back(letter_for("b", "chat.t1.b" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(bus->add_dead_letter(a[i]));
    if (i < 2) {
      ASSERT_TRUE(bus->add_dead_letter(b[i]));
    }
  }
  ASSERT_TRUE(bus->add_dead_letter(a[0]));  // a retried add is kept once

  // All, two per page, oldest first: a0 b0 a1 b1 a2.
  std::vector<std::string> ids;
  DeadLetterQuery q;
  q.limit = 2;
  int pages = 0;
  do {
    auto page = bus->dead_letters(q);
    ASSERT_TRUE(page) << page.error().message;
    ++pages;
    for (const auto& d : page->items) ids.push_back(d.id);
    q.page_token = page->next_page_token;
  } while (!q.page_token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(ids, (std::vector<std::string>{a[0].id, b[0].id, a[1].id, b[1].id, a[2].id}));

  auto only_b = bus->dead_letters(DeadLetterQuery{.consumer = "b", .limit = 0});  // clamped to 1
  ASSERT_TRUE(only_b);
  ASSERT_EQ(only_b->items.size(), 1u);
  EXPECT_EQ(only_b->items[0].id, b[0].id);
  EXPECT_FALSE(only_b->next_page_token.empty());
  EXPECT_EQ(bus->dead_letters(DeadLetterQuery{.page_token = "garbage"}).error().code,
            ErrorCode::kInvalidArgument);

  // Found by id, whole, also by a bus that never saw it (another process).
  auto other = open_or_fail(options());
  auto found = other->dead_letter(a[1].id);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->event, a[1].event);
  EXPECT_EQ(found->consumer, "a");
  EXPECT_EQ(found->reason, "max_deliver");
  EXPECT_EQ(found->detail, "handler said no");
  EXPECT_EQ(found->deliveries, 5u);
  EXPECT_EQ(found->time_ms, a[1].time_ms);

  ASSERT_TRUE(other->remove_dead_letter(a[1].id));
  EXPECT_EQ(bus->dead_letter(a[1].id).error().code, ErrorCode::kNotFound);  // bus indexed it
  EXPECT_EQ(other->remove_dead_letter(a[1].id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(bus->dead_letter("not-an-id").error().code, ErrorCode::kNotFound);

  auto purged_b = bus->purge_dead_letters("b");
  ASSERT_TRUE(purged_b) << purged_b.error().message;
  EXPECT_EQ(*purged_b, 2u);
  EXPECT_EQ(bus->dead_letter(b[0].id).error().code, ErrorCode::kNotFound);
  auto purged_all = bus->purge_dead_letters("");
  ASSERT_TRUE(purged_all);
  EXPECT_EQ(*purged_all, 2u);
  auto empty = bus->dead_letters({});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->items.empty());
  EXPECT_TRUE(empty->next_page_token.empty());
}

TEST_F(NatsBusTest, ReplayPublishesTheSameEventIdAgainAndRemovesTheLetter) {
  auto bus = open_or_fail(options());
  auto c = consumer_or_fail(*bus, "r");
  Event e = event_on("docs.t1.replayed");
  ASSERT_TRUE(bus->publish(e));  // within the duplicate window of this id
  auto first = drain(*c, 1, milliseconds(1500), false);
  ASSERT_EQ(first.size(), 1u);
  DeadLetter d = letter_for("r", "x.y");
  d.event = e;
  ASSERT_TRUE(bus->add_dead_letter(d));
  ASSERT_TRUE(c->term(first[0]));

  auto replayed = bus->replay_dead_letter(d.id);
  ASSERT_TRUE(replayed) << replayed.error().message;
  EXPECT_EQ(*replayed, e.id);
  auto again = drain(*c, 1, milliseconds(1500), true);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(*again[0].event, e);
  EXPECT_EQ(bus->dead_letter(d.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(bus->replay_dead_letter(d.id).error().code, ErrorCode::kNotFound);
}

// Publishes raw bytes on a stream subject, as a foreign client could.
void publish_raw(const std::string& url, const std::string& subject, const std::string& body,
                 const std::string& msg_id) {
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, url.c_str()), NATS_OK);
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id.empty() ? nullptr : msg_id.c_str();
  jsPubAck* ack = nullptr;
  EXPECT_EQ(js_Publish(&ack, js, subject.c_str(), body.data(), static_cast<int>(body.size()), &po,
                       nullptr),
            NATS_OK);
  jsPubAck_Destroy(ack);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

TEST_F(NatsBusTest, AMessageThatIsNoEventBecomesARejectedDeadLetter) {
  NatsBusOptions o = options();
  auto bus = open_or_fail(o);
  auto c = consumer_or_fail(*bus, "picky");
  const std::string raw_id = new_id();
  publish_raw(o.url, o.subject_prefix + ".docs.t1.bad", std::string("\xff\x01garbage", 9), raw_id);
  publish_raw(o.url, o.subject_prefix + ".docs.t1.worse", "", "");
  Event misplaced = event_on("docs.t1.here");  // an envelope on another subject than its own
  publish_raw(o.url, o.subject_prefix + ".docs.t1.there", encode_event(misplaced), misplaced.id);
  Event good = event_on("docs.t1.good");
  ASSERT_TRUE(bus->publish(good));

  auto got = drain(*c, 1, milliseconds(2000), true);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(*got[0].event, good);
  auto more = c->fetch(10, milliseconds(300));  // the bad ones were terminated, not redelivered
  ASSERT_TRUE(more);
  EXPECT_TRUE(more->empty());

  auto page = bus->dead_letters(DeadLetterQuery{.consumer = "picky"});
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->items.size(), 3u);
  const DeadLetter& d = page->items[0];
  EXPECT_EQ(d.reason, "rejected");
  EXPECT_EQ(d.consumer, "picky");
  EXPECT_EQ(d.event.id, raw_id);
  EXPECT_EQ(d.event.type, "office.events.v1.Envelope");
  EXPECT_EQ(d.event.subject, "docs.t1.bad");
  EXPECT_EQ(d.event.payload, std::string("\xff\x01garbage", 9));
  EXPECT_EQ(d.deliveries, 1u);
  EXPECT_FALSE(d.detail.empty());
  EXPECT_EQ(page->items[1].event.subject, "docs.t1.worse");
  EXPECT_TRUE(page->items[1].event.payload.empty());
  EXPECT_EQ(page->items[2].event.id, misplaced.id);
  EXPECT_EQ(page->items[2].event.subject, "docs.t1.there");
  EXPECT_EQ(page->items[2].event.payload, encode_event(misplaced));
  auto stats = bus->stats();
  ASSERT_TRUE(stats);
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ(stats->front().dead_lettered, 3u);
}

TEST_F(NatsBusTest, AHandleFromElsewhereIsRefused) {
  auto bus = open_or_fail(options());
  auto c = consumer_or_fail(*bus, "c");
  Delivery fake;
  fake.handle = std::make_shared<int>(1);
  EXPECT_EQ(c->ack(fake).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(c->nak(Delivery{}, milliseconds(1)).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace office::bus

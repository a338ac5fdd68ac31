// The NATS bus under faults: nats-server restarted (gracefully and killed)
// while events are published and consumed, publishes with no broker to take
// them, and the order of one thread's publishes.
#include <gtest/gtest.h>
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/nats_bus.hpp"
#include "bus/test_nats.hpp"

namespace office::bus {
namespace {

using std::chrono::milliseconds;
using testing::NatsServer;

NatsBusOptions options_for(const NatsServer& server, const std::string& name) {
  NatsBusOptions o;
  o.url = server.url();
  o.stream = "EV_" + name;
  o.dead_letter_stream = "DL_" + name;
  o.subject_prefix = "ev." + name;
  o.dead_letter_prefix = "dl." + name;
  return o;
}

// Messages stored in a stream, asked with a client of its own.
std::uint64_t stream_messages(const std::string& url, const std::string& stream) {
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return 0;
  jsCtx* js = nullptr;
  jsStreamInfo* si = nullptr;
  std::uint64_t n = 0;
  if (natsConnection_JetStream(&js, nc, nullptr) == NATS_OK &&
      js_GetStreamInfo(&si, js, stream.c_str(), nullptr, nullptr) == NATS_OK) {
    n = si->State.Msgs;
  }
  jsStreamInfo_Destroy(si);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return n;
}

enum class Restart { kGraceful, kKill };

// Publishes kEvents (retrying each failed publish with the same event, as
// the outbox relay does) while a consumer fetches and acknowledges, and
// restarts nats-server twice in between. Every acknowledged event must be
// consumed, the stream must hold each once, and a duplicate delivery can
// only be a redelivery of the same event.
void publish_and_consume_across_restarts(Restart how, const std::string& name) {
  constexpr int kEvents = 3000;
  NatsServer server;
  NatsBusOptions o = options_for(server, name);
  o.request_timeout = milliseconds(2000);
  o.reconnect_wait = milliseconds(100);
  auto opened = open_nats_bus(o);
  ASSERT_TRUE(opened) << opened.error().message;
  auto bus = std::move(opened).value();
  ConsumerOptions co;
  co.name = "survivor";
  co.drop_after = milliseconds(1000);  // AckWait 11 s: lost deliveries come back by then
  auto consumer = bus->consumer(co);
  ASSERT_TRUE(consumer) << consumer.error().message;

  std::mutex mu;
  std::set<std::string> published;
  std::map<std::string, std::vector<std::uint32_t>> attempts;  // by event id
  std::atomic<int> published_count{0};
  std::atomic<int> publish_failures{0};
  std::atomic<bool> publishing_done{false};

  std::thread publisher([&] {
    for (int i = 0; i < kEvents; ++i) {
      Event e = make_event("office.test.v1.Thing", "t1", "docs.t1.e" + std::to_string(i % 7),
                           std::string(200, 'x'));
      while (true) {
        Status st = bus->publish(e);
        if (st) break;
        ++publish_failures;
        std::this_thread::sleep_for(milliseconds(20));
      }
      {
        std::lock_guard lock(mu);
        published.insert(e.id);
      }
      ++published_count;
    }
    publishing_done = true;
  });

  std::thread consumer_thread([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      if (publishing_done) {
        std::lock_guard lock(mu);
        if (attempts.size() >= published.size()) {
          bool all = true;
          for (const auto& id : published) all = all && attempts.count(id) > 0;
          if (all) return;
        }
      }
      auto batch = (*consumer)->fetch(200, milliseconds(200));
      if (!batch) {
        std::this_thread::sleep_for(milliseconds(50));
        continue;
      }
      for (auto& d : *batch) {
        {
          std::lock_guard lock(mu);
          attempts[d.event->id].push_back(d.attempt);
        }
        (void)(*consumer)->ack(d);  // a lost ack only means a redelivery
      }
    }
  });

  auto wait_for = [&](int n) {
    while (published_count < n && !publishing_done) std::this_thread::sleep_for(milliseconds(5));
  };
  for (int at : {kEvents / 3, 2 * kEvents / 3}) {
    wait_for(at);
    if (how == Restart::kGraceful) {
      server.restart();
    } else {
      server.kill();
      server.start();
    }
  }
  publisher.join();
  consumer_thread.join();

  std::lock_guard lock(mu);
  ASSERT_EQ(published.size(), static_cast<std::size_t>(kEvents));
  std::size_t lost = 0, foreign = 0, redeliveries = 0, first_twice = 0;
  for (const auto& id : published) lost += attempts.count(id) == 0;
  for (const auto& [id, list] : attempts) {
    foreign += published.count(id) == 0;
    redeliveries += list.size() - 1;
    first_twice += std::count(list.begin(), list.end(), 1u) > 1;
  }
  EXPECT_EQ(lost, 0u) << "acknowledged events never consumed";
  EXPECT_EQ(foreign, 0u);
  EXPECT_EQ(stream_messages(o.url, o.stream), static_cast<std::uint64_t>(kEvents))
      << "an event stored twice (de-duplication by event id failed)";
  if (how == Restart::kGraceful) {
    // The broker kept its consumer state: a second delivery is a redelivery.
    EXPECT_EQ(first_twice, 0u);
  }
  std::printf("restarts (%s): %d failed publishes retried, %zu redeliveries\n",
              how == Restart::kGraceful ? "graceful" : "killed", publish_failures.load(),
              redeliveries);
}

TEST(NatsFaults, RestartingTheServerLosesNoAcknowledgedEvent) {
  publish_and_consume_across_restarts(Restart::kGraceful, "restart");
}

TEST(NatsFaults, KillingTheServerLosesNoAcknowledgedEvent) {
  publish_and_consume_across_restarts(Restart::kKill, "kill");
}

TEST(NatsFaults, PublishesBeyondTheBoundAreRefusedAndEveryDoneRunsOnce) {
  NatsServer server;
  NatsBusOptions o = options_for(server, "bound");
  o.max_outstanding_publishes = 4;
  o.publish_stall = milliseconds(0);
  o.request_timeout = milliseconds(300);
  auto bus = open_nats_bus(o);
  ASSERT_TRUE(bus) << bus.error().message;
  server.kill();  // nothing acknowledges now
  std::mutex mu;
  std::condition_variable cv;
  std::map<ErrorCode, int> codes;
  int done = 0;
  constexpr int kPublishes = 10;
  for (int i = 0; i < kPublishes; ++i) {
    (*bus)->publish_async(make_event("office.test.v1.Thing", "t1", "a.b", "x"), [&](Status st) {
      std::lock_guard lock(mu);
      ++codes[st ? ErrorCode::kInternal : st.error().code];  // kInternal: an unexpected success
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done == kPublishes; }));
  EXPECT_EQ(codes[ErrorCode::kUnavailable], 4);  // sent (buffered), never acknowledged
  EXPECT_EQ(codes[ErrorCode::kResourceExhausted], kPublishes - 4);
  lock.unlock();
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(done, kPublishes);
}

TEST(NatsFaults, OneThreadsAsyncPublishesAreStoredInItsOrder) {
  NatsServer server;
  auto bus = open_nats_bus(options_for(server, "order"));
  ASSERT_TRUE(bus) << bus.error().message;
  ConsumerOptions co;
  co.name = "ordered";
  auto consumer = (*bus)->consumer(co);
  ASSERT_TRUE(consumer);
  constexpr int kEvents = 2000;
  std::vector<std::string> ids;
  std::atomic<int> ok{0};
  std::atomic<int> settled{0};
  for (int i = 0; i < kEvents; ++i) {
    Event e = make_event("office.test.v1.Thing", "t1", "docs.t" + std::to_string(i % 3) + ".x",
                         std::to_string(i));
    ids.push_back(e.id);
    (*bus)->publish_async(std::move(e), [&](Status st) {
      ok += st.ok();
      ++settled;
    });
  }
  while (settled < kEvents) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_EQ(ok.load(), kEvents);
  std::vector<std::string> got;
  while (got.size() < ids.size()) {
    auto batch = (*consumer)->fetch(500, milliseconds(1000));
    ASSERT_TRUE(batch);
    if (batch->empty()) break;
    for (auto& d : *batch) {
      got.push_back(d.event->id);
      ASSERT_TRUE((*consumer)->ack(d));
    }
  }
  EXPECT_EQ(got, ids);
}

}  // namespace
}  // namespace office::bus

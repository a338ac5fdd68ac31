#include "bus/outbox.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/inbox.hpp"
#include "bus/inproc_bus.hpp"
#include "bus/schema.hpp"
#include "bus/test_nats.hpp"
#include "core/ids.hpp"
#include "storage/test_util.hpp"

namespace office::bus {
namespace {

using namespace std::chrono_literals;
using storage::Tx;

std::unique_ptr<storage::Database> open_db(const storage::testing::TempDir& dir) {
  auto db = storage::testing::open_or_die(dir.file("bus.db"));
  EXPECT_TRUE(db->migrate(migrations()));
  return db;
}

Event event(int i) {
  return make_event("office.test.v1.Made", "t1", "made.t1.x" + std::to_string(i % 3),
                    std::to_string(i));
}

std::int64_t count(storage::Database& db, const std::string& table) {
  std::int64_t n = -1;
  EXPECT_TRUE(db.read([&](Tx& tx) -> Status {
    auto r = tx.query_one("SELECT COUNT(*) FROM " + table);
    if (!r) return r.error();
    n = (*r)->i64(0);
    return {};
  }));
  return n;
}

// Reads deliveries and acknowledges them until `n` distinct events arrived.
std::vector<Event> consume(Consumer& c, std::size_t n) {
  std::vector<Event> out;
  std::set<std::string> ids;
  auto until = std::chrono::steady_clock::now() + 20s;
  while (ids.size() < n && std::chrono::steady_clock::now() < until) {
    auto got = c.fetch(100, 100ms);
    if (!got) break;
    for (auto& d : *got) {
      if (ids.insert(d.event->id).second) out.push_back(*d.event);
      EXPECT_TRUE(c.ack(d));
    }
  }
  return out;
}

TEST(Outbox, RelayPublishesCommittedEventsInOrderAndMarksThemSent) {
  storage::testing::TempDir dir;
  auto db = open_db(dir);
  auto bus = open_inproc_bus();
  ConsumerOptions co;
  co.name = "reader";
  auto c = bus->consumer(co);
  ASSERT_TRUE(c);
  std::vector<std::string> published;
  for (int i = 0; i < 300; ++i) {
    Event e = event(i);
    published.push_back(e.id);
    ASSERT_TRUE(db->write([&](Tx& tx) { return append_outbox(tx, e); }));
  }
  // A rolled-back change publishes nothing.
  auto rolled = db->write([&](Tx& tx) -> Status {
    if (auto st = append_outbox(tx, event(999)); !st) return st;
    return Error::invalid("the domain change failed");
  });
  ASSERT_FALSE(rolled);
  EXPECT_EQ(*outbox_pending(*db), 300U);
  OutboxRelay relay(*db, *bus);
  relay.start();
  auto got = consume(**c, 300);
  ASSERT_EQ(got.size(), 300U);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].id, published[i]) << i;
  auto none = (*c)->fetch(10, 300ms);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty()) << "the rolled-back event was never published";
  for (int i = 0; i < 200 && count(*db, "bus_outbox") != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(count(*db, "bus_outbox"), 0) << "rows are marked sent (deleted)";
  relay.stop();
  EXPECT_EQ(relay.stats().marked, 300U);
}

TEST(Outbox, BadEventsAreRefusedInTheTransaction) {
  storage::testing::TempDir dir;
  auto db = open_db(dir);
  Event e = event(1);
  e.subject = "bad subject";
  auto st = db->write([&](Tx& tx) { return append_outbox(tx, e); });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(count(*db, "bus_outbox"), 0);
}

// A bus whose first publishes fail: the relay starts again from the first
// unconfirmed row and nothing is lost.
class FlakyBus final : public EventBus {
 public:
  explicit FlakyBus(int failures) : inner_(open_inproc_bus()), failures_(failures) {}
  std::string_view backend() const override { return inner_->backend(); }
  bool durable() const override { return inner_->durable(); }
  Status publish(const Event& e) override { return inner_->publish(e); }
  void publish_async(Event e, std::function<void(Status)> done) override {
    if (failures_.fetch_sub(1) > 0) {
      done(Error::unavailable("broker down"));
      return;
    }
    inner_->publish_async(std::move(e), std::move(done));
  }
  std::size_t publish_async_many(std::span<Outgoing> batch) override {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (failures_.fetch_sub(1) > 0) {  // refused at once: nothing after it
        batch[i].done(Error::unavailable("broker down"));
        return i;
      }
      failures_.fetch_add(1);
      if (inner_->publish_async_many(batch.subspan(i, 1)) == 0) return i;
    }
    return batch.size();
  }
  Result<std::shared_ptr<Consumer>> consumer(const ConsumerOptions& o) override {
    return inner_->consumer(o);
  }
  Result<std::vector<ConsumerStats>> stats() override { return inner_->stats(); }
  Status add_dead_letter(const DeadLetter& d) override { return inner_->add_dead_letter(d); }
  Result<DeadLetterPage> dead_letters(const DeadLetterQuery& q) override {
    return inner_->dead_letters(q);
  }
  Result<DeadLetter> dead_letter(std::string_view id) override { return inner_->dead_letter(id); }
  Status remove_dead_letter(std::string_view id) override { return inner_->remove_dead_letter(id); }
  Result<std::uint64_t> purge_dead_letters(std::string_view c) override {
    return inner_->purge_dead_letters(c);
  }
  Result<std::string> replay_dead_letter(std::string_view id) override {
    return inner_->replay_dead_letter(id);
  }

 private:
  std::unique_ptr<EventBus> inner_;
  std::atomic<int> failures_;
};

TEST(Outbox, AFailedPublishIsRetriedFromTheFirstUnconfirmedRow) {
  storage::testing::TempDir dir;
  auto db = open_db(dir);
  FlakyBus bus(3);
  ConsumerOptions co;
  co.name = "reader";
  auto c = bus.consumer(co);
  ASSERT_TRUE(c);
  std::vector<std::string> published;
  for (int i = 0; i < 50; ++i) {
    Event e = event(i);
    published.push_back(e.id);
    ASSERT_TRUE(db->write([&](Tx& tx) { return append_outbox(tx, e); }));
  }
  RelayOptions ro;
  ro.retry = 20ms;
  OutboxRelay relay(*db, bus, ro);
  relay.start();
  auto got = consume(**c, 50);
  ASSERT_EQ(got.size(), 50U);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].id, published[i]) << i;
  for (int i = 0; i < 200 && count(*db, "bus_outbox") != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(count(*db, "bus_outbox"), 0);
  relay.stop();
  EXPECT_GE(relay.stats().failures, 1U);
}

TEST(Inbox, ClaimsAnEventOncePerConsumer) {
  storage::testing::TempDir dir;
  auto db = open_db(dir);
  auto claim = [&](const std::string& consumer, const std::string& id) {
    bool first = false;
    EXPECT_TRUE(db->write([&](Tx& tx) -> Status {
      auto r = inbox_claim(tx, consumer, id, 1000);
      if (!r) return r.error();
      first = *r;
      return {};
    }));
    return first;
  };
  std::string id = new_id();
  EXPECT_TRUE(claim("mail", id));
  EXPECT_FALSE(claim("mail", id));
  EXPECT_TRUE(claim("push", id)) << "each consumer has its own inbox";
  // A claim rolled back with its effect is no claim.
  ASSERT_FALSE(db->write([&](Tx& tx) -> Status {
    auto r = inbox_claim(tx, "sms", id, 1000);
    if (!r) return r.error();
    return Error::internal("the effect failed");
  }));
  EXPECT_TRUE(claim("sms", id));
  auto pruned = inbox_prune(*db, 1001);
  ASSERT_TRUE(pruned);
  EXPECT_EQ(*pruned, 3U);
}

// Runs the crash worker in `dir` until a round completes: the first rounds
// SIGKILL themselves at random (2% per relay stage) until five died. Returns
// the kills and rounds.
std::pair<int, int> crash_rounds(const std::string& dir, int total, const std::string& nats) {
  int kills = 0;
  int rounds = 0;
  bool completed = false;
  while (!completed && rounds < 60) {
    ++rounds;
    int percent = kills < 5 ? 2 : 0;
    pid_t pid = fork();
    EXPECT_GE(pid, 0);
    if (pid < 0) break;
    if (pid == 0) {
      std::string t = std::to_string(total);
      std::string pct = std::to_string(percent);
      std::string seed = std::to_string(rounds * 7919);
      if (nats.empty()) {
        execl(BUS_CRASH_WORKER, BUS_CRASH_WORKER, dir.c_str(), "--total", t.c_str(),
              "--kill-percent", pct.c_str(), "--seed", seed.c_str(), static_cast<char*>(nullptr));
      } else {
        execl(BUS_CRASH_WORKER, BUS_CRASH_WORKER, dir.c_str(), "--total", t.c_str(),
              "--kill-percent", pct.c_str(), "--seed", seed.c_str(), "--nats", nats.c_str(),
              static_cast<char*>(nullptr));
      }
      _exit(127);
    }
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
      EXPECT_EQ(WTERMSIG(status), SIGKILL);
      ++kills;
    } else {
      EXPECT_TRUE(WIFEXITED(status));
      EXPECT_EQ(WEXITSTATUS(status), 0) << "the worker failed";
      completed = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!completed) break;
    }
  }
  EXPECT_TRUE(completed);
  return {kills, rounds};
}

// Afterwards every event was handled and its effect happened exactly once.
void expect_exactly_once(const std::string& db_path, int total) {
  auto db = storage::testing::open_or_die(db_path);
  EXPECT_EQ(count(*db, "domain"), total);
  EXPECT_EQ(count(*db, "effects"), total) << "every event's effect happened";
  std::int64_t not_once = -1;
  ASSERT_TRUE(db->read([&](Tx& tx) -> Status {
    auto r = tx.query_one(
        "SELECT COUNT(*) FROM effects e JOIN domain d ON d.event_id = e.event_id WHERE e.times = "
        "1");
    if (!r) return r.error();
    not_once = total - (*r)->i64(0);
    return {};
  }));
  EXPECT_EQ(not_once, 0) << "an effect happened more than once, or for an unknown event";
  EXPECT_EQ(count(*db, "bus_outbox"), 0);
}

// SIGKILL between the commit and the publish, and between the publish and
// the mark, at random, several rounds (the in-process bus: the event lives
// only in memory, the outbox row is what survives).
TEST(Outbox, CrashesBetweenCommitPublishAndMarkLoseNothingAndDuplicateNothing) {
  storage::testing::TempDir dir;
  constexpr int kTotal = 1500;
  auto [kills, rounds] = crash_rounds(dir.path().string(), kTotal, "");
  EXPECT_GE(kills, 5);
  expect_exactly_once(dir.file("crash.db"), kTotal);
  auto db = storage::testing::open_or_die(dir.file("crash.db"));
  EXPECT_EQ(count(*db, "bus_dead_letters"), 0);
  std::cout << "[ crash    ] in-process: " << kills << " SIGKILLs in " << rounds << " rounds\n";
}

// The same on NATS JetStream: the broker outlives the kills.
TEST(Outbox, CrashesOnJetStreamLoseNothingAndDuplicateNothing) {
  storage::testing::TempDir dir;
  testing::NatsServer server;
  constexpr int kTotal = 1000;
  auto [kills, rounds] = crash_rounds(dir.path().string(), kTotal, server.url());
  EXPECT_GE(kills, 5);
  expect_exactly_once(dir.file("crash.db"), kTotal);
  std::cout << "[ crash    ] JetStream: " << kills << " SIGKILLs in " << rounds << " rounds\n";
}

}  // namespace
}  // namespace office::bus

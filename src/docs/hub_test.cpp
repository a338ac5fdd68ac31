#include "docs/hub.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <future>
#include <map>
#include <mutex>
#include <random>
#include <span>
#include <thread>

#include "core/clock.hpp"
#include "docs/oplog_store.hpp"
#include "docs/schema.hpp"
#include "docs/test_access.hpp"
#include "ot/document.hpp"
#include "ot/utf8.hpp"
#include "storage/test_util.hpp"

namespace office::docs {
namespace {

using docs::testing::FakeAccess;
using storage::testing::Backend;
using storage::testing::BackendParamName;
using storage::testing::TestDb;
using namespace std::chrono_literals;

constexpr const char* kTenant = "t1";

// What a connection registers: records everything it hears.
class Recorder final : public DocListener {
 public:
  explicit Recorder(std::string id) : id_(std::move(id)) {}
  void on_op(const CommittedOpPtr& op) override {
    std::lock_guard lock(mu_);
    ops_.push_back(op);
    cv_.notify_all();
  }
  void on_presence(std::string_view id, std::string_view value, std::int64_t version,
                   std::string_view src) override {
    EXPECT_FALSE(src.empty());
    std::lock_guard lock(mu_);
    presence_.emplace_back(std::string(id), std::string(value));
    cv_.notify_all();
  }
  void on_ended(const Ended& why) override {
    std::lock_guard lock(mu_);
    ended_ = why.error;
    cv_.notify_all();
  }
  std::string_view client_id() const override { return id_; }

  std::vector<CommittedOpPtr> ops() {
    std::lock_guard lock(mu_);
    return ops_;
  }
  bool wait_ops(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return ops_.size() >= n; });
  }
  std::optional<Error> wait_ended() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 5s, [&] { return ended_.has_value(); });
    return ended_;
  }
  std::vector<std::pair<std::string, std::string>> wait_presence(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 5s, [&] { return presence_.size() >= n; });
    return presence_;
  }

 private:
  std::string id_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CommittedOpPtr> ops_;
  std::vector<std::pair<std::string, std::string>> presence_;
  std::optional<Error> ended_;
};

// What one connection sees, in order: others' ops (one at a time or as a
// batch) and the acknowledgements of its own.
class SeqRecorder final : public DocListener {
 public:
  struct Event {
    std::int64_t version;
    bool ack;
    std::string src;
  };
  explicit SeqRecorder(std::string id) : id_(std::move(id)) {}
  void on_op(const CommittedOpPtr& op) override { add({op->version, false, op->src}); }
  void on_ops(std::span<const CommittedOpPtr> ops) override {
    {
      std::lock_guard lock(mu_);
      largest_batch_ = std::max(largest_batch_, ops.size());
    }
    for (const auto& op : ops) add({op->version, false, op->src});
  }
  void ack(std::int64_t version) { add({version, true, id_}); }
  void on_ended(const Ended&) override {}
  std::string_view client_id() const override { return id_; }
  std::vector<Event> wait_events(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 10s, [&] { return events_.size() >= n; });
    return events_;
  }
  std::size_t largest_batch() {
    std::lock_guard lock(mu_);
    return largest_batch_;
  }

 private:
  void add(Event e) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }
  std::string id_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  std::size_t largest_batch_ = 0;
};

template <class T, class F>
Result<T> call(F&& f) {
  std::promise<Result<T>> p;
  auto fut = p.get_future();
  f([&p](Result<T> r) { p.set_value(std::move(r)); });
  if (fut.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "callback never came";
    return Error::internal("timeout");
  }
  return fut.get();
}

Principal user(const std::string& id, const std::string& tenant = kTenant) {
  Principal p;
  p.tenant_id = tenant;
  p.user_id = id;
  p.role = "member";
  return p;
}

class HubTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    test_db_ = std::make_unique<TestDb>(GetParam());
    db_ = &test_db_->db();
    auto migrated = db_->migrate(migrations());
    ASSERT_TRUE(migrated.ok()) << migrated.error().message;
    access_ = std::make_unique<FakeAccess>(*db_);
    pool_ = std::make_unique<ThreadPool>(ThreadPoolOptions{"docs", 2, 1024});
    start();
  }
  void TearDown() override { stop(); }
  void start(HubOptions o = {}) {
    o.milestone_every = milestone_every_;
    o.recent_ops = recent_ops_;
    hub_ = std::make_unique<Hub>(*db_, *access_, *pool_, clock_, scheduler_, o);
  }
  void stop() {
    if (hub_) hub_->shutdown();
    pool_->shutdown();
    hub_.reset();
  }
  void restart() {
    stop();
    pool_ = std::make_unique<ThreadPool>(ThreadPoolOptions{"docs", 2, 1024});
    start();
  }

  Result<SyncService::Submitted> submit(const Principal& p, const std::string& doc, std::int64_t v,
                                        ot::Op op, const std::string& src = "",
                                        std::int64_t seq = 0) {
    SyncService::Submit s;
    s.doc_id = doc;
    s.base_version = v;
    s.src = src;
    s.seq = seq;
    s.op = std::move(op);
    return call<SyncService::Submitted>([&](auto cb) { hub_->submit(p, std::move(s), cb); });
  }
  Result<SyncService::Submitted> create(const Principal& p, const std::string& doc,
                                        const std::string& text = "") {
    SyncService::Submit s;
    s.doc_id = doc;
    s.kind = CommittedOp::Kind::kCreate;
    s.create_text = text;
    s.src = "creator";
    s.seq = 1;
    return call<SyncService::Submitted>([&](auto cb) { hub_->submit(p, std::move(s), cb); });
  }
  Result<Snapshot> fetch(const Principal& p, const std::string& doc) {
    return call<Snapshot>([&](auto cb) { hub_->fetch(p, doc, cb); });
  }
  Result<SyncService::Subscribed> subscribe(const Principal& p, const std::string& doc,
                                            const std::shared_ptr<DocListener>& l,
                                            std::optional<std::int64_t> from = std::nullopt) {
    return call<SyncService::Subscribed>([&](auto cb) { hub_->subscribe(p, doc, from, l, cb); });
  }
  std::int64_t count(const std::string& sql) {
    std::int64_t n = -1;
    EXPECT_TRUE(db_->read([&](storage::Tx& tx) -> Status {
                     auto r = tx.query_one(sql);
                     if (!r) return r.error();
                     n = (*r)->i64(0);
                     return {};
                   })
                    .ok());
    return n;
  }

  std::int64_t milestone_every_ = 500;
  std::size_t recent_ops_ = 1000;
  FakeClock clock_;
  ManualScheduler scheduler_;
  std::unique_ptr<TestDb> test_db_;
  storage::Database* db_ = nullptr;
  std::unique_ptr<FakeAccess> access_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Hub> hub_;
  Principal alice_ = user("alice");
  Principal bob_ = user("bob");
};

INSTANTIATE_TEST_SUITE_P(Backends, HubTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         BackendParamName);

TEST_P(HubTest, ANewIdIsEmptyUntilCreated) {
  auto s = fetch(alice_, "doc1");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_FALSE(s->exists);
  EXPECT_EQ(s->version, 0);
  auto c = create(alice_, "doc1", "hi");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->version, 0);
  s = fetch(alice_, "doc1");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->exists);
  EXPECT_EQ(s->version, 1);
  EXPECT_EQ(s->text, "hi");
  auto again = create(alice_, "doc1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(count("SELECT version FROM documents WHERE id = 'doc1'"), 1);
}

TEST_P(HubTest, BadIdsAreRefused) {
  auto s = fetch(alice_, "no/slashes");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  s = fetch(alice_, std::string(200, 'a'));
  ASSERT_FALSE(s.ok());
}

TEST_P(HubTest, AnOpIsAcknowledgedDurableAndBroadcastToOthers) {
  ASSERT_TRUE(create(alice_, "d").ok());
  access_->grant("bob", Role::kEditor);
  auto la = std::make_shared<Recorder>("ca");
  auto lb = std::make_shared<Recorder>("cb");
  ASSERT_TRUE(subscribe(alice_, "d", la).ok());
  auto sb = subscribe(bob_, "d", lb);
  ASSERT_TRUE(sb.ok());
  ASSERT_TRUE(sb->snapshot.has_value());
  EXPECT_EQ(sb->snapshot->version, 1);

  auto r = submit(alice_, "d", 1, ot::make_insert(0, "hello"), "ca", 1);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->version, 1);
  EXPECT_FALSE(r->duplicate);
  // Durable before the acknowledgement: the log has it.
  EXPECT_EQ(count("SELECT COUNT(*) FROM doc_ops WHERE doc_id = 'd'"), 2);
  // The catalogue row moves once a second, for every document edited since,
  // in one write of its own (Hub::flush_catalogue); not in the op's commit.
  auto row_version = [&] { return count("SELECT version FROM documents WHERE id = 'd'"); };
  auto wait_row = [&](std::int64_t v) {  // the flush is a write of its own (a bound against a hang)
    for (int i = 0; i < 500 && row_version() != v; ++i) std::this_thread::sleep_for(10ms);
    return row_version();
  };
  EXPECT_EQ(row_version(), 1);
  ASSERT_TRUE(submit(alice_, "d", 2, ot::make_insert(5, "!"), "ca", 2).ok());
  EXPECT_EQ(row_version(), 1);
  scheduler_.advance(std::chrono::milliseconds(999));
  EXPECT_EQ(row_version(), 1);
  scheduler_.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(wait_row(3), 3);
  EXPECT_EQ(count("SELECT size FROM documents WHERE id = 'd'"), 6);
  // The last keystroke too, while the document is still open and subscribed.
  ASSERT_TRUE(submit(alice_, "d", 3, ot::make_insert(6, "?"), "ca", 3).ok());
  EXPECT_EQ(row_version(), 3);
  scheduler_.advance(std::chrono::milliseconds(1000));
  EXPECT_EQ(wait_row(4), 4);
  EXPECT_EQ(count("SELECT size FROM documents WHERE id = 'd'"), 7);
  ASSERT_TRUE(lb->wait_ops(2));
  EXPECT_EQ(lb->ops()[0]->version, 1);
  EXPECT_EQ(lb->ops()[0]->src, "ca");
  EXPECT_EQ(lb->ops()[0]->sharedb_fields(), R"("op":["hello"])");
  EXPECT_TRUE(la->ops().empty());  // its own op comes back as the acknowledgement only
  // And at shutdown, without waiting for the next second.
  ASSERT_TRUE(submit(alice_, "d", 4, ot::make_insert(0, "#"), "ca", 4).ok());
  EXPECT_EQ(row_version(), 4);
  stop();
  EXPECT_EQ(wait_row(5), 5);
  EXPECT_EQ(count("SELECT size FROM documents WHERE id = 'd'"), 8);
}

// Ops made durable by one group commit reach a subscriber as one batch; a
// client that submitted some of them gets each ack between the ops before it
// and the ops after it (what a ShareDB client needs to keep its version).
TEST_P(HubTest, OpsDurableTogetherGoOutAsABatchAndAcksKeepTheirPlace) {
  ASSERT_TRUE(create(alice_, "d").ok());
  auto watcher = std::make_shared<SeqRecorder>("w");
  std::vector<std::shared_ptr<SeqRecorder>> writers;
  for (const char* id : {"a", "b", "c"}) writers.push_back(std::make_shared<SeqRecorder>(id));
  ASSERT_TRUE(subscribe(alice_, "d", watcher).ok());
  for (auto& w : writers) ASSERT_TRUE(subscribe(alice_, "d", w).ok());

  // Hold every write lane (affinities 1..16 reach up to 16 lanes), so the
  // ops below queue behind and commit together.
  std::promise<void> open_db;
  std::shared_future<void> db_gate = open_db.get_future().share();
  const auto units_before = db_->write_stats().units;
  constexpr std::uint64_t kBlockers = 16;
  for (std::uint64_t a = 1; a <= kBlockers; ++a) {
    ASSERT_TRUE(db_->write_async(
        [db_gate](storage::Tx&) -> Status {
          db_gate.wait();
          return {};
        },
        [](const Status&) {}, a));
  }
  constexpr int kOpsEach = 4;
  std::mutex errors_mu;
  std::vector<std::string> errors;
  for (auto& w : writers) {
    for (int i = 1; i <= kOpsEach; ++i) {
      SyncService::Submit s;
      s.doc_id = "d";
      s.base_version = 1;
      s.src = std::string(w->client_id());
      s.seq = i;
      s.op = ot::make_insert(0, s.src);
      hub_->submit(alice_, std::move(s),
                   [&errors_mu, &errors, w](Result<SyncService::Submitted> r) {
                     if (r) return w->ack(r->version);
                     std::lock_guard lock(errors_mu);
                     errors.push_back(r.error().message);
                   });
    }
  }
  // The document's executor runs in order: after this fetch every submit has
  // been applied and queued for commit, and none is durable.
  auto before = fetch(alice_, "d");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->version, 1);

  // Hold the docs pool too, until every commit's completion has run, so the
  // document finds them all durable at once.
  std::promise<void> open_pool;
  std::shared_future<void> pool_gate = open_pool.get_future().share();
  std::atomic<int> holding{0};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(pool_->try_post(Task([pool_gate, &holding] {
      ++holding;
      pool_gate.wait();
    })));
  }
  for (int i = 0; i < 1000 && holding.load() < 2; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(holding.load(), 2);
  open_db.set_value();
  const std::uint64_t total = 3 * kOpsEach;
  for (int i = 0; i < 1000 && db_->write_stats().units < units_before + kBlockers + total; ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_GE(db_->write_stats().units, units_before + kBlockers + total);
  std::this_thread::sleep_for(100ms);  // the completions follow the commit at once
  open_pool.set_value();

  auto seen = watcher->wait_events(total);
  ASSERT_EQ(seen.size(), total);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].version, static_cast<std::int64_t>(i) + 1);
    EXPECT_FALSE(seen[i].ack);
  }
  EXPECT_GT(watcher->largest_batch(), 1u);
  for (auto& w : writers) {
    auto ev = w->wait_events(total);
    ASSERT_EQ(ev.size(), total) << w->client_id();
    for (std::size_t i = 0; i < ev.size(); ++i) {
      // Every version once, in order; its own as acks, the others' as ops.
      EXPECT_EQ(ev[i].version, static_cast<std::int64_t>(i) + 1) << w->client_id();
      EXPECT_EQ(ev[i].ack, ev[i].src == w->client_id()) << w->client_id() << " " << i;
      EXPECT_EQ(ev[i].src, seen[i].src) << w->client_id() << " " << i;
    }
  }
  std::lock_guard lock(errors_mu);
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(fetch(alice_, "d")->version, static_cast<std::int64_t>(total) + 1);
}

TEST_P(HubTest, ConcurrentOpsAreTransformedAndDuplicatesAreNotAppliedTwice) {
  ASSERT_TRUE(create(alice_, "d", "abc").ok());
  access_->grant("bob", Role::kEditor);
  auto r1 = submit(alice_, "d", 1, ot::make_insert(0, "X"), "ca", 1);
  ASSERT_TRUE(r1.ok());
  // Bob's op was made at version 1 too: it lands after Alice's, transformed.
  auto r2 = submit(bob_, "d", 1, ot::make_insert(3, "Y"), "cb", 1);
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_EQ(r2->version, 2);
  ASSERT_EQ(r2->missed.size(), 1u);
  EXPECT_EQ(r2->missed[0]->version, 1);
  EXPECT_EQ(fetch(alice_, "d")->text, "XabcY");
  // Bob reconnects and resubmits the same op: acknowledged, not applied.
  auto dup = submit(bob_, "d", 1, ot::make_insert(3, "Y"), "cb", 1);
  ASSERT_TRUE(dup.ok()) << dup.error().message;
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->version, 2);
  EXPECT_EQ(fetch(alice_, "d")->text, "XabcY");
  EXPECT_EQ(count("SELECT COUNT(*) FROM doc_ops WHERE doc_id = 'd'"), 3);
}

TEST_P(HubTest, BadOpsGetClearErrorsAndChangeNothing) {
  ASSERT_TRUE(create(alice_, "d", "abc").ok());
  auto future = submit(alice_, "d", 7, ot::make_insert(0, "x"));
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(future.error().message.find("newer"), std::string::npos);
  auto too_long = submit(alice_, "d", 1, {ot::Component::skip(10), ot::Component::insert("x")});
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidArgument);
  auto bad = submit(alice_, "d", 1, {ot::Component::skip(0), ot::Component::insert("x")});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  SyncService::Submit del;
  del.doc_id = "d";
  del.base_version = 1;
  del.kind = CommittedOp::Kind::kDelete;
  auto d = call<SyncService::Submitted>([&](auto cb) { hub_->submit(alice_, del, cb); });
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kPermissionDenied);
  auto missing = submit(alice_, "nope", 0, ot::make_insert(0, "x"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto s = fetch(alice_, "d");
  EXPECT_EQ(s->text, "abc");
  EXPECT_EQ(s->version, 1);
  // And the document still takes good ops.
  ASSERT_TRUE(submit(alice_, "d", 1, ot::make_insert(3, "d")).ok());
  EXPECT_EQ(fetch(alice_, "d")->text, "abcd");
}

TEST_P(HubTest, SizeLimits) {
  stop();
  pool_ = std::make_unique<ThreadPool>(ThreadPoolOptions{"docs", 2, 1024});
  HubOptions o;
  o.max_text_bytes = 10;
  o.max_op_bytes = 6;
  start(o);
  ASSERT_TRUE(create(alice_, "d", "abc").ok());
  auto big_op = submit(alice_, "d", 1, ot::make_insert(0, "1234567"));
  ASSERT_FALSE(big_op.ok());
  EXPECT_EQ(big_op.error().code, ErrorCode::kPayloadTooLarge);
  ASSERT_TRUE(submit(alice_, "d", 1, ot::make_insert(0, "123456")).ok());
  auto big_doc = submit(alice_, "d", 2, ot::make_insert(0, "12"));
  ASSERT_FALSE(big_doc.ok());
  EXPECT_EQ(big_doc.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(fetch(alice_, "d")->text, "123456abc");
}

TEST_P(HubTest, RolesAndTenants) {
  ASSERT_TRUE(create(alice_, "d", "secret").ok());
  // No role: as if it did not exist.
  auto f = fetch(bob_, "d");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::kNotFound);
  auto l = std::make_shared<Recorder>("cb");
  auto sub = subscribe(bob_, "d", l);
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.error().code, ErrorCode::kNotFound);
  // A viewer reads but cannot edit.
  access_->grant("bob", Role::kViewer);
  clock_.advance(std::chrono::seconds(11));  // past the role cache
  ASSERT_TRUE(fetch(bob_, "d").ok());
  auto op = submit(bob_, "d", 1, ot::make_insert(0, "x"));
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().code, ErrorCode::kPermissionDenied);
  access_->grant("bob", Role::kCommenter);
  hub_->access_changed(kTenant, "d");
  op = submit(bob_, "d", 1, ot::make_insert(0, "x"));
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().code, ErrorCode::kPermissionDenied);
  // Another tenant's "d" is another document: new and empty there.
  auto other = fetch(user("alice", "t2"), "d");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->exists);
  EXPECT_EQ(other->text, "");
  EXPECT_EQ(fetch(alice_, "d")->text, "secret");
}

TEST_P(HubTest, RevokedAccessEndsTheSubscriptionAtOnce) {
  ASSERT_TRUE(create(alice_, "d").ok());
  access_->grant("bob", Role::kEditor);
  auto l = std::make_shared<Recorder>("cb");
  ASSERT_TRUE(subscribe(bob_, "d", l).ok());
  access_->grant("bob", Role::kNone);
  hub_->access_changed(kTenant, "d");
  auto ended = l->wait_ended();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->code, ErrorCode::kNotFound);
  auto op = submit(bob_, "d", 1, ot::make_insert(0, "x"));
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(hub_->stats().subscriptions, 0u);
}

TEST_P(HubTest, TrashedDocumentEndsSubscriptions) {
  ASSERT_TRUE(create(alice_, "d").ok());
  auto l = std::make_shared<Recorder>("ca");
  ASSERT_TRUE(subscribe(alice_, "d", l).ok());
  ASSERT_TRUE(db_->write([](storage::Tx& tx) -> Status {
                   auto r = tx.exec("UPDATE documents SET trash_ms = 1 WHERE id = 'd'");
                   if (!r) return r.error();
                   return {};
                 })
                  .ok());
  hub_->document_gone(kTenant, "d");
  auto ended = l->wait_ended();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->code, ErrorCode::kNotFound);
  auto f = fetch(alice_, "d");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::kNotFound);
}

TEST_P(HubTest, SubscribingFromAVersionGetsTheMissedOps) {
  recent_ops_ = 2;  // older ops come from the log
  restart();
  ASSERT_TRUE(create(alice_, "d").ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(submit(alice_, "d", 1 + i, ot::make_insert(0, std::to_string(i))).ok());
  }
  auto l = std::make_shared<Recorder>("x");
  auto s = subscribe(alice_, "d", l, 2);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->missed.size(), 4u);
  EXPECT_EQ(s->missed.front()->version, 2);
  EXPECT_EQ(s->missed.back()->version, 5);
  // A late op made at version 1 is transformed over all five.
  auto late = submit(alice_, "d", 1, ot::make_insert(0, "L"));
  ASSERT_TRUE(late.ok()) << late.error().message;
  EXPECT_EQ(late->version, 6);
  EXPECT_EQ(late->missed.size(), 5u);
  EXPECT_EQ(fetch(alice_, "d")->text, "L43210");
  ASSERT_TRUE(l->wait_ops(1));
  auto future = subscribe(alice_, "d", std::make_shared<Recorder>("y"), 99);
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(HubTest, TheTextSurvivesARestartThroughMilestonesAndTheLog) {
  milestone_every_ = 3;
  restart();
  ASSERT_TRUE(create(alice_, "d").ok());
  std::string expect;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(submit(alice_, "d", 1 + i, ot::make_insert(ot::utf8::count(expect), "ab😀")).ok());
    expect += "ab😀";
  }
  restart();
  auto s = fetch(alice_, "d");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->text, expect);
  EXPECT_EQ(s->version, 11);
  EXPECT_GE(count("SELECT COUNT(*) FROM doc_snapshots WHERE doc_id = 'd'"), 3);
  // Past versions, too.
  auto v4 = call<Snapshot>([&](auto cb) { hub_->snapshot_at(alice_, "d", 4, cb); });
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->text, "ab😀ab😀ab😀");
  EXPECT_EQ(v4->version, 4);
}

TEST_P(HubTest, SnapshotAtATime) {
  ASSERT_TRUE(create(alice_, "d").ok());
  clock_.advance(std::chrono::seconds(10));
  const std::int64_t t1 = clock_.now_ms();
  ASSERT_TRUE(submit(alice_, "d", 1, ot::make_insert(0, "one")).ok());
  clock_.advance(std::chrono::seconds(10));
  ASSERT_TRUE(submit(alice_, "d", 2, ot::make_insert(3, " two")).ok());
  auto at = call<Snapshot>([&](auto cb) { hub_->snapshot_at_time(alice_, "d", t1 + 5000, cb); });
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at->text, "one");
  EXPECT_EQ(at->version, 2);
  auto before = call<Snapshot>([&](auto cb) { hub_->snapshot_at_time(alice_, "d", 1, cb); });
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->version, 0);
  EXPECT_FALSE(before->exists);
}

// Many ops, and a clock that steps back: the version at a time is the version
// after the last op at or before it, and an op's time never precedes the one
// before it (the lookup is a binary search over versions).
TEST_P(HubTest, SnapshotAtATimeOverManyOpsAndAClockStepBack) {
  // stamps[v]: the time op v should carry (the clock, but never before the op
  // before it); op 0 is the create.
  std::vector<std::int64_t> stamps{clock_.now_ms()};
  ASSERT_TRUE(create(alice_, "d").ok());
  for (int v = 1; v <= 40; ++v) {
    clock_.advance(std::chrono::milliseconds(v == 25 ? -30'000 : 1'000));  // back 30 s once
    ASSERT_TRUE(
        submit(alice_, "d", v, ot::make_insert(static_cast<std::uint64_t>(v - 1), "x")).ok());
    stamps.push_back(std::max(clock_.now_ms(), stamps.back()));
  }
  // The version at t is the number of ops stamped at or before t.
  for (std::int64_t t = stamps.front() - 1; t <= stamps.back() + 1; t += 250) {
    const auto expected = static_cast<std::int64_t>(
        std::upper_bound(stamps.begin(), stamps.end(), t) - stamps.begin());
    auto at = call<Snapshot>([&](auto cb) { hub_->snapshot_at_time(alice_, "d", t, cb); });
    ASSERT_TRUE(at.ok());
    ASSERT_EQ(at->version, expected) << "at " << t - stamps.front() << " ms";
    if (expected > 0) {
      EXPECT_EQ(at->text, std::string(static_cast<std::size_t>(expected - 1), 'x'));
    }
  }
}

TEST_P(HubTest, RestoringAVersionIsAnOpEveryoneReceives) {
  ASSERT_TRUE(create(alice_, "d", "héllo wörld").ok());
  ASSERT_TRUE(submit(alice_, "d", 1, ot::make_remove(0, 6)).ok());
  ASSERT_TRUE(submit(alice_, "d", 2, ot::make_insert(5, "!")).ok());
  EXPECT_EQ(fetch(alice_, "d")->text, "wörld!");
  access_->grant("bob", Role::kViewer);
  auto l = std::make_shared<Recorder>("cb");
  ASSERT_TRUE(subscribe(bob_, "d", l).ok());
  auto denied =
      call<SyncService::Submitted>([&](auto cb) { hub_->restore_version(bob_, "d", 1, cb); });
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kPermissionDenied);
  auto r =
      call<SyncService::Submitted>([&](auto cb) { hub_->restore_version(alice_, "d", 1, cb); });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(fetch(alice_, "d")->text, "héllo wörld");
  ASSERT_TRUE(l->wait_ops(1));
  auto text = ot::apply_text("wörld!", l->ops()[0]->op);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "héllo wörld");
}

TEST_P(HubTest, PresenceIsTransformedAndRemovedOnUnsubscribe) {
  ASSERT_TRUE(create(alice_, "d", "abcdef").ok());
  access_->grant("bob", Role::kEditor);
  auto la = std::make_shared<Recorder>("ca");
  auto lb = std::make_shared<Recorder>("cb");
  ASSERT_TRUE(subscribe(alice_, "d", la).ok());
  ASSERT_TRUE(subscribe(bob_, "d", lb).ok());
  // Bob inserts at 0 while Alice's cursor (made at version 1) is at 4.
  ASSERT_TRUE(submit(bob_, "d", 1, ot::make_insert(0, "XY"), "cb", 1).ok());
  hub_->presence(alice_, "d", la.get(), "pa", R"({"index":4,"length":1})", 1);
  auto seen = lb->wait_presence(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, "pa");
  EXPECT_EQ(seen[0].second, R"({"index":6,"length":1})");
  // A newcomer hears of it at once.
  auto lc = std::make_shared<Recorder>("cc");
  ASSERT_TRUE(subscribe(alice_, "d", lc).ok());
  auto seen_c = lc->wait_presence(1);
  ASSERT_EQ(seen_c.size(), 1u);
  hub_->unsubscribe(kTenant, "d", la.get());
  seen = lb->wait_presence(2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].first, "pa");
  EXPECT_EQ(seen[1].second, "");
  // Garbage presence is ignored, not echoed.
  hub_->presence(bob_, "d", lb.get(), "pb", "{\"index\":", 2);
  hub_->presence(bob_, "d", lb.get(), "pb", std::string(10000, '1'), 2);
  auto sync = fetch(alice_, "d");  // runs after the presence tasks
  ASSERT_TRUE(sync.ok());
  for (const auto& [id, value] : lc->wait_presence(2)) EXPECT_NE(id, "pb");
}

TEST_P(HubTest, IdleDocumentsAreEvictedWithAMilestone) {
  ASSERT_TRUE(create(alice_, "d").ok());
  ASSERT_TRUE(submit(alice_, "d", 1, ot::make_insert(0, "keep me")).ok());
  auto l = std::make_shared<Recorder>("ca");
  ASSERT_TRUE(subscribe(alice_, "d", l).ok());
  clock_.advance(std::chrono::minutes(5));
  scheduler_.advance(std::chrono::minutes(1));
  ASSERT_TRUE(fetch(alice_, "d").ok());         // after the sweep's task
  EXPECT_EQ(hub_->stats().open_documents, 1u);  // a subscriber keeps it open
  hub_->unsubscribe(kTenant, "d", l.get());
  ASSERT_TRUE(fetch(alice_, "d").ok());  // the unsubscription has run
  clock_.advance(std::chrono::minutes(5));
  scheduler_.advance(std::chrono::minutes(1));
  for (int i = 0; i < 100 && hub_->stats().open_documents != 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(hub_->stats().open_documents, 0u);
  EXPECT_EQ(hub_->stats().evictions, 1u);
  for (int i = 0; i < 100 && count("SELECT COUNT(*) FROM doc_snapshots WHERE version = 2") != 1;
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM doc_snapshots WHERE version = 2"), 1);
  EXPECT_EQ(count("SELECT version FROM documents WHERE id = 'd'"), 2);  // synced at eviction
  EXPECT_EQ(fetch(alice_, "d")->text, "keep me");
}

TEST_P(HubTest, ShutdownEndsSubscriptions) {
  ASSERT_TRUE(create(alice_, "d").ok());
  auto l = std::make_shared<Recorder>("ca");
  ASSERT_TRUE(subscribe(alice_, "d", l).ok());
  hub_->shutdown();
  auto ended = l->wait_ended();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->code, ErrorCode::kUnavailable);
  auto f = fetch(alice_, "d");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::kUnavailable);
}

// A ShareDB client in miniature: one op in flight, later ones composed in a
// buffer, remote ops transformed against both (doc.js).
struct ModelClient final : DocListener {
  ModelClient(std::string id, std::string text, std::int64_t version)
      : id(std::move(id)), text(std::move(text)), version(version) {}
  std::string id;
  std::mutex mu;
  std::string text;
  std::int64_t version;
  std::optional<ot::Op> inflight;
  std::optional<ot::Op> buffered;
  std::int64_t seq = 0;
  std::string error;

  void on_op(const CommittedOpPtr& op) override {
    std::lock_guard lock(mu);
    if (op->version != version) {
      error = "op " + std::to_string(op->version) + " at " + std::to_string(version);
      return;
    }
    ot::Op remote = op->op;
    if (inflight) {
      auto a = ot::transform(*inflight, remote, ot::Side::kLeft);
      auto b = ot::transform(remote, *inflight, ot::Side::kRight);
      inflight = *a;
      remote = *b;
    }
    if (buffered) {
      auto a = ot::transform(*buffered, remote, ot::Side::kLeft);
      auto b = ot::transform(remote, *buffered, ot::Side::kRight);
      buffered = *a;
      remote = *b;
    }
    text = *ot::apply_text(text, remote);
    ++version;
  }
  void on_ended(const Ended& why) override { error = "ended: " + why.error.message; }
  std::string_view client_id() const override { return id; }
};

TEST_P(HubTest, ManyClientsEditingAtOnceConverge) {
  ASSERT_TRUE(create(alice_, "d", "start").ok());
  constexpr int kClients = 6;
  constexpr int kEdits = 60;
  std::vector<std::shared_ptr<ModelClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    auto c = std::make_shared<ModelClient>("c" + std::to_string(i), "", 0);
    auto s = subscribe(alice_, "d", c);
    ASSERT_TRUE(s.ok());
    c->text = s->snapshot->text;
    c->version = s->snapshot->version;
    clients.push_back(c);
  }
  std::atomic<int> acks{0};
  std::function<void(std::shared_ptr<ModelClient>)> flush;
  flush = [&](std::shared_ptr<ModelClient> c) {
    SyncService::Submit s;
    {
      std::lock_guard lock(c->mu);
      if (c->inflight || !c->buffered) return;
      c->inflight = std::move(c->buffered);
      c->buffered.reset();
      s.doc_id = "d";
      s.base_version = c->version;
      s.src = c->id;
      s.seq = ++c->seq;
      s.op = *c->inflight;
    }
    hub_->submit(alice_, std::move(s), [&, c](Result<SyncService::Submitted> r) {
      {
        std::lock_guard lock(c->mu);
        if (!r) {
          c->error = r.error().message;
          return;
        }
        if (r->version != c->version) c->error = "ack out of order";
        c->inflight.reset();
        ++c->version;
      }
      ++acks;
      flush(c);
    });
  };
  std::mt19937 rng(42);
  const char* words[] = {"a", "😀", "中文", "ü", "xyz"};
  for (int e = 0; e < kEdits; ++e) {
    for (auto& c : clients) {
      {
        std::lock_guard lock(c->mu);
        const std::uint64_t len = ot::utf8::count(c->text);
        ot::Op op = (len > 3 && rng() % 3 == 0)
                        ? ot::make_remove(rng() % (len - 1), 1)
                        : ot::make_insert(rng() % (len + 1), words[rng() % 5]);
        c->text = *ot::apply_text(c->text, op);
        c->buffered = c->buffered ? *ot::compose(*c->buffered, op) : op;
      }
      flush(c);
    }
    if (e % 10 == 0) std::this_thread::sleep_for(1ms);
  }
  // Wait until every buffered op is acknowledged.
  for (int i = 0; i < 1000; ++i) {
    bool idle = true;
    for (auto& c : clients) {
      std::lock_guard lock(c->mu);
      idle = idle && !c->inflight && !c->buffered;
    }
    if (idle) break;
    std::this_thread::sleep_for(10ms);
  }
  auto server = fetch(alice_, "d");
  ASSERT_TRUE(server.ok());
  for (auto& c : clients) {
    std::lock_guard lock(c->mu);
    EXPECT_EQ(c->error, "") << c->id;
    EXPECT_EQ(c->version, server->version) << c->id;
    EXPECT_EQ(c->text, server->text) << c->id;
  }
  EXPECT_GT(acks.load(), kClients);
  restart();
  EXPECT_EQ(fetch(alice_, "d")->text, server->text);
}

}  // namespace
}  // namespace office::docs

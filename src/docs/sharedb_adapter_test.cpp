#include "docs/sharedb_adapter.hpp"

#include <gtest/gtest.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/clock.hpp"
#include "net/server.hpp"
#include "net/test_support.hpp"
#include "ot/document.hpp"

namespace office::docs {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// --- an in-memory SyncService --------------------------------------------
// One thread plays every document's serial owner: each call is queued and
// runs there in order, callbacks included, never inline in the call.
class FakeSync final : public SyncService {
 public:
  FakeSync() : thread_([this] { loop(); }) {}
  ~FakeSync() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Test knobs (set before use, or from posted work).
  std::optional<Error> fail_next_submit;

  void add_doc(const std::string& id, const std::string& text) {
    run_sync([=, this] {
      Doc& d = docs_[id];
      d.texts = {"", text};
      auto op = std::make_shared<CommittedOp>();
      op->doc_id = id;
      op->kind = CommittedOp::Kind::kCreate;
      op->create_text = text;
      op->version = 0;
      d.log.push_back(op);
    });
  }
  std::string text(const std::string& id) {
    std::string out;
    run_sync([&] { out = docs_[id].texts.back(); });
    return out;
  }
  void end_all(const std::string& id, Error e) {
    run_sync([&] {
      for (auto& w : listeners_[id])
        if (auto l = w.lock()) l->on_ended(Ended{e});
      listeners_[id].clear();
    });
  }
  std::size_t listener_count(const std::string& id) {
    std::size_t n = 0;
    run_sync([&] {
      for (auto& w : listeners_[id])
        if (!w.expired()) ++n;
    });
    return n;
  }

  void fetch(const Principal& p, std::string_view doc_id, Callback<Snapshot> done) override {
    post([=, this, id = std::string(doc_id)] { done(snapshot(p, id)); });
  }
  void ops(const Principal& p, std::string_view doc_id, std::int64_t from, std::int64_t to,
           Callback<std::vector<CommittedOpPtr>> done) override {
    post([=, this, id = std::string(doc_id)] { done(ops_from(p, id, from, to)); });
  }
  void subscribe(const Principal& p, std::string_view doc_id, std::optional<std::int64_t> from,
                 const std::shared_ptr<DocListener>& listener, Callback<Subscribed> done) override {
    std::weak_ptr<DocListener> weak = listener;
    post([=, this, id = std::string(doc_id)] {
      Subscribed s;
      if (from) {
        auto missed = ops_from(p, id, *from, -1);
        if (!missed) return done(missed.error());
        s.missed = std::move(*missed);
      } else {
        auto snap = snapshot(p, id);
        if (!snap) return done(snap.error());
        s.snapshot = std::move(*snap);
      }
      listeners_[id].push_back(weak);
      done(std::move(s));
    });
  }
  void unsubscribe(std::string_view, std::string_view doc_id, const DocListener* l) override {
    post([=, this, id = std::string(doc_id)] {
      auto& v = listeners_[id];
      std::erase_if(v, [&](const std::weak_ptr<DocListener>& w) {
        auto s = w.lock();
        return !s || s.get() == l;
      });
    });
  }
  void submit(const Principal& p, Submit s, Callback<Submitted> done) override {
    post([=, this, s = std::move(s)]() mutable {
      if (fail_next_submit) {
        Error e = *fail_next_submit;
        fail_next_submit.reset();
        return done(e);
      }
      if (p.user_id == "viewer") return done(Error::denied("viewers cannot edit"));
      auto it = docs_.find(s.doc_id);
      if (s.kind == CommittedOp::Kind::kCreate) {
        if (it != docs_.end()) return done(Error::exists("document exists"));
        it = docs_.emplace(s.doc_id, Doc{}).first;
        it->second.texts = {""};
      } else if (it == docs_.end()) {
        return done(Error::not_found("document not found"));
      }
      Doc& d = it->second;
      std::int64_t current = static_cast<std::int64_t>(d.log.size());
      if (s.base_version > current)
        return done(Error{ErrorCode::kFailedPrecondition, "op version is in the future"});
      for (const auto& c : d.log)
        if (c->src == s.src && c->seq == s.seq)
          return done(Submitted{.version = c->version, .duplicate = true, .missed = {}});
      auto op = std::make_shared<CommittedOp>();
      op->doc_id = s.doc_id;
      op->src = s.src;
      op->seq = s.seq;
      op->kind = s.kind;
      op->create_text = s.create_text;
      std::string next = s.create_text;
      if (s.kind == CommittedOp::Kind::kEdit) {
        ot::Op o = s.op;
        for (auto v = s.base_version; v < current; ++v) {
          auto t = ot::transform(o, d.log[v]->op, ot::Side::kLeft);
          if (!t) return done(Error::invalid(t.error().message));
          o = std::move(*t);
        }
        auto applied = ot::apply_text(d.texts.back(), o);
        if (!applied) return done(Error::invalid(applied.error().message));
        next = std::move(*applied);
        op->op = std::move(o);
      }
      op->version = current;
      d.log.push_back(op);
      d.texts.push_back(next);
      done(Submitted{.version = current, .duplicate = false, .missed = {}});
      for (auto& w : listeners_[s.doc_id])
        if (auto l = w.lock(); l && l->client_id() != s.src) l->on_op(op);
    });
  }
  // Commits inserts at 0 from these srcs as one group: subscribers whose
  // client submitted none of them get them through on_ops.
  void commit_batch(const std::string& doc_id, const std::vector<std::string>& srcs) {
    run_sync([=, this] {
      Doc& d = docs_[doc_id];
      std::vector<CommittedOpPtr> ops;
      for (const auto& src : srcs) {
        auto op = std::make_shared<CommittedOp>();
        op->doc_id = doc_id;
        op->src = src;
        op->seq = 1;
        op->op = ot::make_insert(0, src);
        op->version = static_cast<std::int64_t>(d.log.size());
        d.texts.push_back(*ot::apply_text(d.texts.back(), op->op));
        d.log.push_back(op);
        ops.push_back(op);
      }
      for (auto& w : listeners_[doc_id])
        if (auto l = w.lock()) l->on_ops(ops);
    });
  }
  void snapshot_at(const Principal& p, std::string_view doc_id, std::int64_t version,
                   Callback<Snapshot> done) override {
    post([=, this, id = std::string(doc_id)] {
      auto it = docs_.find(id);
      if (it == docs_.end() || version >= static_cast<std::int64_t>(it->second.texts.size()))
        return done(Error::not_found("no such version"));
      done(Snapshot{.doc_id = id,
                    .version = version,
                    .exists = version > 0,
                    .text = it->second.texts[version],
                    .ts_ms = 0});
    });
  }
  void snapshot_at_time(const Principal& p, std::string_view doc_id, std::int64_t,
                        Callback<Snapshot> done) override {
    fetch(p, doc_id, std::move(done));
  }
  void restore_version(const Principal&, std::string_view, std::int64_t,
                       Callback<Submitted> done) override {
    post([done] { done(Error::unavailable("not in the fake")); });
  }
  void presence(const Principal&, std::string_view doc_id, const DocListener* from,
                std::string_view presence_id, std::string_view value_json,
                std::int64_t version) override {
    post([=, this, id = std::string(doc_id), pid = std::string(presence_id),
          value = std::string(value_json)] {
      for (auto& w : listeners_[id])
        if (auto l = w.lock(); l && l.get() != from)
          l->on_presence(pid, value, version, from->client_id());
    });
  }

 private:
  struct Doc {
    std::vector<std::string> texts;  // texts[v]: the text at version v
    std::vector<CommittedOpPtr> log;
  };
  Result<Snapshot> snapshot(const Principal&, const std::string& id) {
    if (id == "forbidden") return Error::not_found("document not found");
    auto it = docs_.find(id);
    if (it == docs_.end()) return Snapshot{.doc_id = id};
    std::int64_t v = static_cast<std::int64_t>(it->second.log.size());
    return Snapshot{
        .doc_id = id, .version = v, .exists = true, .text = it->second.texts.back(), .ts_ms = 0};
  }
  Result<std::vector<CommittedOpPtr>> ops_from(const Principal&, const std::string& id,
                                               std::int64_t from, std::int64_t to) {
    auto it = docs_.find(id);
    if (it == docs_.end()) return Error::not_found("document not found");
    auto& log = it->second.log;
    if (from > static_cast<std::int64_t>(log.size()))
      return Error::invalid("version " + std::to_string(from) + " is in the future");
    std::int64_t end = to < 0 ? static_cast<std::int64_t>(log.size()) : to;
    return std::vector<CommittedOpPtr>(log.begin() + from, log.begin() + end);
  }

  void post(std::function<void()> f) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(f));
    }
    cv_.notify_all();
  }
  void run_sync(std::function<void()> f) {
    std::promise<void> done;
    post([&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }
  void loop() {
    while (true) {
      std::function<void()> f;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        f = std::move(queue_.front());
        queue_.pop_front();
      }
      f();
    }
  }

  std::map<std::string, Doc> docs_;  // the worker thread only
  std::map<std::string, std::vector<std::weak_ptr<DocListener>>> listeners_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

// --- a WebSocket session that records what is sent -------------------------
class FakeSession final : public net::WebSocketSession {
 public:
  bool send_text(std::string message) override { return push(std::move(message), nullptr); }
  bool send_shared(net::SharedMessage message) override {
    if (!message.is_batch()) return push(std::string(message.text()), message.text().data());
    // A batch: its frames (server frames: unmasked text, FIN set) one by one.
    std::string_view b = message.text();
    std::size_t at = 0;
    while (at < b.size()) {
      EXPECT_EQ(static_cast<unsigned char>(b[at]), 0x81);
      std::uint64_t len = static_cast<unsigned char>(b[at + 1]);
      std::size_t header = 2;
      const std::size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
      if (ext > 0) len = 0;
      for (std::size_t i = 0; i < ext; ++i)
        len = len << 8 | static_cast<unsigned char>(b[at + 2 + i]);
      header += ext;
      if (!push(std::string(b.substr(at + header, len)), b.data())) return false;
      at += header + len;
    }
    return true;
  }
  void close(net::CloseCode code, std::string) override {
    std::lock_guard lock(mu_);
    if (!close_code_) close_code_ = static_cast<int>(code);
    cv_.notify_all();
  }
  bool is_open() const override {
    std::lock_guard lock(mu_);
    return !close_code_;
  }
  std::uint64_t id() const override { return 1; }

  /// The next message not read yet, parsed (null JSON after a timeout).
  json next(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return read_ < messages_.size(); })) return json();
    return json::parse(messages_[read_++]);
  }
  /// True if nothing more arrives within a short while.
  bool quiet() {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, 100ms, [&] { return read_ < messages_.size(); });
  }
  int wait_closed(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return close_code_.has_value(); });
    return close_code_.value_or(0);
  }
  const void* shared_ptr_of(std::size_t i) {
    std::lock_guard lock(mu_);
    return shared_[i];
  }
  std::size_t read_index() {
    std::lock_guard lock(mu_);
    return read_;
  }

 private:
  bool push(std::string m, const void* shared) {
    std::lock_guard lock(mu_);
    if (close_code_) return false;
    messages_.push_back(std::move(m));
    shared_.push_back(shared);
    cv_.notify_all();
    return true;
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> messages_;
  std::vector<const void*> shared_;
  std::size_t read_ = 0;
  std::optional<int> close_code_;
};

Principal user(std::string id) {
  Principal p;
  p.tenant_id = "t1";
  p.user_id = std::move(id);
  p.session_id = "s-" + p.user_id;
  p.expires_at_s = 4'000'000'000;
  return p;
}

// A connection driven directly: handler + recording session.
struct Client {
  Client(const std::shared_ptr<const SharedbContext>& ctx, SyncService& sync, const Principal& p,
         const SharedbSessionHooks& hooks = {})
      : session(std::make_shared<FakeSession>()),
        handler(make_sharedb_connection(ctx, sync, p, hooks)) {
    handler->on_open(session);
  }
  ~Client() {
    if (handler) handler->on_close(1000);
  }
  json send(const json& m) {
    handler->on_message(m.dump());
    return session->next();
  }
  void post(const json& m) { handler->on_message(m.dump()); }
  json next() { return session->next(); }
  std::string hs() {
    return send({{"a", "hs"}, {"id", nullptr}, {"protocol", 1}, {"protocolMinor", 2}})["id"];
  }

  std::shared_ptr<FakeSession> session;
  std::unique_ptr<net::WebSocketHandler> handler;
};

json error_code(const json& m) { return m.contains("error") ? m["error"]["code"] : json(); }

struct SharedbAdapter : ::testing::Test {
  SharedbAdapter() { sync.add_doc("d1", "hello"); }
  std::shared_ptr<const SharedbContext> ctx(SharedbOptions o = {}) {
    if (o.client_id_key.empty()) o.client_id_key = std::string(32, 'k');
    return make_sharedb_context(std::move(o));
  }
  FakeSync sync;
};

TEST_F(SharedbAdapter, HandshakeIssuesAnIdTheSameUserMayResume) {
  auto c = ctx();
  Client a(c, sync, user("u1"));
  json hs = a.send({{"a", "hs"}, {"id", nullptr}, {"protocol", 1}, {"protocolMinor", 2}});
  EXPECT_EQ(hs["a"], "hs");
  EXPECT_EQ(hs["protocol"], 1);
  EXPECT_EQ(hs["protocolMinor"], 2);
  EXPECT_EQ(hs["type"], "http://sharejs.org/types/JSONv0");  // what the stock client checks
  std::string id = hs["id"];
  EXPECT_FALSE(id.empty());

  Client again(c, sync, user("u1"));
  EXPECT_EQ(again.send({{"a", "hs"}, {"id", id}, {"protocol", 1}})["id"], id);
  // Once it subscribed, a connection keeps its id through another hs.
  Client fresh(c, sync, user("u1"));
  std::string fresh_id = fresh.hs();
  fresh.send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}});
  EXPECT_EQ(fresh.send({{"a", "hs"}, {"id", id}, {"protocol", 1}})["id"], fresh_id);
  Client other(c, sync, user("u2"));  // another user cannot take it over
  EXPECT_NE(other.send({{"a", "hs"}, {"id", id}, {"protocol", 1}})["id"], id);
  EXPECT_NE(other.send({{"a", "hs"}, {"id", "forged.id"}})["id"], "forged.id");
  EXPECT_EQ(error_code(other.send({{"a", "hs"}, {"protocol", 2}})),
            "ERR_PROTOCOL_VERSION_NOT_SUPPORTED");
}

TEST_F(SharedbAdapter, SubscribeSubmitAcknowledgeAndBroadcast) {
  auto c = ctx();
  Client a(c, sync, user("u1"));
  Client b(c, sync, user("u2"));
  std::string src = a.hs();
  b.hs();
  json s = a.send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}});
  EXPECT_EQ(
      s,
      json::parse(
          R"({"a":"s","c":"docs","d":"d1","data":{"v":1,"data":"hello","type":"http://sharejs.org/types/text-unicode"}})"));
  EXPECT_EQ(b.send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}})["data"]["v"], 1);

  json ack = a.send(
      json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"x":{},"op":[5," world"]})"));
  EXPECT_EQ(ack,
            json::parse(R"({"a":"op","c":"docs","d":"d1","src":")" + src + R"(","seq":1,"v":1})"));
  json op = b.next();
  EXPECT_EQ(op, json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"src":")" + src +
                            R"(","seq":1,"op":[5," world"]})"));
  EXPECT_TRUE(a.session->quiet());  // no echo of its own op
  EXPECT_EQ(sync.text("d1"), "hello world");

  // A concurrent op from b at the old version is transformed; a gets it.
  json ack2 = b.send(json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"op":["> "]})"));
  EXPECT_EQ(ack2["v"], 2);
  EXPECT_EQ(a.next()["op"], json::parse(R"(["> "])"));
  EXPECT_EQ(sync.text("d1"), "> hello world");

  // Unsubscribed: no more ops.
  EXPECT_EQ(b.send({{"a", "u"}, {"c", "docs"}, {"d", "d1"}}),
            json::parse(R"({"a":"u","c":"docs","d":"d1"})"));
  a.send(json::parse(R"({"a":"op","c":"docs","d":"d1","v":3,"seq":2,"op":[{"d":2}]})"));
  EXPECT_TRUE(b.session->quiet());
}

TEST_F(SharedbAdapter, BroadcastIsSerialisedOnceForEverySubscriber) {
  auto c = ctx();
  Client a(c, sync, user("u1")), b(c, sync, user("u2")), d(c, sync, user("u3"));
  for (Client* x : {&a, &b, &d}) {
    x->hs();
    x->send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}});
  }
  a.send(json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"op":["x"]})"));
  b.next();
  d.next();
  std::size_t ib = b.session->read_index() - 1, id = d.session->read_index() - 1;
  ASSERT_NE(b.session->shared_ptr_of(ib), nullptr);
  EXPECT_EQ(b.session->shared_ptr_of(ib), d.session->shared_ptr_of(id));
}

// Ops committed together go to every subscriber as one batch of frames,
// serialised once: each subscriber's queue holds the same bytes.
TEST_F(SharedbAdapter, OpsCommittedTogetherAreOneSharedBatch) {
  auto c = ctx();
  Client b(c, sync, user("u2")), d(c, sync, user("u3"));
  for (Client* x : {&b, &d}) {
    x->hs();
    x->send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}});
  }
  sync.commit_batch("d1", {"x", "yy", std::string(300, 'z')});  // 300: a 16-bit frame length
  for (Client* x : {&b, &d}) {
    EXPECT_EQ(x->next(),
              json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"src":"x","seq":1,"op":["x"]})"));
    EXPECT_EQ(
        x->next(),
        json::parse(R"({"a":"op","c":"docs","d":"d1","v":2,"src":"yy","seq":1,"op":["yy"]})"));
    json third = x->next();
    EXPECT_EQ(third["v"], 3);
    EXPECT_EQ(third["op"][0], std::string(300, 'z'));
  }
  std::size_t ib = b.session->read_index() - 1, id = d.session->read_index() - 1;
  ASSERT_NE(b.session->shared_ptr_of(ib), nullptr);
  EXPECT_EQ(b.session->shared_ptr_of(ib), d.session->shared_ptr_of(id));
  EXPECT_EQ(b.session->shared_ptr_of(ib), b.session->shared_ptr_of(ib - 2));  // one buffer
  EXPECT_EQ(sync.text("d1"), std::string(300, 'z') + "yyxhello");
}

TEST_F(SharedbAdapter, SubscribeOrFetchFromAVersionSendsTheMissedOpsFirst) {
  auto c = ctx();
  Client a(c, sync, user("u1"));
  a.hs();
  a.send(json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"op":["a"]})"));
  a.send(json::parse(R"({"a":"op","c":"docs","d":"d1","v":2,"seq":2,"op":["b"]})"));
  Client b(c, sync, user("u2"));
  b.hs();
  b.post({{"a", "s"}, {"c", "docs"}, {"d", "d1"}, {"v", 1}});
  EXPECT_EQ(b.next()["v"], 1);
  EXPECT_EQ(b.next()["v"], 2);
  EXPECT_EQ(b.next(), json::parse(R"({"a":"s","c":"docs","d":"d1"})"));
  b.post({{"a", "f"}, {"c", "docs"}, {"d", "d1"}, {"v", 2}});
  EXPECT_EQ(b.next()["op"], json::parse(R"(["b"])"));
  EXPECT_EQ(b.next(), json::parse(R"({"a":"f","c":"docs","d":"d1"})"));
  // From the future: an error for that request.
  json e = b.send({{"a", "f"}, {"c", "docs"}, {"d", "d1"}, {"v", 99}});
  EXPECT_EQ(e["a"], "f");
  EXPECT_EQ(e["d"], "d1");
  EXPECT_EQ(error_code(e), "ERR_MESSAGE_BADLY_FORMED");
}

TEST_F(SharedbAdapter, CreateFetchAndSnapshots) {
  auto c = ctx();
  Client a(c, sync, user("u1"));
  std::string src = a.hs();
  EXPECT_EQ(a.send({{"a", "f"}, {"c", "docs"}, {"d", "new1"}}),
            json::parse(R"({"a":"f","c":"docs","d":"new1","data":{"v":0,"type":null}})"));
  json ack = a.send(json::parse(
      R"({"a":"op","c":"docs","d":"new1","v":null,"seq":1,"create":{"type":"http://sharejs.org/types/text-unicode","data":"hi"}})"));
  EXPECT_EQ(ack["v"], 0);
  EXPECT_EQ(ack["src"], src);
  EXPECT_EQ(sync.text("new1"), "hi");
  json again = a.send(json::parse(
      R"({"a":"op","c":"docs","d":"new1","v":0,"seq":2,"create":{"type":"text-unicode","data":"x"}})"));
  EXPECT_EQ(error_code(again), "ERR_DOC_ALREADY_CREATED");
  EXPECT_EQ(again["seq"], 2);

  EXPECT_EQ(
      a.send({{"a", "nf"}, {"id", 1}, {"c", "docs"}, {"d", "d1"}, {"v", 1}}),
      json::parse(
          R"({"a":"nf","id":1,"v":1,"type":"http://sharejs.org/types/text-unicode","data":"hello"})"));
  EXPECT_EQ(a.send({{"a", "nt"}, {"id", 2}, {"c", "docs"}, {"d", "d1"}, {"ts", 5}})["data"],
            "hello");
  json nf = a.send({{"a", "nf"}, {"id", 3}, {"c", "docs"}, {"d", "d1"}, {"v", 50}});
  EXPECT_EQ(nf["id"], 3);
  EXPECT_EQ(error_code(nf), "ERR_DOC_DOES_NOT_EXIST");
}

TEST_F(SharedbAdapter, BulkRequestsAreAnsweredPerDocument) {
  auto c = ctx();
  sync.add_doc("d2", "two");
  Client a(c, sync, user("u1"));
  a.hs();
  a.post(json::parse(R"({"a":"bs","c":"docs","b":["d1","d2","forbidden"]})"));
  std::map<std::string, json> replies;
  for (int i = 0; i < 3; ++i) {
    json m = a.next();
    EXPECT_EQ(m["a"], "s");
    replies[m["d"]] = m;
  }
  EXPECT_EQ(replies["d1"]["data"]["data"], "hello");
  EXPECT_EQ(replies["d2"]["data"]["data"], "two");
  EXPECT_EQ(error_code(replies["forbidden"]), "ERR_DOC_DOES_NOT_EXIST");
  a.post(json::parse(R"({"a":"bu","c":"docs","b":["d1","d2"]})"));
  EXPECT_EQ(a.next()["a"], "u");
  EXPECT_EQ(a.next()["a"], "u");
  a.post(json::parse(R"({"a":"bf","c":"docs","b":{"d1":0}})"));
  EXPECT_EQ(a.next()["create"]["data"], "hello");
  EXPECT_EQ(a.next(), json::parse(R"({"a":"f","c":"docs","d":"d1"})"));
}

TEST_F(SharedbAdapter, RefusesWhatItDoesNotServe) {
  auto c = ctx();
  Client a(c, sync, user("u1"));
  a.hs();
  EXPECT_EQ(error_code(a.send({{"a", "s"}, {"c", "users"}, {"d", "d1"}})),
            "ERR_MESSAGE_BADLY_FORMED");
  json del = a.send(json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"del":true})"));
  EXPECT_EQ(error_code(del), "ERR_DELETE_NOT_SUPPORTED");
  EXPECT_EQ(del["seq"], 1);
  json q = a.send(json::parse(R"({"a":"qf","id":4,"c":"docs","q":{}})"));
  EXPECT_EQ(q["id"], 4);
  EXPECT_EQ(error_code(q), "ERR_DATABASE_METHOD_NOT_IMPLEMENTED");
  EXPECT_EQ(error_code(a.send(json::parse(R"({"a":"qs","id":5,"c":"docs","q":{}})"))),
            "ERR_DATABASE_METHOD_NOT_IMPLEMENTED");
  EXPECT_EQ(a.send(json::parse(R"({"a":"qu","id":5})")), json::parse(R"({"a":"qu","id":5})"));
  a.handler->on_message("{not json");
  EXPECT_EQ(error_code(a.next()), "ERR_MESSAGE_BADLY_FORMED");
  a.handler->on_message(R"({"a":"nope"})");
  EXPECT_EQ(error_code(a.next()), "ERR_MESSAGE_BADLY_FORMED");
  EXPECT_EQ(a.send({{"a", "pp"}}), json::parse(R"({"a":"pp"})"));
  EXPECT_EQ(a.send({{"a", "pr"}, {"ch", "docs.d1"}}), json::parse(R"({"a":"pr"})"));
}

TEST_F(SharedbAdapter, MapsSubmitErrors) {
  auto c = ctx();
  Client a(c, sync, user("u1"));
  a.hs();
  EXPECT_EQ(error_code(a.send(
                json::parse(R"({"a":"op","c":"docs","d":"nope","v":1,"seq":1,"op":["x"]})"))),
            "ERR_DOC_DOES_NOT_EXIST");
  json future = a.send(json::parse(R"({"a":"op","c":"docs","d":"d1","v":9,"seq":2,"op":["x"]})"));
  EXPECT_EQ(error_code(future), "ERR_OP_VERSION_NEWER_THAN_CURRENT_SNAPSHOT");
  EXPECT_EQ(future["v"], 9);
  EXPECT_EQ(error_code(a.send(
                json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":3,"op":[99,"x"]})"))),
            "ERR_OT_OP_NOT_APPLIED");
  EXPECT_EQ(error_code(a.send(json::parse(R"({"a":"op","c":"docs","d":"d1","seq":4,"op":["x"]})"))),
            "ERR_MESSAGE_BADLY_FORMED");  // an edit needs its version

  Client viewer(c, sync, user("viewer"));
  viewer.hs();
  EXPECT_EQ(error_code(viewer.send(
                json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"op":["x"]})"))),
            "ERR_OP_SUBMIT_REJECTED");

  // Someone else's id (they are visible in every broadcast) is refused.
  Client b(c, sync, user("u2"));
  std::string b_src = b.hs();
  json forged = a.send(json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":5,"src":")" +
                                   b_src + R"(","op":["x"]})"));
  EXPECT_EQ(error_code(forged), "ERR_MESSAGE_BADLY_FORMED");
  EXPECT_EQ(sync.text("d1"), "hello");

  // The service going away: the connection closes so the client resends later.
  sync.fail_next_submit = Error::unavailable("shutting down");
  a.post(json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":6,"op":["x"]})"));
  EXPECT_EQ(a.session->wait_closed(), 1013);
}

TEST_F(SharedbAdapter, DuplicateSubmitIsAcknowledged) {
  auto c = ctx();
  Client a(c, sync, user("u1"));
  std::string src = a.hs();
  auto op = json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"op":["x"]})");
  EXPECT_EQ(a.send(op)["v"], 1);
  // After a reconnect the client resends with its old src.
  Client again(c, sync, user("u1"));
  again.send({{"a", "hs"}, {"id", src}});
  op["src"] = src;
  json ack = again.send(op);
  EXPECT_EQ(ack["v"], 1);
  EXPECT_FALSE(ack.contains("error"));
  EXPECT_EQ(sync.text("d1"), "xhello");
}

TEST_F(SharedbAdapter, Presence) {
  auto c = ctx();
  Client a(c, sync, user("u1")), b(c, sync, user("u2"));
  a.hs();
  b.hs();
  json p = json::parse(
      R"({"a":"p","ch":"docs.d1","id":"pa","p":{"index":2,"length":0},"pv":0,"c":"docs","d":"d1","v":1,"t":"http://sharejs.org/types/text-unicode"})");
  EXPECT_EQ(error_code(a.send(p)), "ERR_MESSAGE_BADLY_FORMED");  // not subscribed
  EXPECT_EQ(a.send({{"a", "ps"}, {"ch", "docs.d1"}, {"seq", 1}}),
            json::parse(R"({"a":"ps","ch":"docs.d1","seq":1})"));
  EXPECT_EQ(b.send({{"a", "ps"}, {"ch", "docs.d1"}, {"seq", 1}})["seq"], 1);
  EXPECT_EQ(a.send(p), json::parse(R"({"a":"p","ch":"docs.d1","id":"pa","pv":0})"));
  json got = b.next();
  EXPECT_EQ(got["a"], "p");
  EXPECT_EQ(got["ch"], "docs.d1");
  EXPECT_EQ(got["id"], "pa");
  EXPECT_EQ(got["p"], json::parse(R"({"index":2,"length":0})"));
  EXPECT_EQ(got["v"], 1);
  EXPECT_EQ(got["d"], "d1");
  EXPECT_TRUE(got["pv"].is_number());
  EXPECT_TRUE(a.session->quiet());

  p["p"] = nullptr;
  p["pv"] = 1;
  a.send(p);
  EXPECT_TRUE(b.next()["p"].is_null());
  p["p"] = std::string(5000, 'x');
  p["pv"] = 2;
  EXPECT_EQ(error_code(a.send(p)), "ERR_MESSAGE_BADLY_FORMED");
  EXPECT_EQ(error_code(a.send({{"a", "ps"}, {"ch", "chat.room"}, {"seq", 2}})),
            "ERR_MESSAGE_BADLY_FORMED");
  EXPECT_EQ(b.send({{"a", "pu"}, {"ch", "docs.d1"}, {"seq", 2}}),
            json::parse(R"({"a":"pu","ch":"docs.d1","seq":2})"));
  p["p"] = json::parse(R"({"index":1})");
  p["pv"] = 3;
  a.send(p);
  EXPECT_TRUE(b.session->quiet());
}

TEST_F(SharedbAdapter, LimitsSubscriptionsOpsAndFrameSize) {
  net::testing::FakeSteadyClock clock;
  SharedbOptions o;
  o.limits.max_subscriptions = 2;
  o.limits.ops_per_second = 1;
  o.limits.op_burst = 2;
  o.limits.max_message_bytes = 200;
  o.now = clock.fn();
  auto c = ctx(o);
  sync.add_doc("d2", "");
  sync.add_doc("d3", "");
  Client a(c, sync, user("u1"));
  a.hs();
  a.send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}});
  a.send({{"a", "s"}, {"c", "docs"}, {"d", "d2"}});
  json third = a.send({{"a", "s"}, {"c", "docs"}, {"d", "d3"}});
  EXPECT_EQ(third["d"], "d3");
  EXPECT_EQ(error_code(third), "ERR_RESOURCE_EXHAUSTED");
  a.send({{"a", "u"}, {"c", "docs"}, {"d", "d2"}});
  EXPECT_FALSE(a.send({{"a", "s"}, {"c", "docs"}, {"d", "d3"}}).contains("error"));

  auto op = [&](int seq, int v) {
    return a.send(json{{"a", "op"},
                       {"c", "docs"},
                       {"d", "d2"},
                       {"v", v},
                       {"seq", seq},
                       {"op", json::array({"x"})}});
  };
  EXPECT_FALSE(op(1, 0).contains("error"));
  EXPECT_FALSE(op(2, 1).contains("error"));
  EXPECT_EQ(error_code(op(3, 2)), "ERR_RESOURCE_EXHAUSTED");
  clock.advance(1s);
  EXPECT_FALSE(op(3, 2).contains("error"));

  json big = a.send(json{{"a", "op"},
                         {"c", "docs"},
                         {"d", "d2"},
                         {"v", 3},
                         {"seq", 4},
                         {"op", json::array({std::string(300, 'x')})}});
  EXPECT_EQ(big["seq"], 4);
  EXPECT_EQ(error_code(big), "ERR_MESSAGE_BADLY_FORMED");
}

TEST_F(SharedbAdapter, SubscriptionEndsAreReported) {
  auto c = ctx();
  Client a(c, sync, user("u1"));
  a.hs();
  a.send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}});
  sync.end_all("d1", Error::not_found("document not found"));
  json m = a.next();
  EXPECT_EQ(m["a"], "op");
  EXPECT_EQ(m["d"], "d1");
  EXPECT_EQ(error_code(m), "ERR_DOC_DOES_NOT_EXIST");
  a.send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}});
  sync.end_all("d1", Error::unavailable("shutting down"));
  EXPECT_EQ(a.session->wait_closed(), 1013);
}

TEST_F(SharedbAdapter, ClosingReleasesSubscriptions) {
  auto c = ctx();
  {
    Client a(c, sync, user("u1"));
    a.hs();
    a.send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}});
    a.send({{"a", "ps"}, {"ch", "docs.d1"}, {"seq", 1}});
    EXPECT_EQ(sync.listener_count("d1"), 2u);
  }
  EXPECT_EQ(sync.listener_count("d1"), 0u);
}

TEST_F(SharedbAdapter, SessionEndClosesWith4401) {
  FakeClock clock;
  identity::SessionWatch watch(clock);
  SharedbSessionHooks hooks;
  hooks.watch = [&](const Principal& p, identity::SessionWatch::EndFn end) {
    return watch.add(p, std::move(end));
  };
  auto c = ctx();
  Client a(c, sync, user("u1"), hooks);
  a.hs();
  EXPECT_EQ(watch.size(), 1u);
  EXPECT_EQ(error_code(a.send({{"a", "auth"}, {"token", "t"}})), "ERR_MESSAGE_BADLY_FORMED");
  watch.end_session("t1", "s-u1");
  EXPECT_EQ(a.session->wait_closed(), 4401);
  a.handler->on_close(4401);
  a.handler.reset();
  EXPECT_EQ(watch.size(), 0u);

  // Expired before the socket opened: closed as soon as it opens.
  Principal expired = user("u2");
  expired.expires_at_s = 1;
  Client b(c, sync, expired, hooks);
  EXPECT_EQ(b.session->wait_closed(), 4401);
}

// --- over a real server and WebSocket -------------------------------------

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

struct Ws {
  asio::io_context ioc;
  websocket::stream<asio::ip::tcp::socket> ws{ioc};
  beast::error_code connect(std::uint16_t port, const std::string& target) {
    beast::error_code ec;
    ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    if (ec) return ec;
    timeval tv{5, 0};
    ::setsockopt(ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ws.handshake("127.0.0.1", target, ec);
    return ec;
  }
  json send(const json& m) {
    write(m);
    return read();
  }
  void write(const json& m) {
    ws.text(true);
    ws.write(asio::buffer(m.dump()));
  }
  json read() {
    beast::flat_buffer buf;
    beast::error_code ec;
    ws.read(buf, ec);
    if (ec) return json();
    return json::parse(beast::buffers_to_string(buf.data()));
  }
  int read_until_closed() {
    beast::flat_buffer buf;
    while (true) {
      beast::error_code ec;
      ws.read(buf, ec);
      if (ec) return ec == websocket::error::closed ? ws.reason().code : -1;
      buf.consume(buf.size());
    }
  }
};

TEST_F(SharedbAdapter, OverARealServer) {
  FakeClock clock;
  identity::SessionWatch watch(clock);
  SharedbSessionHooks hooks;
  hooks.watch = [&](const Principal& p, identity::SessionWatch::EndFn end) {
    return watch.add(p, std::move(end));
  };
  auto router = std::make_unique<net::Router>();
  router->set_authenticator([](const net::Request& q) -> Result<Principal> {
    auto t = q.query_param("access_token");
    if (!t || (*t != "u1" && *t != "u2")) return Error::unauthenticated("no token");
    return user(*t);
  });
  register_sharedb_route(*router, sync, hooks,
                         {.limits = {}, .client_id_key = std::string(32, 'k'), .now = {}});
  net::ServerOptions so;
  so.io_threads = 2;
  so.worker_threads = 2;
  so.shutdown_grace = 3s;
  net::testing::TestServer server(so, std::move(router));
  ASSERT_NE(server.port(), 0);
  server.start();

  Ws anonymous;
  EXPECT_TRUE(anonymous.connect(server.port(), "/sharedb"));  // 401: no upgrade

  Ws a, b;
  ASSERT_FALSE(a.connect(server.port(), "/sharedb?access_token=u1"));
  ASSERT_FALSE(b.connect(server.port(), "/sharedb?access_token=u2"));
  std::string src =
      a.send({{"a", "hs"}, {"id", nullptr}, {"protocol", 1}, {"protocolMinor", 2}})["id"];
  b.send({{"a", "hs"}, {"id", nullptr}, {"protocol", 1}, {"protocolMinor", 2}});
  EXPECT_EQ(a.send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}})["data"]["data"], "hello");
  EXPECT_EQ(b.send({{"a", "s"}, {"c", "docs"}, {"d", "d1"}})["data"]["v"], 1);
  EXPECT_EQ(a.send(json::parse(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"op":["¡"]})"))["v"],
            1);
  json op = b.read();
  EXPECT_EQ(op["src"], src);
  EXPECT_EQ(op["op"], json::parse(R"(["¡"])"));

  watch.end_session("t1", "s-u1");  // logout
  EXPECT_EQ(a.read_until_closed(), 4401);
  EXPECT_EQ(b.send({{"a", "pp"}}), json::parse(R"({"a":"pp"})"));  // others unaffected
  b.ws.close(websocket::close_code::normal);
  server.stop_and_join();
}

}  // namespace
}  // namespace office::docs

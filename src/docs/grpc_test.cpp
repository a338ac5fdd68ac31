// DocSync over a real gRPC server and the client library, on the real hub
// and SQLite: convergence, permissions, tenancy, bad input, de-duplication.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <random>
#include <thread>

#include "core/clock.hpp"
#include "core/scheduler.hpp"
#include "docs/grpc_client.hpp"
#include "docs/grpc_server.hpp"
#include "docs/hub.hpp"
#include "docs/schema.hpp"
#include "docs/test_access.hpp"
#include "office/docs/v1/docs.grpc.pb.h"
#include "ot/utf8.hpp"
#include "rpc/server.hpp"
#include "storage/test_util.hpp"

namespace office::docs {
namespace {

namespace pb = office::docs::v1;
using docs::testing::FakeAccess;
using namespace std::chrono_literals;

Principal user(const std::string& id, const std::string& tenant = "t1") {
  Principal p;
  p.tenant_id = tenant;
  p.user_id = id;
  p.role = "member";
  return p;
}

// Tokens are user names; "eve" is of another tenant.
Result<Principal> fake_auth(std::string_view token) {
  if (token == "alice" || token == "bob" || token == "carol" || token == "vic")
    return user(std::string(token));
  if (token == "eve") return user("eve", "t2");
  return Error::unauthenticated("bad token");
}

class DocSyncGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test_db_ = std::make_unique<storage::testing::TestDb>(storage::testing::Backend::kSqlite);
    db_ = &test_db_->db();
    ASSERT_TRUE(db_->migrate(migrations()).ok());
    access_ = std::make_unique<FakeAccess>(*db_);
    pool_ = std::make_unique<ThreadPool>(ThreadPoolOptions{"docs", 2, 4096});
    hub_ = std::make_unique<Hub>(*db_, *access_, *pool_, SystemClock::instance(), scheduler_,
                                 HubOptions{});
    start_server(0);
    // The document: created by alice through the hub (as POST /api/v1/docs does).
    std::promise<Result<SyncService::Submitted>> created;
    SyncService::Submit s;
    s.doc_id = "doc1";
    s.kind = CommittedOp::Kind::kCreate;
    s.create_text = "hello";
    s.src = "rest";
    s.seq = 1;
    hub_->submit(user("alice"), std::move(s), [&](auto r) { created.set_value(std::move(r)); });
    ASSERT_TRUE(created.get_future().get().ok());
    access_->grant("bob", Role::kEditor);
    access_->grant("carol", Role::kEditor);
    access_->grant("vic", Role::kViewer);
  }
  void start_server(std::uint16_t port) {
    GrpcSyncOptions o;
    o.ops_per_second = 1000;
    o.op_burst = 1000;
    service_ = std::make_unique<DocSyncGrpc>(*hub_, o);
    rpc::ServerOptions so;
    so.authenticate = fake_auth;
    so.access_log = false;
    so.port = port;
    server_ = std::make_unique<rpc::Server>(so);
    server_->add_service(service_->service());
    server_->on_shutdown([this] { service_->drain(); });
    auto bound = server_->start();
    ASSERT_TRUE(bound) << bound.error().message;
    port_ = *bound;
    target_ = "127.0.0.1:" + std::to_string(*bound);
  }
  void TearDown() override {
    server_->shutdown();
    hub_->shutdown();
    pool_->shutdown();
  }

  std::unique_ptr<DocSyncClient> client(const std::string& token, const std::string& id) {
    DocSyncClient::Options o;
    o.target = target_;
    o.access_token = token;
    o.client_id = id;
    auto c = DocSyncClient::connect(o);
    EXPECT_TRUE(c) << c.error().message;
    return c ? std::move(*c) : nullptr;
  }
  Snapshot server_snapshot(const std::string& doc = "doc1") {
    std::promise<Result<Snapshot>> p;
    hub_->fetch(user("alice"), doc, [&](auto r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    EXPECT_TRUE(r.ok());
    return r ? *r : Snapshot{};
  }
  // A raw stream, for what the client library never sends.
  struct Raw {
    grpc::ClientContext ctx;
    std::unique_ptr<pb::DocSync::Stub> stub;
    std::unique_ptr<grpc::ClientReaderWriter<pb::EditRequest, pb::EditResponse>> stream;
    pb::EditResponse next() {
      pb::EditResponse r;
      EXPECT_TRUE(stream->Read(&r));
      return r;
    }
  };
  std::unique_ptr<Raw> raw(const std::string& token) {
    auto r = std::make_unique<Raw>();
    auto ch = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
    r->stub = pb::DocSync::NewStub(ch);
    if (!token.empty()) r->ctx.AddMetadata("authorization", "Bearer " + token);
    r->ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    r->stream = r->stub->SyncStream(&r->ctx);
    return r;
  }

  ManualScheduler scheduler_;
  std::unique_ptr<storage::testing::TestDb> test_db_;
  storage::Database* db_ = nullptr;
  std::unique_ptr<FakeAccess> access_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<DocSyncGrpc> service_;
  std::unique_ptr<rpc::Server> server_;
  std::string target_;
  std::uint16_t port_ = 0;
};

TEST_F(DocSyncGrpcTest, ConcurrentRandomEditsConvergeToTheServersText) {
  const std::vector<std::string> pieces = {"a", "xyz", "😀", "漢字", "🇫🇷", " ", "é"};
  std::vector<std::unique_ptr<DocSyncClient>> clients;
  for (const char* who : {"alice", "bob", "carol"}) {
    clients.push_back(client(who, std::string("c-") + who));
    ASSERT_TRUE(clients.back());
    ASSERT_TRUE(clients.back()->open("doc1").ok());
    EXPECT_EQ(clients.back()->text("doc1"), "hello");
  }
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < clients.size(); ++i)
    threads.emplace_back([&, i] {
      std::mt19937 rng(static_cast<unsigned>(i) * 7919 + 1);
      for (int n = 0; n < 60; ++n) {
        DocSyncClient& c = *clients[i];
        std::string text = c.text("doc1");
        auto len = static_cast<std::int64_t>(ot::utf8::count(text));
        ot::Op op;
        if (len > 0 && rng() % 3 == 0) {
          auto pos = static_cast<std::uint64_t>(rng() % len);
          auto n_del =
              std::min<std::uint64_t>(1 + rng() % 3, static_cast<std::uint64_t>(len) - pos);
          op = ot::make_remove(pos, n_del);
        } else {
          auto pos = static_cast<std::uint64_t>(rng() % (len + 1));
          op = ot::make_insert(pos, pieces[rng() % pieces.size()]);
        }
        // The text may have moved under us (a remote op): an op made on a
        // stale copy can fail to apply; that is the caller's race, retry.
        if (!c.edit("doc1", op).ok()) continue;
        if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 5));
      }
    });
  for (auto& t : threads) t.join();
  for (auto& c : clients) ASSERT_TRUE(c->sync("doc1").ok());
  auto snap = server_snapshot();
  EXPECT_GT(snap.version, 3);  // edits made while one is in flight are composed
  EXPECT_NE(snap.text, "hello");
  for (auto& c : clients) {
    auto st = c->sync("doc1", snap.version, 20s);
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_EQ(c->version("doc1"), snap.version);
    EXPECT_EQ(c->text("doc1"), snap.text);
  }
}

TEST_F(DocSyncGrpcTest, AViewerReadsButItsOpIsRefused) {
  auto vic = client("vic", "v1");
  ASSERT_TRUE(vic->open("doc1").ok());
  EXPECT_EQ(vic->text("doc1"), "hello");
  ASSERT_TRUE(vic->edit("doc1", ot::make_insert(0, "X")).ok());  // locally
  auto st = vic->sync("doc1");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(server_snapshot().text, "hello");

  // It still receives others' ops.
  auto vic2 = client("vic", "v2");
  ASSERT_TRUE(vic2->open("doc1").ok());
  auto bob = client("bob", "b1");
  ASSERT_TRUE(bob->open("doc1").ok());
  ASSERT_TRUE(bob->edit("doc1", ot::make_insert(5, "!")).ok());
  ASSERT_TRUE(bob->sync("doc1").ok());
  ASSERT_TRUE(vic2->sync("doc1", bob->version("doc1")).ok());
  EXPECT_EQ(vic2->text("doc1"), "hello!");
}

TEST_F(DocSyncGrpcTest, AnotherTenantSeesNothingAndNoTokenIsUnauthenticated) {
  // Another tenant's "doc1" is a different document, which nobody created.
  auto eve = client("eve", "e1");
  ASSERT_TRUE(eve->open("doc1").ok());
  EXPECT_EQ(eve->text("doc1"), "");
  EXPECT_EQ(eve->version("doc1"), 0);
  ASSERT_TRUE(eve->edit("doc1", ot::make_insert(0, "mine")).ok());
  auto st = eve->sync("doc1");
  ASSERT_FALSE(st.ok());  // an op on a document that was never created
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(server_snapshot().text, "hello");

  auto anon = raw("");
  pb::EditResponse r;
  EXPECT_FALSE(anon->stream->Read(&r));
  auto fin = anon->stream->Finish();
  EXPECT_EQ(fin.error_code(), grpc::UNAUTHENTICATED);

  auto forged = raw("forged");
  EXPECT_FALSE(forged->stream->Read(&r));
  EXPECT_EQ(forged->stream->Finish().error_code(), grpc::UNAUTHENTICATED);
}

TEST_F(DocSyncGrpcTest, BadRequestsGetAnErrorEachAndTheStreamGoesOn) {
  auto s = raw("bob");
  auto expect_error = [&](pb::EditRequest req, const std::string& code, const std::string& what) {
    ASSERT_TRUE(s->stream->Write(req));
    auto r = s->next();
    ASSERT_EQ(r.result_case(), pb::EditResponse::kError) << r.DebugString();
    EXPECT_EQ(r.error().code(), code) << what;
    EXPECT_FALSE(r.error().message().empty());
  };
  pb::EditRequest req;
  req.set_doc_id("doc1");
  req.set_client_id("b/ad");
  req.set_subscribe(true);
  expect_error(req, "INVALID_ARGUMENT", "client id with a slash");
  req.set_client_id("ok-1");
  req.set_doc_id("bad/id");
  expect_error(req, "INVALID_ARGUMENT", "doc id");
  req.set_doc_id("doc1");
  req.add_op()->set_insert("x");
  expect_error(req, "INVALID_ARGUMENT", "subscribe and op together");
  req.clear_subscribe();
  req.set_base_version(1);
  req.set_seq(1);
  req.clear_op();
  req.add_op()->set_skip(0);
  expect_error(req, "INVALID_ARGUMENT", "skip 0");
  req.clear_op();
  req.add_op()->set_skip(99);
  req.add_op()->set_insert("x");
  expect_error(req, "INVALID_ARGUMENT", "skip past the end");
  req.clear_op();
  req.add_op();  // empty component
  expect_error(req, "INVALID_ARGUMENT", "empty component");
  req.clear_op();
  req.add_op()->set_insert("x");
  req.set_base_version(50);
  expect_error(req, "FAILED_PRECONDITION", "version from the future");
  req.set_base_version(1);
  req.set_seq(0);
  expect_error(req, "INVALID_ARGUMENT", "seq 0");
  req.set_doc_id("nobody-has-this");
  req.set_seq(2);
  expect_error(req, "NOT_FOUND", "an op on a document that does not exist");

  // Still working: a good op is acknowledged.
  req.set_doc_id("doc1");
  req.set_seq(3);
  ASSERT_TRUE(s->stream->Write(req));
  auto r = s->next();
  ASSERT_EQ(r.result_case(), pb::EditResponse::kAck) << r.DebugString();
  EXPECT_EQ(r.ack().version(), 1);
  EXPECT_EQ(server_snapshot().text, "xhello");
  EXPECT_EQ(server_snapshot().version, 2);
}

TEST_F(DocSyncGrpcTest, AResubmittedOpLandsOnceAndTheSrcIsScopedToItsUser) {
  pb::EditRequest req;
  req.set_doc_id("doc1");
  req.set_client_id("laptop");
  req.set_seq(1);
  req.set_base_version(1);
  req.add_op()->set_insert(">");
  {
    auto s = raw("bob");
    ASSERT_TRUE(s->stream->Write(req));
    auto r = s->next();
    ASSERT_EQ(r.result_case(), pb::EditResponse::kAck);
    EXPECT_FALSE(r.ack().duplicate());
  }
  {  // reconnected: the ack was lost; the same op again
    auto s = raw("bob");
    ASSERT_TRUE(s->stream->Write(req));
    auto r = s->next();
    ASSERT_EQ(r.result_case(), pb::EditResponse::kAck);
    EXPECT_TRUE(r.ack().duplicate());
  }
  {  // carol with bob's client id and seq is someone else: her op lands
    auto s = raw("carol");
    ASSERT_TRUE(s->stream->Write(req));
    pb::EditResponse r = s->next();
    while (r.result_case() == pb::EditResponse::kOp) r = s->next();  // missed ops first
    ASSERT_EQ(r.result_case(), pb::EditResponse::kAck);
    EXPECT_FALSE(r.ack().duplicate());
  }
  EXPECT_EQ(server_snapshot().text, ">>hello");
  // A subscriber sees whose op it was.
  auto s = raw("alice");
  pb::EditRequest sub;
  sub.set_doc_id("doc1");
  sub.set_client_id("a");
  sub.set_subscribe(true);
  sub.set_from_version(1);
  ASSERT_TRUE(s->stream->Write(sub));
  auto r1 = s->next();
  ASSERT_EQ(r1.result_case(), pb::EditResponse::kOp);
  EXPECT_EQ(r1.op().src(), "bob/laptop");
  EXPECT_EQ(r1.op().version(), 1);
  auto r2 = s->next();
  EXPECT_EQ(r2.op().src(), "carol/laptop");
}

TEST_F(DocSyncGrpcTest, RevokingAccessEndsTheSubscriptionAtOnce) {
  auto s = raw("bob");
  pb::EditRequest sub;
  sub.set_doc_id("doc1");
  sub.set_client_id("b");
  sub.set_subscribe(true);
  ASSERT_TRUE(s->stream->Write(sub));
  auto snap = s->next();
  ASSERT_EQ(snap.result_case(), pb::EditResponse::kSnapshot);
  EXPECT_EQ(snap.snapshot().text(), "hello");
  access_->grant("bob", Role::kNone);
  hub_->access_changed("t1", "doc1");  // what the catalogue does on revoke
  auto r = s->next();
  ASSERT_EQ(r.result_case(), pb::EditResponse::kError) << r.DebugString();
  EXPECT_EQ(r.error().code(), "NOT_FOUND");
  EXPECT_EQ(r.error().seq(), 0);
  // And nothing more arrives from it: alice's next op is not delivered; the
  // next thing bob hears is the answer to his own (refused) op.
  auto alice = client("alice", "a1");
  ASSERT_TRUE(alice->open("doc1").ok());
  ASSERT_TRUE(alice->edit("doc1", ot::make_insert(0, "A")).ok());
  ASSERT_TRUE(alice->sync("doc1").ok());
  pb::EditRequest op;
  op.set_doc_id("doc1");
  op.set_seq(1);
  op.set_base_version(2);
  op.add_op()->set_insert("B");
  ASSERT_TRUE(s->stream->Write(op));
  auto refused = s->next();
  ASSERT_EQ(refused.result_case(), pb::EditResponse::kError) << refused.DebugString();
  EXPECT_EQ(refused.error().code(), "NOT_FOUND");
  EXPECT_EQ(refused.error().seq(), 1);
  EXPECT_EQ(server_snapshot().text, "Ahello");
}

TEST_F(DocSyncGrpcTest, TheClientReconnectsAcrossAServerRestartAndEveryEditLandsOnce) {
  auto bob = client("bob", "b-restart");
  ASSERT_TRUE(bob->open("doc1").ok());
  auto alice = client("alice", "a-restart");
  ASSERT_TRUE(alice->open("doc1").ok());
  std::atomic<bool> stop{false};
  std::atomic<int> made{0};
  std::thread typist([&] {
    while (!stop) {
      if (bob->edit("doc1", ot::make_insert(0, "b")).ok()) made++;
      std::this_thread::sleep_for(2ms);
    }
  });
  std::this_thread::sleep_for(150ms);
  // The server goes (its streams are ended: UNAVAILABLE) and comes back on
  // the same port; bob keeps typing throughout.
  server_->shutdown();
  server_.reset();
  service_.reset();
  std::this_thread::sleep_for(100ms);
  start_server(port_);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(alice->edit("doc1", ot::make_insert(0, "a")).ok());
  std::this_thread::sleep_for(300ms);
  stop = true;
  typist.join();
  ASSERT_TRUE(bob->sync("doc1", 0, 20s).ok());
  ASSERT_TRUE(alice->sync("doc1", 0, 20s).ok());
  auto snap = server_snapshot();
  ASSERT_TRUE(bob->sync("doc1", snap.version, 20s).ok());
  ASSERT_TRUE(alice->sync("doc1", snap.version, 20s).ok());
  EXPECT_EQ(bob->text("doc1"), snap.text);
  EXPECT_EQ(alice->text("doc1"), snap.text);
  EXPECT_GE(bob->reconnects(), 1);
  EXPECT_GE(alice->reconnects(), 1);
  // Exactly once: as many b's as bob typed, five a's, and the rest.
  EXPECT_EQ(std::count(snap.text.begin(), snap.text.end(), 'b'), made.load());
  EXPECT_EQ(std::count(snap.text.begin(), snap.text.end(), 'a'), 5);
  EXPECT_TRUE(snap.text.ends_with("hello"));
  EXPECT_GT(made.load(), 20);
}

}  // namespace
}  // namespace office::docs

// The catalogue's REST routes as the server runs them (router match, the I/O
// thread's part, then the executor's), authenticated by the identity module's
// real tokens. Every body is parsed, unknown fields refused, into its message
// of api/office/docs/v1/docs.proto: the JSON is that proto3 mapping.
#include "docs/http_routes.hpp"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "docs/catalog.hpp"
#include "docs/schema.hpp"
#include "identity/http_routes.hpp"
#include "identity/service_impl.hpp"
#include "identity/store.hpp"
#include "office/docs/v1/docs.pb.h"
#include "storage/test_util.hpp"

namespace office::docs {
namespace {

namespace pb = office::docs::v1;
using net::Method;
using storage::testing::Backend;
using storage::testing::BackendParamName;
using storage::testing::TestDb;

constexpr const char* kPassword = "tulip-orbit-9371";

class DocsRoutesTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    test_db_ = std::make_unique<TestDb>(GetParam());
    auto& db = test_db_->db();
    ASSERT_TRUE(db.migrate(identity::store::migrations()).ok());
    ASSERT_TRUE(db.migrate(migrations()).ok());
    identity_ = std::make_unique<identity::IdentityServiceImpl>(
        db, clock_, identity::PasswordHasher::for_tests(), identity::IdentityOptions{});
    ASSERT_TRUE(identity_->bootstrap("admin@example.com", kPassword).ok());
    auto admin = principal(token_of("admin@example.com"));
    ASSERT_TRUE(identity_->create_user(admin, {"anna@example.com", kPassword, ""}).ok());
    ASSERT_TRUE(identity_->create_user(admin, {"bob@example.com", kPassword, ""}).ok());
    auto beta = identity_->create_tenant(
        admin, identity::NewTenant{"beta", "Beta", "boss@beta.test", kPassword});
    ASSERT_TRUE(beta.ok());
    anna_ = token_of("anna@example.com");
    bob_ = token_of("bob@example.com");
    beta_ = token_of("boss@beta.test", "beta");
    bob_id_ = principal(bob_).user_id;
    catalog_ = std::make_unique<Catalog>(db, *identity_, clock_);
    // As the app composes them: identity sets the router's authenticator.
    identity::register_routes(router_, *identity_);
    register_routes(router_, *catalog_);
  }
  void TearDown() override {
    catalog_.reset();
    identity_.reset();
    test_db_.reset();
  }

  std::string token_of(const std::string& email, const std::string& tenant = "") {
    auto t = identity_->login(email, kPassword, tenant);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
    return t.ok() ? t->access_token : "";
  }
  Principal principal(const std::string& token) {
    auto p = identity_->authenticate(token);
    EXPECT_TRUE(p.ok());
    return p.ok() ? *p : Principal{};
  }

  net::Response call(const std::string& token, Method m, const std::string& target,
                     const std::string& body = {}) {
    net::Request req;
    req.method = m;
    req.target = target;
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    req.body = body;
    if (!token.empty()) req.headers.emplace_back("authorization", "Bearer " + token);
    auto match = router_.match(req);
    if (match.error) return *match.error;
    if (auto fast = router_.serve_nonblocking(req, match)) return *fast;
    return router_.serve(req, match);
  }

  template <class Msg>
  Msg parse(const net::Response& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    Msg msg;
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = false;
    auto st = google::protobuf::util::JsonStringToMessage(r.body, &msg, opts);
    EXPECT_TRUE(st.ok()) << st.ToString() << "\nbody: " << r.body;
    return msg;
  }
  // The error code of an error response with `status`.
  std::string error(const net::Response& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("error")) return "(not an error body: " + r.body + ")";
    return j["error"].value("code", "");
  }

  FakeClock clock_;
  std::unique_ptr<TestDb> test_db_;
  std::unique_ptr<identity::IdentityServiceImpl> identity_;
  std::unique_ptr<Catalog> catalog_;
  net::Router router_;
  std::string anna_, bob_, beta_, bob_id_;
};

INSTANTIATE_TEST_SUITE_P(Backends, DocsRoutesTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendParamName);

TEST_P(DocsRoutesTest, DocumentsLifecycleIsProto3Json) {
  auto made =
      parse<pb::Document>(call(anna_, Method::kPost, "/api/v1/docs", R"({"title":" Plan "})"), 201);
  EXPECT_EQ(made.title(), "Plan");
  EXPECT_EQ(made.version(), 1);
  EXPECT_EQ(made.role(), "owner");
  EXPECT_GT(made.create_time().seconds(), 0);
  EXPECT_FALSE(made.has_trash_time());
  const std::string doc = "/api/v1/docs/" + made.id();
  auto untitled = parse<pb::Document>(call(anna_, Method::kPost, "/api/v1/docs"), 201);
  EXPECT_EQ(untitled.title(), "Untitled");

  EXPECT_EQ(parse<pb::Document>(call(anna_, Method::kGet, doc), 200).id(), made.id());
  clock_.advance(std::chrono::seconds(1));
  auto renamed =
      parse<pb::Document>(call(anna_, Method::kPatch, doc, R"({"title":"Plan B"})"), 200);
  EXPECT_EQ(renamed.title(), "Plan B");

  auto page = parse<pb::ListDocumentsResponse>(
      call(anna_, Method::kGet, "/api/v1/docs?pageSize=1&q=plan"), 200);
  ASSERT_EQ(page.documents_size(), 1);
  EXPECT_EQ(page.documents(0).title(), "Plan B");
  EXPECT_TRUE(page.next_page_token().empty());
  page =
      parse<pb::ListDocumentsResponse>(call(anna_, Method::kGet, "/api/v1/docs?pageSize=1"), 200);
  ASSERT_EQ(page.documents_size(), 1);
  EXPECT_EQ(page.documents(0).title(), "Plan B");  // most recently updated first
  ASSERT_FALSE(page.next_page_token().empty());
  page = parse<pb::ListDocumentsResponse>(
      call(anna_, Method::kGet, "/api/v1/docs?pageSize=1&pageToken=" + page.next_page_token()),
      200);
  ASSERT_EQ(page.documents_size(), 1);
  EXPECT_EQ(page.documents(0).title(), "Untitled");

  auto versions =
      parse<pb::ListVersionsResponse>(call(anna_, Method::kGet, doc + "/versions"), 200);
  ASSERT_EQ(versions.versions_size(), 1);
  EXPECT_EQ(versions.versions(0).version(), 0);
  EXPECT_EQ(versions.versions(0).kind(), "create");

  // DELETE moves it to the trash; ?permanent=true deletes it from there.
  EXPECT_EQ(error(call(anna_, Method::kDelete, doc + "?permanent=true"), 412),
            "FAILED_PRECONDITION");
  auto trashed = parse<pb::Document>(call(anna_, Method::kDelete, doc), 200);
  EXPECT_TRUE(trashed.has_trash_time());
  auto trash =
      parse<pb::ListDocumentsResponse>(call(anna_, Method::kGet, "/api/v1/docs?trashed=true"), 200);
  ASSERT_EQ(trash.documents_size(), 1);
  EXPECT_EQ(trash.documents(0).id(), made.id());
  auto restored = parse<pb::Document>(call(anna_, Method::kPost, doc + "/restore"), 200);
  EXPECT_FALSE(restored.has_trash_time());
  parse<pb::Document>(call(anna_, Method::kDelete, doc), 200);
  auto gone = call(anna_, Method::kDelete, doc + "?permanent=true");
  EXPECT_EQ(gone.status, 204) << gone.body;
  EXPECT_EQ(error(call(anna_, Method::kGet, doc), 404), "NOT_FOUND");
}

TEST_P(DocsRoutesTest, SharesAreGrantedListedAndRevoked) {
  auto made = parse<pb::Document>(call(anna_, Method::kPost, "/api/v1/docs", "{}"), 201);
  const std::string doc = "/api/v1/docs/" + made.id();
  EXPECT_EQ(error(call(bob_, Method::kGet, doc), 404), "NOT_FOUND");
  auto s =
      parse<pb::Share>(call(anna_, Method::kPost, doc + "/shares",
                            R"({"kind":"user","granteeId":")" + bob_id_ + R"(","role":"editor"})"),
                       200);
  EXPECT_EQ(s.kind(), "user");
  EXPECT_EQ(s.grantee_id(), bob_id_);
  EXPECT_EQ(s.role(), "editor");
  parse<pb::Share>(
      call(anna_, Method::kPost, doc + "/shares", R"({"kind":"tenant","role":"viewer"})"), 200);
  auto list = parse<pb::ListSharesResponse>(call(anna_, Method::kGet, doc + "/shares"), 200);
  ASSERT_EQ(list.shares_size(), 2);
  EXPECT_EQ(list.shares(1).kind(), "tenant");
  EXPECT_EQ(list.shares(1).grantee_id(), "");

  EXPECT_EQ(parse<pb::Document>(call(bob_, Method::kGet, doc), 200).role(), "editor");
  EXPECT_EQ(
      parse<pb::Document>(call(bob_, Method::kPatch, doc, R"({"title":"bob's"})"), 200).title(),
      "bob's");
  EXPECT_EQ(error(call(bob_, Method::kGet, doc + "/shares"), 403), "PERMISSION_DENIED");
  EXPECT_EQ(error(call(bob_, Method::kDelete, doc), 403), "PERMISSION_DENIED");

  EXPECT_EQ(call(anna_, Method::kDelete, doc + "/shares/user/" + bob_id_).status, 204);
  EXPECT_EQ(parse<pb::Document>(call(bob_, Method::kGet, doc), 200).role(), "viewer");
  EXPECT_EQ(error(call(anna_, Method::kDelete, doc + "/shares/tenant/x"), 400), "INVALID_ARGUMENT");
  EXPECT_EQ(call(anna_, Method::kDelete, doc + "/shares/tenant/-").status, 204);
  EXPECT_EQ(error(call(bob_, Method::kGet, doc), 404), "NOT_FOUND");
  EXPECT_EQ(error(call(anna_, Method::kDelete, doc + "/shares/tenant/-"), 404), "NOT_FOUND");
}

TEST_P(DocsRoutesTest, BadRequestsAndOtherTenantsAreRefused) {
  auto made = parse<pb::Document>(call(anna_, Method::kPost, "/api/v1/docs", "{}"), 201);
  const std::string doc = "/api/v1/docs/" + made.id();
  // No token: 401 before any handler runs.
  EXPECT_EQ(error(call("", Method::kGet, "/api/v1/docs"), 401), "UNAUTHENTICATED");
  EXPECT_EQ(error(call("", Method::kGet, doc), 401), "UNAUTHENTICATED");
  // Another tenant: every route answers 404.
  EXPECT_EQ(error(call(beta_, Method::kGet, doc), 404), "NOT_FOUND");
  EXPECT_EQ(error(call(beta_, Method::kPatch, doc, R"({"title":"x"})"), 404), "NOT_FOUND");
  EXPECT_EQ(error(call(beta_, Method::kDelete, doc), 404), "NOT_FOUND");
  EXPECT_EQ(error(call(beta_, Method::kGet, doc + "/shares"), 404), "NOT_FOUND");
  EXPECT_EQ(error(call(beta_, Method::kGet, doc + "/versions"), 404), "NOT_FOUND");
  EXPECT_EQ(parse<pb::ListDocumentsResponse>(call(beta_, Method::kGet, "/api/v1/docs"), 200)
                .documents_size(),
            0);
  // Bad input: 400 naming what is wrong.
  for (const char* target :
       {"/api/v1/docs?pageSize=0", "/api/v1/docs?pageSize=501", "/api/v1/docs?pageSize=x",
        "/api/v1/docs?pageToken=!!", "/api/v1/docs?trashed=yes"}) {
    EXPECT_EQ(error(call(anna_, Method::kGet, target), 400), "INVALID_ARGUMENT") << target;
  }
  EXPECT_EQ(error(call(anna_, Method::kGet, doc + "/versions?pageToken=zz!"), 400),
            "INVALID_ARGUMENT");
  EXPECT_EQ(error(call(anna_, Method::kDelete, doc + "?permanent=1"), 400), "INVALID_ARGUMENT");
  const std::string too_long = R"({"title":")" + std::string(201, 'x') + R"("})";
  for (const std::string& body : std::vector<std::string>{
           R"({"title":1})", R"({"name":"x"})", "not json", too_long, R"({"title":"a\u0001b"})"}) {
    EXPECT_EQ(error(call(anna_, Method::kPost, "/api/v1/docs", body), 400), "INVALID_ARGUMENT")
        << body;
    EXPECT_EQ(error(call(anna_, Method::kPatch, doc, body), 400), "INVALID_ARGUMENT") << body;
  }
  EXPECT_EQ(error(call(anna_, Method::kPatch, doc, "{}"), 400), "INVALID_ARGUMENT");
  for (const char* body :
       {R"({"kind":"team","role":"viewer"})", R"({"kind":"user","granteeId":"x","role":"owner"})",
        R"({"kind":"user","role":"viewer"})", R"({"role":"viewer"})"}) {
    EXPECT_EQ(error(call(anna_, Method::kPost, doc + "/shares", body), 400), "INVALID_ARGUMENT")
        << body;
  }
  EXPECT_EQ(error(call(anna_, Method::kDelete, doc + "/shares/team/x"), 400), "INVALID_ARGUMENT");
  EXPECT_EQ(error(call(anna_, Method::kGet, "/api/v1/docs/not%20an%20id"), 404), "NOT_FOUND");
}

}  // namespace
}  // namespace office::docs

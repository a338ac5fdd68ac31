// The REST bodies are the proto3 JSON mapping of the messages in api/: every
// response parses, with unknown fields rejected, into its protobuf message.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/ids.hpp"
#include "identity/http_routes.hpp"
#include "identity/service_impl.hpp"
#include "identity/store.hpp"
#include "office/user/v1/user.pb.h"

namespace office::app {
namespace {

namespace fs = std::filesystem;
namespace pb = office::user::v1;

class ProtoJson : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("protojson-" + new_id());
    fs::create_directories(dir_);
    auto db = storage::open_sqlite({.path = (dir_ / "office.db").string()});
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    ASSERT_TRUE(db_->migrate(identity::store::migrations()).ok());
    svc_ = std::make_unique<identity::IdentityServiceImpl>(
        *db_, clock_, identity::PasswordHasher::for_tests(), identity::IdentityOptions{});
    ASSERT_TRUE(svc_->bootstrap("admin@example.com", "tulip-orbit-9371").ok());
    identity::register_routes(router_, *svc_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  net::Response call(net::Method m, const std::string& path, const std::string& body = {}) {
    net::Request req;
    req.method = m;
    req.path = path;
    req.target = path;
    req.body = body;
    if (!token_.empty()) req.headers.emplace_back("authorization", "Bearer " + token_);
    auto match = router_.match(req);
    if (match.error) return *match.error;
    // As the server does: the I/O thread's part (cache, fast path), then the executor's.
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

  fs::path dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<identity::IdentityServiceImpl> svc_;
  net::Router router_;
  std::string token_;
};

TEST_F(ProtoJson, IdentityResponsesAreProto3Json) {
  auto login = parse<pb::LoginResponse>(
      call(net::Method::kPost, "/api/v1/auth/login",
           R"({"email":"admin@example.com","password":"tulip-orbit-9371"})"),
      200);
  EXPECT_EQ(login.user().email(), "admin@example.com");
  EXPECT_EQ(login.token_type(), "Bearer");
  EXPECT_GT(login.expires_in(), 0);
  EXPECT_GT(login.user().create_time().seconds(), 0);
  token_ = login.access_token();

  auto me = parse<pb::User>(call(net::Method::kGet, "/api/v1/users/me"), 200);
  EXPECT_EQ(me.id(), login.user().id());
  EXPECT_TRUE(me.platform_admin());

  auto user = parse<pb::User>(call(net::Method::kPost, "/api/v1/users",
                                   R"({"email":"b@example.com","password":"maple-quartz-88"})"),
                              201);
  auto group = parse<pb::Group>(
      call(net::Method::kPost, "/api/v1/groups",
           R"({"name":"g","member_ids":[")" + user.id() + R"("]})"),  // snake_case accepted
      201);
  EXPECT_EQ(group.member_ids_size(), 1);
  auto appointed = parse<pb::User>(
      call(net::Method::kPatch, "/api/v1/users/" + user.id(), R"({"platformAdmin":true})"), 200);
  EXPECT_TRUE(appointed.platform_admin());
  auto users = parse<pb::ListUsersResponse>(call(net::Method::kGet, "/api/v1/users"), 200);
  EXPECT_EQ(users.users_size(), 2);
  auto groups = parse<pb::ListGroupsResponse>(call(net::Method::kGet, "/api/v1/groups"), 200);
  EXPECT_EQ(groups.groups_size(), 1);
  auto made = parse<pb::CreateTenantResponse>(
      call(net::Method::kPost, "/api/v1/tenants",
           R"({"slug":"acme","adminEmail":"a@acme.test","adminPassword":"maple-quartz-88"})"),
      201);
  EXPECT_EQ(made.tenant().slug(), "acme");
  auto tenants = parse<pb::ListTenantsResponse>(call(net::Method::kGet, "/api/v1/tenants"), 200);
  EXPECT_EQ(tenants.tenants_size(), 2);
  auto refreshed =
      parse<pb::LoginResponse>(call(net::Method::kPost, "/api/v1/auth/refresh",
                                    R"({"refreshToken":")" + login.refresh_token() + R"("})"),
                               200);
  EXPECT_NE(refreshed.refresh_token(), login.refresh_token());
  token_.clear();  // public
  auto jwks = parse<pb::JwkSet>(call(net::Method::kGet, "/.well-known/jwks.json"), 200);
  ASSERT_EQ(jwks.keys_size(), 1);
  EXPECT_EQ(jwks.keys(0).kty(), "OKP");
  EXPECT_EQ(jwks.keys(0).crv(), "Ed25519");
  EXPECT_FALSE(jwks.keys(0).kid().empty());
}

}  // namespace
}  // namespace office::app

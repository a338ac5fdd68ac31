#include "identity/service_impl.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/hex.hpp"
#include "core/ids.hpp"
#include "core/sha256.hpp"
#include "identity/store.hpp"
#include "storage/test_util.hpp"
#include "storage/transact.hpp"

namespace office::identity {
namespace {

namespace fs = std::filesystem;

using storage::testing::Backend;
using storage::testing::BackendParamName;
using storage::testing::TestDb;

// Every test runs on SQLite and on PostgreSQL, with each write callback
// rehearsed (storage::testing::test_write_options), which catches callbacks
// that are not safe to retry.
class IdentityServiceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    test_db_ = std::make_unique<TestDb>(GetParam());
    db_ = &test_db_->db();
    auto migrated = db_->migrate(store::migrations());
    ASSERT_TRUE(migrated.ok()) << migrated.error().message;
    svc_ = std::make_unique<IdentityServiceImpl>(
        *db_, clock_, PasswordHasher::for_tests(),
        IdentityOptions{.access_ttl_s = 60, .refresh_ttl_s = 3600});
    auto boot = svc_->bootstrap("Admin@Example.com", "tulip-orbit-9371");
    ASSERT_TRUE(boot.ok()) << boot.error().message;
    admin_ = login("admin@example.com", "tulip-orbit-9371");
  }
  void TearDown() override {
    svc_.reset();
    test_db_.reset();
  }
  Principal login(const std::string& email, const std::string& password,
                  const std::string& tenant = "") {
    auto t = svc_->login(email, password, tenant);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
    auto p = svc_->authenticate(t->access_token);
    EXPECT_TRUE(p.ok());
    return *p;
  }

  FakeClock clock_;
  std::unique_ptr<TestDb> test_db_;
  storage::Database* db_ = nullptr;
  std::unique_ptr<IdentityServiceImpl> svc_;
  Principal admin_;
};

INSTANTIATE_TEST_SUITE_P(Backends, IdentityServiceTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendParamName);

TEST_P(IdentityServiceTest, BootstrapOnlyOnce) {
  EXPECT_TRUE(admin_.is_admin());
  EXPECT_TRUE(admin_.platform_admin);
  auto again = svc_->bootstrap("other@example.com", "");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  EXPECT_FALSE(svc_->login("other@example.com", "whatever1", "").ok());
}

TEST_P(IdentityServiceTest, GeneratedAdminPassword) {
  TestDb other(GetParam());
  ASSERT_TRUE(other->migrate(store::migrations()).ok());
  IdentityServiceImpl svc(*other, clock_, PasswordHasher::for_tests(), IdentityOptions{});
  auto boot = svc.bootstrap("root@example.com", "");
  ASSERT_TRUE(boot.ok());
  ASSERT_TRUE(boot->has_value());
  EXPECT_GE((*boot)->size(), 16u);
  EXPECT_TRUE(svc.login("root@example.com", **boot, "default").ok());
}

TEST_P(IdentityServiceTest, LoginFailuresAreUniform) {
  for (auto [email, pw, tenant] : {std::tuple{"admin@example.com", "wrong-password", ""},
                                   std::tuple{"nobody@example.com", "tulip-orbit-9371", ""},
                                   std::tuple{"admin@example.com", "tulip-orbit-9371", "nope"}}) {
    auto r = svc_->login(email, pw, tenant);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
    EXPECT_EQ(r.error().message, "invalid credentials");
  }
  EXPECT_EQ(svc_->login("not-an-email", "x", "").error().code, ErrorCode::kInvalidArgument);
}

TEST_P(IdentityServiceTest, FailedLoginsAreRateLimited) {
  const LoginLimits defaults;  // pair tier: 5 failures, then 1 s, 2 s, ...
  for (std::uint32_t i = 0; i < defaults.pair_max_failures + 1; ++i)
    EXPECT_EQ(svc_->login("admin@example.com", "wrong-guess-99", "", "10.1.1.1").error().code,
              ErrorCode::kUnauthenticated);
  // Blocked now: even the right password is not looked at.
  auto blocked = svc_->login("admin@example.com", "tulip-orbit-9371", "", "10.1.1.1");
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(blocked.error().retry_after_s, 1);
  EXPECT_EQ(blocked.error().message, "too many failed logins; retry in 1 s");
  // The user at another address is not locked out.
  EXPECT_TRUE(svc_->login("admin@example.com", "tulip-orbit-9371", "", "10.2.2.2").ok());
  // Unknown accounts and unknown tenants are limited the same way.
  for (std::uint32_t i = 0; i < defaults.pair_max_failures + 1; ++i)
    (void)svc_->login("ghost@example.com", "wrong-guess-99", "nope", "10.1.1.1");
  EXPECT_EQ(svc_->login("ghost@example.com", "x-any-pw-1", "nope", "10.1.1.1").error().code,
            ErrorCode::kResourceExhausted);
  clock_.advance(std::chrono::seconds(1));
  auto later = svc_->login("admin@example.com", "tulip-orbit-9371", "", "10.1.1.1");
  ASSERT_TRUE(later.ok()) << later.error().message;
  // Success cleared the pair: the next mistake does not block at once.
  EXPECT_EQ(svc_->login("admin@example.com", "wrong-guess-99", "", "10.1.1.1").error().code,
            ErrorCode::kUnauthenticated);
  EXPECT_TRUE(svc_->login("admin@example.com", "tulip-orbit-9371", "", "10.1.1.1").ok());
}

TEST_P(IdentityServiceTest, AccessTokenExpires) {
  auto t = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(svc_->authenticate(t->access_token).ok());
  clock_.advance(std::chrono::seconds(61 + 30));  // ttl + leeway
  EXPECT_FALSE(svc_->authenticate(t->access_token).ok());
}

TEST_P(IdentityServiceTest, RefreshRotatesAndDetectsReplay) {
  auto t = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  ASSERT_TRUE(t.ok());
  auto r1 = svc_->refresh(t->refresh_token);
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  EXPECT_NE(r1->refresh_token, t->refresh_token);
  EXPECT_TRUE(svc_->authenticate(r1->access_token).ok());
  // Replaying the first token revokes the session: the new tokens die too.
  auto replay = svc_->refresh(t->refresh_token);
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.error().code, ErrorCode::kUnauthenticated);
  EXPECT_FALSE(svc_->authenticate(r1->access_token).ok());
  EXPECT_FALSE(svc_->refresh(r1->refresh_token).ok());
  EXPECT_FALSE(svc_->refresh("garbage").ok());
  EXPECT_FALSE(svc_->refresh("").ok());
}

TEST_P(IdentityServiceTest, RefreshTokenExpires) {
  auto t = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  clock_.advance(std::chrono::seconds(3601));
  EXPECT_FALSE(svc_->refresh(t->refresh_token).ok());
}

// A session ends auth.refresh_ttl_s after login even while an access token
// minted near the end (by a refresh) is still within its own lifetime; the
// cache must not serve it past the session's end either.
TEST_P(IdentityServiceTest, SessionExpiryEndsAccess) {
  auto t = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  ASSERT_TRUE(t.ok());
  clock_.advance(std::chrono::seconds(3590));  // session: 3600 s
  auto r = svc_->refresh(t->refresh_token);    // access token valid until 3650 s
  ASSERT_TRUE(r.ok()) << r.error().message;
  clock_.advance(std::chrono::seconds(5));
  ASSERT_TRUE(svc_->authenticate(r->access_token).ok());  // cached now
  clock_.advance(std::chrono::seconds(6));                // 3601 s: session over
  auto after = svc_->authenticate(r->access_token);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(after.error().message, "session expired");
  EXPECT_FALSE(svc_->refresh(r->refresh_token).ok());
}

TEST_P(IdentityServiceTest, RefreshTokensCarryTheirTenant) {
  auto t = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->refresh_token.substr(0, t->refresh_token.find('.')), admin_.tenant_id);
  // The same secret under another (or a malformed) tenant is no token.
  std::string secret = t->refresh_token.substr(t->refresh_token.find('.'));
  EXPECT_FALSE(svc_->refresh(new_id() + secret).ok());
  EXPECT_FALSE(svc_->refresh("not-a-tenant" + secret).ok());
  EXPECT_FALSE(svc_->logout(new_id() + secret).ok());
  EXPECT_TRUE(svc_->refresh(t->refresh_token).ok());
}

// Installs upgraded with live sessions hold refresh tokens without the tenant
// prefix: they keep working (rotated into the new form) until they expire.
TEST_P(IdentityServiceTest, RefreshTokensFromBeforeTheUpgradeStillWork) {
  auto t = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  ASSERT_TRUE(t.ok());
  auto p = svc_->authenticate(t->access_token);
  ASSERT_TRUE(p.ok());
  const std::string legacy = base64url_encode(std::string(32, '\x5a'));  // 43 characters
  ASSERT_TRUE(db_->write([&](storage::Tx& tx) {
                   return store::insert_refresh(
                       tx, sha256_hex(legacy),
                       store::RefreshRow{p->session_id, p->tenant_id, p->user_id, false,
                                         clock_.now_ms() + 3600'000},
                       clock_.now_ms());
                 })
                  .ok());
  auto r = svc_->refresh(legacy);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->refresh_token.substr(0, r->refresh_token.find('.')), p->tenant_id);
  // The replay rule holds for them too.
  EXPECT_EQ(svc_->refresh(legacy).error().message,
            "refresh token was already used; session revoked");
}

TEST_P(IdentityServiceTest, PurgeExpiredSessionsAndRefreshTokens) {
  auto count = [&](const char* table) {
    return *storage::read_value<std::int64_t>(*db_, [&](storage::Tx& tx) -> Result<std::int64_t> {
      auto r = tx.query_one(std::string("SELECT COUNT(*) FROM ") + table);
      if (!r) return r.error();
      return (*r)->i64(0);
    });
  };
  // SetUp logged in once. Two more sessions, one of them refreshed twice.
  auto a = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  auto b = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  auto b2 = svc_->refresh(b->refresh_token);
  ASSERT_TRUE(svc_->refresh(b2->refresh_token).ok());
  EXPECT_EQ(count("sessions"), 3);
  EXPECT_EQ(count("refresh_tokens"), 5);
  clock_.advance(std::chrono::seconds(1800));
  auto fresh = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  auto nothing = svc_->purge_expired();
  ASSERT_TRUE(nothing.ok());
  EXPECT_EQ(nothing->sessions, 0);
  clock_.advance(std::chrono::seconds(1801));  // the first three are past 3600 s
  auto purged = svc_->purge_expired(2);        // small batches: loops until done
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  EXPECT_EQ(purged->sessions, 3);
  EXPECT_EQ(purged->refresh_tokens, 5);
  EXPECT_EQ(count("sessions"), 1);
  EXPECT_EQ(count("refresh_tokens"), 1);
  EXPECT_TRUE(svc_->refresh(fresh->refresh_token).ok());  // the live one is untouched
  EXPECT_EQ(svc_->purge_expired()->sessions, 0);
}

// The architecture rule: every query on sessions and refresh tokens names its
// tenant. A Database wrapper records the SQL of a whole session life cycle.
class RecordingTx final : public storage::Tx {
 public:
  RecordingTx(storage::Tx& inner, std::vector<std::string>& log) : inner_(inner), log_(log) {}
  using storage::Tx::exec;
  using storage::Tx::query;
  using storage::Tx::query_one;
  Result<std::int64_t> exec(std::string_view sql, std::span<const storage::Value> params) override {
    log_.emplace_back(sql);
    return inner_.exec(sql, params);
  }
  Result<std::vector<storage::Row>> query(std::string_view sql,
                                          std::span<const storage::Value> params) override {
    log_.emplace_back(sql);
    return inner_.query(sql, params);
  }
  Result<std::optional<storage::Row>> query_one(std::string_view sql,
                                                std::span<const storage::Value> params) override {
    log_.emplace_back(sql);
    return inner_.query_one(sql, params);
  }

 private:
  storage::Tx& inner_;
  std::vector<std::string>& log_;
};

class RecordingDatabase final : public storage::Database {
 public:
  explicit RecordingDatabase(storage::Database& inner) : inner_(inner) {}
  Status write(const std::function<Status(storage::Tx&)>& fn) override {
    std::lock_guard lock(mu_);
    return inner_.write([&](storage::Tx& tx) {
      RecordingTx r(tx, log_);
      return fn(r);
    });
  }
  Status read(const std::function<Status(storage::Tx&)>& fn) const override {
    std::lock_guard lock(mu_);
    return inner_.read([&](storage::Tx& tx) {
      RecordingTx r(tx, log_);
      return fn(r);
    });
  }
  bool write_async(std::function<Status(storage::Tx&)>, std::function<void(Status)>,
                   std::uint64_t) override {
    ADD_FAILURE() << "identity does not write asynchronously";
    return false;
  }
  Status migrate(std::span<const storage::Migration> m) override { return inner_.migrate(m); }
  bool healthy() const override { return inner_.healthy(); }
  WriteStats write_stats() const override { return inner_.write_stats(); }
  std::string_view backend() const override { return inner_.backend(); }
  std::vector<std::string> log() const {
    std::lock_guard lock(mu_);
    return log_;
  }

 private:
  storage::Database& inner_;
  mutable std::mutex mu_;
  mutable std::vector<std::string> log_;
};

TEST_P(IdentityServiceTest, SessionAndRefreshQueriesAreScopedByTenant) {
  RecordingDatabase rec(*db_);
  IdentityServiceImpl svc(rec, clock_, PasswordHasher::for_tests(),
                          IdentityOptions{.refresh_ttl_s = 60});
  auto u = svc.create_user(admin_, {"scoped@example.com", "maple-quartz-88"});
  ASSERT_TRUE(u.ok());
  auto t = svc.login("scoped@example.com", "maple-quartz-88", "");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(svc.authenticate(t->access_token).ok());
  auto r = svc.refresh(t->refresh_token);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(svc.refresh(t->refresh_token).ok());  // replay: revokes
  auto t2 = svc.login("scoped@example.com", "maple-quartz-88", "");
  ASSERT_TRUE(svc.logout(t2->refresh_token).ok());
  EXPECT_FALSE(svc.logout(base64url_encode(std::string(32, 'q'))).ok());  // legacy form
  ASSERT_TRUE(svc.update_user(admin_, u->id, UserPatch{.password = "new-quartz-2027"}).ok());
  clock_.advance(std::chrono::seconds(61));
  ASSERT_TRUE(svc.purge_expired().ok());
  int checked = 0;
  for (const auto& sql : rec.log()) {
    if (sql.find("sessions") == std::string::npos &&
        sql.find("refresh_tokens") == std::string::npos)
      continue;
    ++checked;
    auto where = sql.find("WHERE");
    if (sql.rfind("INSERT", 0) == 0)
      EXPECT_NE(sql.find("tenant_id"), std::string::npos) << sql;
    else
      EXPECT_TRUE(where != std::string::npos && sql.find("tenant_id", where) != std::string::npos)
          << "not scoped by tenant: " << sql;
  }
  EXPECT_GE(checked, 12);
}

TEST_P(IdentityServiceTest, LogoutEndsSession) {
  auto t = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  ASSERT_TRUE(svc_->logout(t->refresh_token).ok());
  EXPECT_FALSE(svc_->authenticate(t->access_token).ok());
  EXPECT_FALSE(svc_->refresh(t->refresh_token).ok());
  EXPECT_FALSE(svc_->logout("unknown").ok());
}

// Connections (WebSockets) acting for a session end with it: at once on
// logout, a replayed refresh token, a disabled user or a changed password;
// at the token's expiry unless renewed with a newer token of the session.
TEST_P(IdentityServiceTest, WatchedConnectionsEndWithTheirSession) {
  auto u = svc_->create_user(admin_, {"watch@example.com", "maple-quartz-88"});
  ASSERT_TRUE(u.ok());
  auto open = [&](std::vector<SessionEnd>& log) {
    auto t = svc_->login("watch@example.com", "maple-quartz-88", "");
    EXPECT_TRUE(t.ok());
    auto p = svc_->authenticate(t->access_token);
    EXPECT_TRUE(p.ok());
    EXPECT_EQ(p->expires_at_s, clock_.now_s() + 60);  // access_ttl_s of the fixture
    auto lease = svc_->watch(*p, [&log](SessionEnd why) { log.push_back(why); });
    return std::pair{std::move(*t), std::move(lease)};
  };
  std::vector<SessionEnd> by_logout, by_replay, bystander, by_disable;
  auto [t1, l1] = open(by_logout);
  auto [t2, l2] = open(by_replay);
  auto [t3, l3] = open(bystander);
  ASSERT_TRUE(svc_->logout(t1.refresh_token).ok());
  EXPECT_EQ(by_logout, std::vector<SessionEnd>{SessionEnd::kEnded});
  ASSERT_TRUE(svc_->refresh(t2.refresh_token).ok());
  EXPECT_TRUE(by_replay.empty());                      // a refresh keeps the session
  EXPECT_FALSE(svc_->refresh(t2.refresh_token).ok());  // the replay revokes it
  EXPECT_EQ(by_replay, std::vector<SessionEnd>{SessionEnd::kEnded});
  EXPECT_TRUE(bystander.empty());

  // Expiry, and renewal over the connection.
  clock_.advance(std::chrono::seconds(30));
  auto fresh = svc_->refresh(t3.refresh_token);  // same session, a newer access token
  ASSERT_TRUE(fresh.ok());
  auto renewed = svc_->renew(*l3, fresh->access_token);
  ASSERT_TRUE(renewed.ok()) << renewed.error().message;
  EXPECT_EQ(renewed->expires_at_s, clock_.now_s() + 60);
  auto [t4, l4] = open(by_disable);
  auto other_session = svc_->renew(*l3, t4.access_token);  // same user, another session
  EXPECT_EQ(other_session.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(svc_->renew(*l3, "not-a-token").error().code, ErrorCode::kUnauthenticated);
  clock_.advance(std::chrono::seconds(31));  // the first token's expiry is past
  EXPECT_EQ(svc_->sweep_sessions(), 0u);
  EXPECT_TRUE(bystander.empty());
  clock_.advance(std::chrono::seconds(29));  // the renewed token's expiry
  EXPECT_EQ(svc_->sweep_sessions(), 2u);     // l3 and l4 (opened 30 s after l3's first token)
  EXPECT_EQ(bystander, std::vector<SessionEnd>{SessionEnd::kExpired});

  std::vector<SessionEnd> by_disable2;
  auto [t5, l5] = open(by_disable2);
  ASSERT_TRUE(svc_->disable_user(admin_, u->id).ok());
  EXPECT_EQ(by_disable2, std::vector<SessionEnd>{SessionEnd::kEnded});
}

TEST_P(IdentityServiceTest, UsersCrudAndRoles) {
  auto u =
      svc_->create_user(admin_, {"Bob@Example.com", "canyon-lamp-5521", "", "member", "premium"});
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->email, "bob@example.com");
  EXPECT_EQ(u->display_name, "bob");
  EXPECT_EQ(u->plan, "premium");
  EXPECT_EQ(svc_->create_user(admin_, {"bob@example.com", "canyon-lamp-5521"}).error().code,
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(svc_->create_user(admin_, {"c@example.com", "short"}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(svc_->create_user(admin_, {"c@example.com", "long-enough", "", "owner"}).error().code,
            ErrorCode::kInvalidArgument);

  auto bob_tokens = svc_->login("bob@example.com", "canyon-lamp-5521", "");
  ASSERT_TRUE(bob_tokens.ok());
  Principal bob = *svc_->authenticate(bob_tokens->access_token);  // now cached
  EXPECT_FALSE(bob.is_admin());
  EXPECT_EQ(svc_->create_user(bob, {"d@example.com", "maple-quartz-88"}).error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(svc_->get_profile(bob)->email, "bob@example.com");

  UserPatch patch;
  patch.role = "admin";
  patch.display_name = "Robert";
  auto up = svc_->update_user(admin_, u->id, patch);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->role, "admin");
  EXPECT_EQ(svc_->get_user(admin_, u->id)->role, "admin");
  EXPECT_EQ(svc_->get_user(admin_, u->id)->display_name, "Robert");
  // Role changes take effect at once: the same access token, authenticated
  // again (it was cached as a member), now carries the admin role and may write.
  auto again = svc_->authenticate(bob_tokens->access_token);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->role, "admin");
  EXPECT_TRUE(svc_->create_user(*again, {"d@example.com", "maple-quartz-88"}).ok());
  // And back: demoted, the next request is a member's again.
  ASSERT_TRUE(svc_->update_user(admin_, u->id, UserPatch{.role = "member"}).ok());
  EXPECT_EQ(svc_->authenticate(bob_tokens->access_token)->role, "member");
}

// Every place that sets a password applies the one policy (password.hpp).
TEST_P(IdentityServiceTest, PasswordPolicyEverywhere) {
  auto expect_rule = [](const auto& r, const char* words) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
  };
  expect_rule(svc_->create_user(admin_, {"carol@example.com", "Password1"}), "too common");
  expect_rule(svc_->create_user(admin_, {"carol@example.com", "i-am-CAROL-ok"}), "e-mail");
  expect_rule(svc_->create_user(admin_, {"carol@example.com", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"}),
              "at least 8 characters");
  auto carol = svc_->create_user(admin_, {"carol@example.com", "maple-quartz-88"});
  ASSERT_TRUE(carol.ok()) << carol.error().message;
  expect_rule(svc_->update_user(admin_, carol->id, UserPatch{.password = "iloveyou"}),
              "too common");
  expect_rule(svc_->update_user(admin_, carol->id, UserPatch{.password = "carol-2026-xyz"}),
              "e-mail");
  EXPECT_TRUE(svc_->update_user(admin_, carol->id, UserPatch{.password = "new-quartz-2027"}).ok());
  expect_rule(svc_->create_tenant(admin_, {"weak", "", "boss@weak.test", "12345678"}),
              "too common");
  expect_rule(svc_->create_tenant(admin_, {"weak", "", "boss@weak.test", "the-boss-pw"}), "e-mail");
  // The first admin: a weak configured password stops the bootstrap.
  TestDb other(GetParam());
  ASSERT_TRUE(other->migrate(store::migrations()).ok());
  IdentityServiceImpl svc(*other, clock_, PasswordHasher::for_tests(), IdentityOptions{});
  auto boot = svc.bootstrap("root@example.com", "changeme");
  ASSERT_FALSE(boot.ok());
  EXPECT_NE(boot.error().message.find("admin.password"), std::string::npos) << boot.error().message;
  EXPECT_NE(boot.error().message.find("too common"), std::string::npos);
}

TEST_P(IdentityServiceTest, DisableRevokesSessions) {
  auto u = svc_->create_user(admin_, {"eve@example.com", "ember-violet-61"});
  auto t = svc_->login("eve@example.com", "ember-violet-61", "");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(svc_->disable_user(admin_, u->id).ok());
  EXPECT_FALSE(svc_->authenticate(t->access_token).ok());
  EXPECT_FALSE(svc_->refresh(t->refresh_token).ok());
  EXPECT_FALSE(svc_->login("eve@example.com", "ember-violet-61", "").ok());
}

TEST_P(IdentityServiceTest, LastAdminIsKept) {
  UserPatch p;
  p.role = "member";
  EXPECT_EQ(svc_->update_user(admin_, admin_.user_id, p).error().code,
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(svc_->disable_user(admin_, admin_.user_id).error().code,
            ErrorCode::kFailedPrecondition);
}

// The bootstrap platform admin lives in tenant "default", whose tenant admins
// must not be able to take it over or lock it out.
TEST_P(IdentityServiceTest, OnlyPlatformAdminsChangePlatformAdmins) {
  auto ta = svc_->create_user(admin_, {"ta@example.com", "maple-quartz-88", "", "admin"});
  ASSERT_TRUE(ta.ok());
  Principal tenant_admin = login("ta@example.com", "maple-quartz-88");
  ASSERT_TRUE(tenant_admin.is_admin());
  ASSERT_FALSE(tenant_admin.platform_admin);
  auto denied = [](const Result<User>& r) {
    return !r.ok() && r.error().code == ErrorCode::kPermissionDenied;
  };
  const std::string& root = admin_.user_id;
  EXPECT_TRUE(denied(svc_->update_user(tenant_admin, root, {.password = "hijack-attempt-77"})));
  EXPECT_TRUE(denied(svc_->update_user(tenant_admin, root, {.role = "member"})));
  EXPECT_TRUE(denied(svc_->update_user(tenant_admin, root, {.plan = "free_tier"})));
  EXPECT_TRUE(denied(svc_->update_user(tenant_admin, root, {.display_name = "pwned"})));
  EXPECT_TRUE(denied(svc_->disable_user(tenant_admin, root)));
  EXPECT_TRUE(denied(svc_->update_user(tenant_admin, root, {.platform_admin = false})));
  // Nor appoint anyone, themselves included.
  EXPECT_TRUE(denied(svc_->update_user(tenant_admin, ta->id, {.platform_admin = true})));
  EXPECT_EQ(svc_->get_user(admin_, root)->display_name, "Administrator");  // untouched
  EXPECT_TRUE(login("admin@example.com", "tulip-orbit-9371").platform_admin);

  // The last platform admin cannot be disabled or demoted, even by itself.
  auto precondition = [](const Result<User>& r) {
    return !r.ok() && r.error().code == ErrorCode::kFailedPrecondition &&
           r.error().message == "the installation must keep at least one active platform admin";
  };
  EXPECT_TRUE(precondition(svc_->disable_user(admin_, root)));
  EXPECT_TRUE(precondition(svc_->update_user(admin_, root, {.role = "member"})));
  EXPECT_TRUE(precondition(svc_->update_user(admin_, root, {.platform_admin = false})));

  // A platform admin appoints another; the role change is seen at once.
  auto appointed = svc_->update_user(admin_, ta->id, {.platform_admin = true});
  ASSERT_TRUE(appointed.ok()) << appointed.error().message;
  EXPECT_TRUE(appointed->platform_admin);
  auto tokens = svc_->login("ta@example.com", "maple-quartz-88", "");
  EXPECT_TRUE(svc_->authenticate(tokens->access_token)->platform_admin);
  EXPECT_TRUE(svc_->list_tenants(*svc_->authenticate(tokens->access_token)).ok());
  // Now there are two: the first may step down, and the second may change it.
  Principal second = *svc_->authenticate(tokens->access_token);
  EXPECT_TRUE(svc_->update_user(second, root, {.display_name = "Root"}).ok());
  EXPECT_TRUE(svc_->update_user(admin_, root, {.platform_admin = false}).ok());
  EXPECT_TRUE(precondition(svc_->update_user(second, ta->id, {.platform_admin = false})));
  // Plain members stay members: platform rights are not a tenant role.
  auto m = svc_->create_user(admin_, {"plain@example.com", "maple-quartz-88"});
  EXPECT_TRUE(denied(svc_->update_user(login("plain@example.com", "maple-quartz-88"), m->id,
                                       {.platform_admin = true})));
}

TEST_P(IdentityServiceTest, Pagination) {
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(
        svc_->create_user(admin_, {"u" + std::to_string(i) + "@example.com", "maple-quartz-88"})
            .ok());
  std::vector<std::string> seen;
  PageRequest req{.page_size = 3};
  for (int guard = 0; guard < 10; ++guard) {
    auto page = svc_->list_users(admin_, req);
    ASSERT_TRUE(page.ok());
    for (const auto& u : page->items) seen.push_back(u.id);
    if (page->next_page_token.empty()) break;
    req.page_token = page->next_page_token;
  }
  EXPECT_EQ(seen.size(), 8u);  // 7 + admin
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(svc_->list_users(admin_, {.page_size = 501}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(svc_->list_users(admin_, {.page_size = 5, .page_token = "!!"}).error().code,
            ErrorCode::kInvalidArgument);
}

TEST_P(IdentityServiceTest, GroupsAndMembership) {
  auto u = svc_->create_user(admin_, {"g@example.com", "maple-quartz-88"});
  auto g = svc_->create_group(admin_, {"Editors", "people who edit", {u->id}});
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->member_ids, std::vector<std::string>{u->id});
  EXPECT_EQ(svc_->get_user(admin_, u->id)->group_ids, std::vector<std::string>{g->id});
  EXPECT_EQ(svc_->create_group(admin_, {"Editors"}).error().code, ErrorCode::kAlreadyExists);
  auto removed = svc_->remove_member(admin_, g->id, u->id);
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->member_ids.empty());
  ASSERT_TRUE(svc_->add_member(admin_, g->id, admin_.user_id).ok());
  ASSERT_TRUE(svc_->delete_group(admin_, g->id).ok());
  EXPECT_EQ(svc_->get_group(admin_, g->id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->delete_group(admin_, g->id).error().code, ErrorCode::kNotFound);
}

TEST_P(IdentityServiceTest, TenantIsolation) {
  auto made = svc_->create_tenant(admin_, {"acme", "Acme", "boss@acme.test", "acme-password"});
  ASSERT_TRUE(made.ok()) << made.error().message;
  Principal boss = login("boss@acme.test", "acme-password", "acme");
  EXPECT_EQ(boss.tenant_id, made->first.id);
  EXPECT_FALSE(boss.platform_admin);
  // Same e-mail may exist in two tenants.
  ASSERT_TRUE(svc_->create_user(boss, {"admin@example.com", "hazel-drum-4410"}).ok());
  auto g = svc_->create_group(admin_, {"Secret"});
  // Acme's admin sees nothing of the default tenant.
  EXPECT_EQ(svc_->get_user(boss, admin_.user_id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->get_group(boss, g->id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->update_user(boss, admin_.user_id, UserPatch{.display_name = "x"}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(svc_->disable_user(boss, admin_.user_id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->add_member(boss, g->id, boss.user_id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->delete_group(boss, g->id).error().code, ErrorCode::kNotFound);
  auto boss_users = svc_->list_users(boss, {});
  ASSERT_TRUE(boss_users.ok());
  EXPECT_EQ(boss_users->items.size(), 2u);
  for (const auto& u : boss_users->items) EXPECT_EQ(u.tenant_id, boss.tenant_id);
  EXPECT_EQ(svc_->list_tenants(boss).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(svc_->list_tenants(admin_)->size(), 2u);
  EXPECT_EQ(
      svc_->create_tenant(admin_, {"acme", "", "x@acme.test", "frost-anchor-73"}).error().code,
      ErrorCode::kAlreadyExists);
  EXPECT_EQ(
      svc_->create_tenant(admin_, {"Bad Slug", "", "x@acme.test", "frost-anchor-73"}).error().code,
      ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace office::identity

namespace office::identity {
namespace {

// The hot-path cache must never outlive a write that changes what it holds.
TEST_P(IdentityServiceTest, CachedAuthAndProfileFollowWrites) {
  auto u = svc_->create_user(admin_, {"cache@example.com", "lantern-moss-207"});
  auto t = svc_->login("cache@example.com", "lantern-moss-207", "");
  ASSERT_TRUE(t.ok());
  auto p = svc_->authenticate(t->access_token);  // fills the cache
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(svc_->authenticate(t->access_token).ok());  // served from it
  EXPECT_EQ(svc_->get_profile(*p)->display_name, "cache");

  UserPatch rename;
  rename.display_name = "Renamed";
  rename.role = "admin";
  ASSERT_TRUE(svc_->update_user(admin_, u->id, rename).ok());
  EXPECT_EQ(svc_->get_profile(*p)->display_name, "Renamed");
  EXPECT_EQ(svc_->authenticate(t->access_token)->role, "admin");  // role change seen at once

  auto g = svc_->create_group(admin_, {"cached-group", "", {u->id}});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(svc_->get_profile(*p)->group_ids, std::vector<std::string>{g->id});

  ASSERT_TRUE(svc_->logout(t->refresh_token).ok());
  EXPECT_FALSE(svc_->authenticate(t->access_token).ok());

  auto t2 = svc_->login("cache@example.com", "lantern-moss-207", "");
  ASSERT_TRUE(svc_->authenticate(t2->access_token).ok());
  ASSERT_TRUE(svc_->disable_user(admin_, u->id).ok());
  EXPECT_FALSE(svc_->authenticate(t2->access_token).ok());
}

// The verifier accepts a token until exp + leeway (clock skew between
// servers); the cache must never answer for longer than that. Checked at the
// first second the verifier refuses: a cache entry kept even one second too
// long (say until exp + leeway + 1) would still answer there.
TEST_P(IdentityServiceTest, CachedTokenStillExpires) {
  constexpr std::int64_t kTtlS = 60;     // access_ttl_s of this fixture
  constexpr std::int64_t kLeewayS = 30;  // the verifier's default leeway
  auto t = svc_->login("admin@example.com", "tulip-orbit-9371", "");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(svc_->authenticate(t->access_token).ok());  // cached from here on
  clock_.advance(std::chrono::seconds(kTtlS - 1));
  ASSERT_TRUE(svc_->authenticate(t->access_token).ok());
  clock_.advance(std::chrono::seconds(1 + kLeewayS));  // exactly exp + leeway
  auto r = svc_->authenticate(t->access_token);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "token expired");
}

// Two refreshes of one token at the same moment: exactly one wins. The other
// finds the token used, which is what a stolen copy looks like, so the replay
// rule revokes the session: the winner's new tokens die with it.
TEST_P(IdentityServiceTest, ConcurrentRefreshOfOneToken) {
  for (int round = 0; round < 5; ++round) {
    auto t = svc_->login("admin@example.com", "tulip-orbit-9371", "");
    ASSERT_TRUE(t.ok());
    std::optional<Result<Tokens>> results[2];
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i)
      threads.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < 2) {
        }
        results[i].emplace(svc_->refresh(t->refresh_token));
      });
    for (auto& th : threads) th.join();
    const int wins = (results[0]->ok() ? 1 : 0) + (results[1]->ok() ? 1 : 0);
    ASSERT_EQ(wins, 1) << "round " << round;
    const Result<Tokens>& winner = results[0]->ok() ? *results[0] : *results[1];
    const Result<Tokens>& loser = results[0]->ok() ? *results[1] : *results[0];
    EXPECT_EQ(loser.error().code, ErrorCode::kUnauthenticated);
    EXPECT_EQ(loser.error().message, "refresh token was already used; session revoked");
    EXPECT_EQ(svc_->authenticate(winner->access_token).error().message, "session ended");
    EXPECT_FALSE(svc_->refresh(winner->refresh_token).ok());
  }
}

// A member moves between groups: both groups' member lists and the member's
// own profile follow, also when the profile was served from the cache before.
TEST_P(IdentityServiceTest, GroupChangesReachProfileAndBothGroups) {
  auto m = svc_->create_user(admin_, {"mover@example.com", "maple-quartz-88"});
  ASSERT_TRUE(m.ok());
  auto from = svc_->create_group(admin_, {"from", "", {m->id}});
  auto to = svc_->create_group(admin_, {"to"});
  ASSERT_TRUE(from.ok() && to.ok());
  Principal mover = login("mover@example.com", "maple-quartz-88");
  EXPECT_EQ(svc_->get_profile(mover)->group_ids, std::vector<std::string>{from->id});
  EXPECT_EQ(svc_->get_profile(mover)->group_ids, std::vector<std::string>{from->id});  // cached

  auto added = svc_->add_member(admin_, to->id, m->id);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->member_ids, std::vector<std::string>{m->id});
  EXPECT_EQ(svc_->get_profile(mover)->group_ids,
            (std::vector<std::string>{std::min(from->id, to->id), std::max(from->id, to->id)}));
  auto removed = svc_->remove_member(admin_, from->id, m->id);
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->member_ids.empty());

  EXPECT_EQ(svc_->get_profile(mover)->group_ids, std::vector<std::string>{to->id});
  EXPECT_EQ(svc_->get_user(admin_, m->id)->group_ids, std::vector<std::string>{to->id});
  EXPECT_TRUE(svc_->get_group(mover, from->id)->member_ids.empty());
  EXPECT_EQ(svc_->get_group(mover, to->id)->member_ids, std::vector<std::string>{m->id});
  // Deleting the group takes it off the profile too.
  ASSERT_TRUE(svc_->delete_group(admin_, to->id).ok());
  EXPECT_TRUE(svc_->get_profile(mover)->group_ids.empty());
}

TEST(AuthCache, EpochAndExpiry) {
  AuthCache cache(2);
  Principal p{"t", "u", "s", "member", false};
  cache.put_principal("tok", p, 100, cache.epoch());
  EXPECT_TRUE(cache.principal("tok", 99));
  EXPECT_FALSE(cache.principal("tok", 100));
  EXPECT_FALSE(cache.principal("other", 1));
  cache.invalidate_all();
  EXPECT_FALSE(cache.principal("tok", 1));
  // A put made with an epoch read before an invalidation is stale at once.
  std::uint64_t before = cache.epoch();
  cache.invalidate_all();
  cache.put_principal("late", p, 100, before);
  EXPECT_FALSE(cache.principal("late", 1));
  // Bounded: filling past the limit empties it rather than growing.
  cache.put_principal("a", p, 100, cache.epoch());
  cache.put_principal("b", p, 100, cache.epoch());
  cache.put_principal("c", p, 100, cache.epoch());
  EXPECT_TRUE(cache.principal("c", 1));
  EXPECT_FALSE(cache.principal("a", 1));
}

}  // namespace
}  // namespace office::identity

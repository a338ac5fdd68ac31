#include "docs/catalog.hpp"
#include "docs/oplog_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "core/ids.hpp"
#include "docs/schema.hpp"
#include "identity/service_impl.hpp"
#include "identity/store.hpp"
#include "storage/test_util.hpp"
#include "storage/transact.hpp"

namespace office::docs {
namespace {

using storage::Tx;
using storage::testing::Backend;
using storage::testing::BackendParamName;
using storage::testing::count_rows;
using storage::testing::exec_ok;
using storage::testing::TestDb;

constexpr const char* kPassword = "tulip-orbit-9371";

// What the real-time side would hear.
class RecordingObserver final : public AccessObserver {
 public:
  void access_changed(std::string_view tenant_id, std::string_view doc_id) override {
    std::lock_guard lock(mu_);
    changed_.push_back(std::string(tenant_id) + "/" + std::string(doc_id));
  }
  void document_gone(std::string_view tenant_id, std::string_view doc_id) override {
    std::lock_guard lock(mu_);
    gone_.push_back(std::string(tenant_id) + "/" + std::string(doc_id));
  }
  std::vector<std::string> changed() const {
    std::lock_guard lock(mu_);
    return changed_;
  }
  std::vector<std::string> gone() const {
    std::lock_guard lock(mu_);
    return gone_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> changed_;
  std::vector<std::string> gone_;
};

// Every test runs on SQLite and PostgreSQL with every write callback
// rehearsed (TestDb's default), so a callback that is not safe to run twice
// fails here.
class CatalogTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    test_db_ = std::make_unique<TestDb>(GetParam());
    db_ = &test_db_->db();
    ASSERT_TRUE(db_->migrate(identity::store::migrations()).ok());
    auto st = db_->migrate(migrations());
    ASSERT_TRUE(st.ok()) << st.error().message;
    identity_ = std::make_unique<identity::IdentityServiceImpl>(
        *db_, clock_, identity::PasswordHasher::for_tests(), identity::IdentityOptions{});
    ASSERT_TRUE(identity_->bootstrap("admin@example.com", kPassword).ok());
    admin_ = login("admin@example.com");
    anna_ = member("anna@example.com");
    bob_ = member("bob@example.com");
    carl_ = member("carl@example.com");
    auto team = identity_->create_group(admin_, identity::NewGroup{"team", "", {bob_.user_id}});
    ASSERT_TRUE(team.ok()) << team.error().message;
    team_ = team->id;
    auto beta = identity_->create_tenant(
        admin_, identity::NewTenant{"beta", "Beta", "boss@beta.test", kPassword});
    ASSERT_TRUE(beta.ok()) << beta.error().message;
    beta_admin_ = login("boss@beta.test", "beta");
    catalog_ = std::make_unique<Catalog>(*db_, *identity_, clock_, &observer_);
  }
  void TearDown() override {
    catalog_.reset();
    identity_.reset();
    test_db_.reset();
  }

  Principal login(const std::string& email, const std::string& tenant = "") {
    auto t = identity_->login(email, kPassword, tenant);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
    auto p = identity_->authenticate(t->access_token);
    EXPECT_TRUE(p.ok());
    return *p;
  }
  Principal member(const std::string& email) {
    auto u = identity_->create_user(admin_, identity::NewUser{email, kPassword, ""});
    EXPECT_TRUE(u.ok()) << (u.ok() ? "" : u.error().message);
    return login(email);
  }
  Document make(const Principal& p, std::string_view title) {
    auto d = catalog_->create(p, title);
    EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().message);
    clock_.advance(std::chrono::milliseconds(10));
    return d.ok() ? *d : Document{};
  }
  void share(const Principal& owner, const Document& d, GranteeKind kind, std::string grantee,
             Role role) {
    auto s = catalog_->share(owner, d.id, Share{kind, std::move(grantee), role, 0});
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  // The caller's role as get() reports it; kNone for "not found".
  Role role(const Principal& p, const Document& d) {
    auto got = catalog_->get(p, d.id);
    if (!got) {
      EXPECT_EQ(got.error().code, ErrorCode::kNotFound) << got.error().message;
      return Role::kNone;
    }
    return got->role;
  }
  std::vector<std::string> titles(const Principal& p, DocumentService::ListRequest req = {}) {
    auto page = catalog_->list(p, req);
    EXPECT_TRUE(page.ok()) << (page.ok() ? "" : page.error().message);
    std::vector<std::string> out;
    if (page.ok())
      for (const auto& d : page->items) out.push_back(d.title);
    return out;
  }
  std::int64_t count(const std::string& sql) {
    auto n = storage::read_value<std::int64_t>(*db_, [&](Tx& tx) -> Result<std::int64_t> {
      auto r = tx.query_one(sql);
      if (!r) return r.error();
      return (*r)->i64(0);
    });
    EXPECT_TRUE(n.ok());
    return n.ok() ? *n : -1;
  }
  std::string key(const Principal& p, const Document& d) { return p.tenant_id + "/" + d.id; }

  FakeClock clock_;
  std::unique_ptr<TestDb> test_db_;
  storage::Database* db_ = nullptr;
  std::unique_ptr<identity::IdentityServiceImpl> identity_;
  RecordingObserver observer_;
  std::unique_ptr<Catalog> catalog_;
  Principal admin_, anna_, bob_, carl_, beta_admin_;
  std::string team_;
};

INSTANTIATE_TEST_SUITE_P(Backends, CatalogTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendParamName);

TEST_P(CatalogTest, CreateCommitsTheRowAndItsCreateOpAtVersionOne) {
  std::int64_t now = clock_.now_ms();
  auto d = catalog_->create(anna_, "  Plan  ");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->title, "Plan");
  EXPECT_EQ(d->version, 1);
  EXPECT_EQ(d->size, 0);
  EXPECT_EQ(d->owner_id, anna_.user_id);
  EXPECT_EQ(d->tenant_id, anna_.tenant_id);
  EXPECT_EQ(d->role, Role::kOwner);
  EXPECT_EQ(d->create_ms, now);
  EXPECT_EQ(d->update_ms, now);
  EXPECT_FALSE(d->trash_ms);
  EXPECT_TRUE(Uuid::parse(d->id));

  auto op = storage::read_value<std::optional<storage::Row>>(*db_, [&](Tx& tx) {
    return tx.query_one(
        "SELECT version, kind, op, src, seq, author_id, ts_ms, size FROM doc_ops "
        "WHERE tenant_id = ?1 AND doc_id = ?2",
        {d->tenant_id, d->id});
  });
  ASSERT_TRUE(op.ok());
  ASSERT_TRUE(op->has_value()) << "no create op";
  const storage::Row& r = **op;
  EXPECT_EQ(r.i64(0), 0);
  EXPECT_EQ(r.text(1), "create");
  EXPECT_EQ(r.text(2), "");
  EXPECT_EQ(r.text(3), "");
  EXPECT_EQ(r.i64(4), 0);
  EXPECT_EQ(r.text(5), anna_.user_id);
  EXPECT_EQ(r.i64(6), now);
  EXPECT_EQ(r.i64(7), 0);
  EXPECT_EQ(count_rows(*db_, "doc_ops"), 1);
  // The op log reads it as a created, empty document at version 1.
  auto snap = storage::read_value<Snapshot>(
      *db_, [&](Tx& tx) { return oplog::snapshot_at(tx, d->tenant_id, d->id, 1); });
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  EXPECT_TRUE(snap->exists);
  EXPECT_EQ(snap->version, 1);
  EXPECT_EQ(snap->text, "");

  auto got = catalog_->get(anna_, d->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version, 1);
  EXPECT_EQ(got->title, "Plan");
  auto h = catalog_->history(anna_, d->id, {});
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->items.size(), 1u);
  EXPECT_EQ(h->items[0].version, 0);
  EXPECT_EQ(h->items[0].kind, CommittedOp::Kind::kCreate);
  EXPECT_EQ(h->items[0].author_id, anna_.user_id);
}

TEST_P(CatalogTest, TitlesAreTrimmedBoundedAndDefaulted) {
  EXPECT_EQ(make(anna_, "").title, "Untitled");
  EXPECT_EQ(make(anna_, " \t\n ").title, "Untitled");
  std::string longest;
  for (int i = 0; i < 200; ++i) longest += "é";  // 200 code points, 400 bytes
  EXPECT_EQ(make(anna_, longest).title, longest);
  for (std::string bad :
       {longest + "e", std::string("a\x01z"), std::string("a\x7fz"), std::string("a\xc2\x85z"),
        std::string("\xff\xfe"), std::string(201, 'x')}) {
    auto r = catalog_->create(anna_, bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("title"), std::string::npos);
  }
  Document d = make(anna_, "x");
  auto renamed = catalog_->rename(anna_, d.id, "  ");
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(renamed->title, "Untitled");
  EXPECT_EQ(catalog_->rename(anna_, d.id, longest + "e").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(catalog_->get(anna_, d.id)->title, "Untitled");
}

TEST_P(CatalogTest, ListIsPagedMostRecentlyUpdatedFirst) {
  std::vector<Document> docs;
  for (int i = 0; i < 5; ++i) docs.push_back(make(anna_, "d" + std::to_string(i)));
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(catalog_->rename(anna_, docs[1].id, "d1 renamed").ok());  // now the newest

  std::vector<std::string> seen;
  std::vector<std::size_t> sizes;
  DocumentService::ListRequest req;
  req.page.page_size = 2;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = catalog_->list(anna_, req);
    ASSERT_TRUE(page.ok()) << page.error().message;
    sizes.push_back(page->items.size());
    for (const auto& d : page->items) {
      seen.push_back(d.title);
      EXPECT_EQ(d.role, Role::kOwner);
    }
    if (page->next_page_token.empty()) break;
    req.page.page_token = page->next_page_token;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"d1 renamed", "d4", "d3", "d2", "d0"}));
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 2, 1}));

  // Documents updated in the same millisecond are neither lost nor repeated.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(catalog_->create(bob_, "same").ok());
  std::set<std::string> ids;
  req = {};
  req.page.page_size = 1;
  int pages = 0;
  for (; pages < 10; ++pages) {
    auto page = catalog_->list(bob_, req);
    ASSERT_TRUE(page.ok());
    for (const auto& d : page->items) EXPECT_TRUE(ids.insert(d.id).second) << "repeated";
    if (page->next_page_token.empty()) break;
    req.page.page_token = page->next_page_token;
  }
  EXPECT_EQ(ids.size(), 4u);

  for (std::string bad : {"!!", "bm90IGEgdG9rZW4", "MTIz"}) {  // not base64url, junk, "123"
    req = {};
    req.page.page_token = bad;
    EXPECT_EQ(catalog_->list(anna_, req).error().code, ErrorCode::kInvalidArgument) << bad;
  }
  req = {};
  req.page.page_size = 501;
  EXPECT_EQ(catalog_->list(anna_, req).error().code, ErrorCode::kInvalidArgument);
  req.page.page_size = 0;  // the default
  EXPECT_EQ(catalog_->list(anna_, req)->items.size(), 5u);
}

TEST_P(CatalogTest, ListSearchesTitlesCaseInsensitivelyAndLiterally) {
  for (const char* t : {"Budget 2026", "old BUDGET", "budget_draft", "100% done", "Hey!", "plain"})
    make(anna_, t);
  auto search = [&](std::string q) {
    DocumentService::ListRequest req;
    req.title_contains = std::move(q);
    auto out = titles(anna_, req);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(search("budget"),
            (std::vector<std::string>{"Budget 2026", "budget_draft", "old BUDGET"}));
  EXPECT_EQ(search("BuDgEt 20"), (std::vector<std::string>{"Budget 2026"}));
  // LIKE's wildcards and the escape character match only themselves.
  EXPECT_EQ(search("_"), (std::vector<std::string>{"budget_draft"}));
  EXPECT_EQ(search("%"), (std::vector<std::string>{"100% done"}));
  EXPECT_EQ(search("!"), (std::vector<std::string>{"Hey!"}));
  EXPECT_EQ(search("nothing like it"), (std::vector<std::string>{}));
  DocumentService::ListRequest req;
  req.title_contains = std::string(201, 'a');
  EXPECT_EQ(catalog_->list(anna_, req).error().code, ErrorCode::kInvalidArgument);
}

TEST_P(CatalogTest, ListHoldsOnlyDocumentsTheCallerHasARoleOn) {
  Document mine = make(anna_, "anna private");
  Document to_bob = make(anna_, "anna to bob");
  Document to_team = make(anna_, "anna to team");
  Document to_all = make(anna_, "anna to all");
  Document bobs = make(bob_, "bob own");
  share(anna_, to_bob, GranteeKind::kUser, bob_.user_id, Role::kViewer);
  share(anna_, to_team, GranteeKind::kGroup, team_, Role::kEditor);
  share(anna_, to_all, GranteeKind::kTenant, "", Role::kCommenter);
  // And a second way in for bob, weaker than the first.
  share(anna_, to_team, GranteeKind::kUser, bob_.user_id, Role::kViewer);

  auto page = catalog_->list(bob_, {});
  ASSERT_TRUE(page.ok());
  std::vector<std::pair<std::string, Role>> got;
  for (const auto& d : page->items) got.emplace_back(d.title, d.role);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, Role>>{{"bob own", Role::kOwner},
                                                            {"anna to all", Role::kCommenter},
                                                            {"anna to team", Role::kEditor},
                                                            {"anna to bob", Role::kViewer}}));
  EXPECT_EQ(titles(carl_), (std::vector<std::string>{"anna to all"}));
  EXPECT_EQ(titles(anna_).size(), 4u);
  EXPECT_EQ(titles(beta_admin_), (std::vector<std::string>{}));
  (void)mine;
  (void)bobs;
}

TEST_P(CatalogTest, TheBestRoleWins) {
  Document d = make(anna_, "doc");
  EXPECT_EQ(role(bob_, d), Role::kNone);
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kViewer);
  EXPECT_EQ(role(bob_, d), Role::kViewer);
  share(anna_, d, GranteeKind::kTenant, "", Role::kCommenter);
  EXPECT_EQ(role(bob_, d), Role::kCommenter);
  EXPECT_EQ(role(carl_, d), Role::kCommenter);
  share(anna_, d, GranteeKind::kGroup, team_, Role::kEditor);
  EXPECT_EQ(role(bob_, d), Role::kEditor);
  EXPECT_EQ(role(carl_, d), Role::kCommenter);
  EXPECT_EQ(role(anna_, d), Role::kOwner);
  // The owner stays the owner whatever is shared to the tenant.
  ASSERT_TRUE(catalog_->revoke(anna_, d.id, GranteeKind::kGroup, team_).ok());
  EXPECT_EQ(role(bob_, d), Role::kCommenter);
  ASSERT_TRUE(catalog_->revoke(anna_, d.id, GranteeKind::kTenant, "").ok());
  EXPECT_EQ(role(bob_, d), Role::kViewer);
  EXPECT_EQ(role(carl_, d), Role::kNone);
  ASSERT_TRUE(catalog_->revoke(anna_, d.id, GranteeKind::kUser, bob_.user_id).ok());
  EXPECT_EQ(role(bob_, d), Role::kNone);
  EXPECT_EQ(catalog_->revoke(anna_, d.id, GranteeKind::kUser, bob_.user_id).error().code,
            ErrorCode::kNotFound);
}

TEST_P(CatalogTest, SharesAreValidatedAndReplaced) {
  Document d = make(anna_, "doc");
  auto bad = [&](GranteeKind k, std::string grantee, Role r) {
    auto s = catalog_->share(anna_, d.id, Share{k, std::move(grantee), r, 0});
    return s.ok() ? ErrorCode::kInternal : s.error().code;
  };
  EXPECT_EQ(bad(GranteeKind::kUser, "0190d5e4-0000-7000-8000-000000000000", Role::kViewer),
            ErrorCode::kInvalidArgument);                                 // no such user
  EXPECT_EQ(bad(GranteeKind::kUser, beta_admin_.user_id, Role::kViewer),  // another tenant's
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad(GranteeKind::kGroup, "0190d5e4-0000-7000-8000-000000000000", Role::kViewer),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad(GranteeKind::kUser, bob_.user_id, Role::kOwner), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad(GranteeKind::kUser, bob_.user_id, Role::kNone), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad(GranteeKind::kUser, "", Role::kViewer), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad(GranteeKind::kTenant, bob_.user_id, Role::kViewer), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad(GranteeKind::kUser, anna_.user_id, Role::kEditor), ErrorCode::kInvalidArgument);
  EXPECT_EQ(count_rows(*db_, "doc_shares"), 0);

  auto first =
      catalog_->share(anna_, d.id, Share{GranteeKind::kUser, bob_.user_id, Role::kEditor, 0});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->create_ms, clock_.now_ms());
  clock_.advance(std::chrono::seconds(5));
  auto again =
      catalog_->share(anna_, d.id, Share{GranteeKind::kUser, bob_.user_id, Role::kViewer, 0});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->role, Role::kViewer);
  EXPECT_EQ(again->create_ms, first->create_ms);  // replaced, not added
  share(anna_, d, GranteeKind::kTenant, "", Role::kViewer);
  share(anna_, d, GranteeKind::kGroup, team_, Role::kCommenter);
  auto all = catalog_->shares(anna_, d.id);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].kind, GranteeKind::kUser);
  EXPECT_EQ((*all)[0].grantee_id, bob_.user_id);
  EXPECT_EQ((*all)[0].role, Role::kViewer);
  EXPECT_EQ((*all)[1].kind, GranteeKind::kGroup);
  EXPECT_EQ((*all)[2].kind, GranteeKind::kTenant);
  EXPECT_EQ((*all)[2].grantee_id, "");

  // Only the owner shares, lists and revokes; others who see it get 403.
  share(anna_, d, GranteeKind::kUser, carl_.user_id, Role::kEditor);
  EXPECT_EQ(catalog_->share(carl_, d.id, Share{GranteeKind::kUser, bob_.user_id, Role::kEditor, 0})
                .error()
                .code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(catalog_->shares(carl_, d.id).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(catalog_->revoke(carl_, d.id, GranteeKind::kTenant, "").error().code,
            ErrorCode::kPermissionDenied);
}

TEST_P(CatalogTest, GroupMembershipChangesApplyAtOnce) {
  Document d = make(anna_, "team doc");
  share(anna_, d, GranteeKind::kGroup, team_, Role::kEditor);
  EXPECT_EQ(role(carl_, d), Role::kNone);
  EXPECT_EQ(titles(carl_), (std::vector<std::string>{}));
  ASSERT_TRUE(identity_->add_member(admin_, team_, carl_.user_id).ok());
  EXPECT_EQ(role(carl_, d), Role::kEditor);
  EXPECT_EQ(titles(carl_), (std::vector<std::string>{"team doc"}));
  EXPECT_EQ(catalog_->role_of(carl_, d.id).value(), Role::kEditor);
  ASSERT_TRUE(identity_->remove_member(admin_, team_, bob_.user_id).ok());
  EXPECT_EQ(role(bob_, d), Role::kNone);
  EXPECT_EQ(catalog_->role_of(bob_, d.id).value(), Role::kNone);
  ASSERT_TRUE(identity_->delete_group(admin_, team_).ok());
  EXPECT_EQ(role(carl_, d), Role::kNone);
}

TEST_P(CatalogTest, RenameNeedsEditorOrOwner) {
  Document d = make(anna_, "doc");
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kViewer);
  share(anna_, d, GranteeKind::kGroup, team_, Role::kCommenter);  // bob again, commenter
  share(anna_, d, GranteeKind::kUser, carl_.user_id, Role::kEditor);
  EXPECT_EQ(catalog_->rename(bob_, d.id, "by bob").error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(catalog_->rename(beta_admin_, d.id, "by beta").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(catalog_->rename(admin_, d.id, "by a tenant admin").error().code,
            ErrorCode::kNotFound);  // admins of the tenant have no role by that alone
  clock_.advance(std::chrono::seconds(1));
  auto by_carl = catalog_->rename(carl_, d.id, "by carl");
  ASSERT_TRUE(by_carl.ok());
  EXPECT_EQ(by_carl->role, Role::kEditor);
  EXPECT_EQ(by_carl->update_ms, clock_.now_ms());
  EXPECT_EQ(catalog_->get(bob_, d.id)->title, "by carl");
  ASSERT_TRUE(catalog_->rename(anna_, d.id, "by anna").ok());
  ASSERT_TRUE(catalog_->trash(anna_, d.id).ok());
  EXPECT_EQ(catalog_->rename(anna_, d.id, "in the trash").error().code,
            ErrorCode::kFailedPrecondition);
}

// Every call against every role: what each may do, and the code when not.
TEST_P(CatalogTest, EachRoleMayDoWhatItsRankAllows) {
  Document d = make(anna_, "doc");
  Principal dave = member("dave@example.com");
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kViewer);
  share(anna_, d, GranteeKind::kUser, carl_.user_id, Role::kCommenter);
  share(anna_, d, GranteeKind::kUser, dave.user_id, Role::kEditor);
  struct Case {
    const Principal* who;
    Role role;
  };
  for (const Case& c :
       {Case{&bob_, Role::kViewer}, Case{&carl_, Role::kCommenter}, Case{&dave, Role::kEditor}}) {
    SCOPED_TRACE(std::string(role_name(c.role)));
    const Principal& p = *c.who;
    EXPECT_EQ(role(p, d), c.role);
    EXPECT_EQ(catalog_->role_of(p, d.id).value(), c.role);
    EXPECT_TRUE(catalog_->history(p, d.id, {}).ok());
    auto renamed = catalog_->rename(p, d.id, "by " + std::string(role_name(c.role)));
    if (c.role == Role::kEditor) {
      EXPECT_TRUE(renamed.ok());
    } else {
      EXPECT_EQ(renamed.error().code, ErrorCode::kPermissionDenied);
    }
    auto denied = [](const auto& r) {
      return !r.ok() && r.error().code == ErrorCode::kPermissionDenied;
    };
    EXPECT_TRUE(
        denied(catalog_->share(p, d.id, Share{GranteeKind::kTenant, "", Role::kViewer, 0})));
    EXPECT_TRUE(denied(catalog_->shares(p, d.id)));
    EXPECT_TRUE(denied(catalog_->revoke(p, d.id, GranteeKind::kUser, bob_.user_id)));
    EXPECT_TRUE(denied(catalog_->trash(p, d.id)));
    EXPECT_TRUE(denied(catalog_->restore(p, d.id)));
    EXPECT_TRUE(denied(catalog_->erase(p, d.id)));
  }
  EXPECT_EQ(catalog_->get(anna_, d.id)->title, "by editor");
  EXPECT_EQ(catalog_->shares(anna_, d.id)->size(), 3u);
  EXPECT_TRUE(observer_.changed().empty());
  // The owner does all of it.
  ASSERT_TRUE(catalog_->rename(anna_, d.id, "by owner").ok());
  ASSERT_TRUE(catalog_->revoke(anna_, d.id, GranteeKind::kUser, bob_.user_id).ok());
  ASSERT_TRUE(catalog_->trash(anna_, d.id).ok());
  ASSERT_TRUE(catalog_->restore(anna_, d.id).ok());
  ASSERT_TRUE(catalog_->trash(anna_, d.id).ok());
  ASSERT_TRUE(catalog_->erase(anna_, d.id).ok());
}

TEST_P(CatalogTest, PageSizesOutsideOneTo500AreRefused) {
  Document d = make(anna_, "doc");
  for (int size : {-1, 501, 100000}) {
    DocumentService::ListRequest req;
    req.page.page_size = size;
    auto l = catalog_->list(anna_, req);
    ASSERT_FALSE(l.ok()) << size;
    EXPECT_EQ(l.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(l.error().message.find("pageSize"), std::string::npos);
    EXPECT_EQ(catalog_->history(anna_, d.id, {size, ""}).error().code, ErrorCode::kInvalidArgument);
  }
  for (int size : {1, 500}) {
    DocumentService::ListRequest req;
    req.page.page_size = size;
    EXPECT_TRUE(catalog_->list(anna_, req).ok()) << size;
    EXPECT_TRUE(catalog_->history(anna_, d.id, {size, ""}).ok()) << size;
  }
  // A history token is not a list token and the other way round.
  EXPECT_EQ(catalog_->history(anna_, d.id, {0, "MTIz"}).value().items.size(), 1u);  // "123"
  DocumentService::ListRequest req;
  req.page.page_token = "LTE";  // "-1"
  EXPECT_EQ(catalog_->list(anna_, req).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(catalog_->history(anna_, d.id, {0, "LTE"}).error().code, ErrorCode::kInvalidArgument);
  // Search text follows the title rules (control characters refused).
  req = {};
  req.title_contains = "a\x01";
  EXPECT_EQ(catalog_->list(anna_, req).error().code, ErrorCode::kInvalidArgument);
}

TEST_P(CatalogTest, TrashIsTheOwnersAndHidesTheDocumentFromOthers) {
  Document d = make(anna_, "doc");
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kEditor);
  EXPECT_EQ(catalog_->trash(bob_, d.id).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(catalog_->trash(carl_, d.id).error().code, ErrorCode::kNotFound);
  std::int64_t now = clock_.now_ms();
  auto t = catalog_->trash(anna_, d.id);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->trash_ms, now);
  EXPECT_EQ(observer_.gone(), (std::vector<std::string>{key(anna_, d)}));
  clock_.advance(std::chrono::seconds(1));
  auto twice = catalog_->trash(anna_, d.id);  // idempotent, keeps the first time
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->trash_ms, now);
  EXPECT_EQ(observer_.gone().size(), 1u);

  EXPECT_EQ(titles(anna_), (std::vector<std::string>{}));
  DocumentService::ListRequest trash;
  trash.trashed = true;
  EXPECT_EQ(titles(anna_, trash), (std::vector<std::string>{"doc"}));
  EXPECT_EQ(titles(bob_, trash), (std::vector<std::string>{}));
  EXPECT_EQ(titles(bob_), (std::vector<std::string>{}));
  EXPECT_EQ(role(bob_, d), Role::kNone);
  EXPECT_EQ(role(anna_, d), Role::kOwner);
  EXPECT_EQ(catalog_->history(bob_, d.id, {}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(catalog_->role_of(anna_, d.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(catalog_->restore(bob_, d.id).error().code, ErrorCode::kNotFound);

  auto back = catalog_->restore(anna_, d.id);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->trash_ms);
  EXPECT_EQ(role(bob_, d), Role::kEditor);  // shares kept
  EXPECT_EQ(titles(anna_, trash), (std::vector<std::string>{}));
  EXPECT_EQ(catalog_->role_of(bob_, d.id).value(), Role::kEditor);
  EXPECT_EQ(observer_.gone().size(), 1u);
}

TEST_P(CatalogTest, EraseOnlyFromTheTrashAndDeletesEverything) {
  Document d = make(anna_, "doc");
  Document other = make(anna_, "kept");
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kEditor);
  share(anna_, other, GranteeKind::kUser, bob_.user_id, Role::kEditor);
  exec_ok(*db_, "INSERT INTO doc_snapshots (tenant_id, doc_id, version, text, ts_ms) VALUES ('" +
                    anna_.tenant_id + "', '" + d.id + "', 1, '', 0)");
  auto live = catalog_->erase(anna_, d.id);
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.error().code, ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(catalog_->trash(anna_, d.id).ok());
  EXPECT_EQ(catalog_->erase(bob_, d.id).error().code, ErrorCode::kNotFound);  // trashed: hidden
  EXPECT_EQ(catalog_->erase(beta_admin_, d.id).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(catalog_->erase(anna_, d.id).ok());
  EXPECT_EQ(observer_.gone(), (std::vector<std::string>{key(anna_, d), key(anna_, d)}));
  EXPECT_EQ(catalog_->get(anna_, d.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(catalog_->erase(anna_, d.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(count_rows(*db_, "documents"), 1);
  EXPECT_EQ(count_rows(*db_, "doc_ops"), 1);  // the other document's create op
  EXPECT_EQ(count_rows(*db_, "doc_shares"), 1);
  EXPECT_EQ(count_rows(*db_, "doc_snapshots"), 0);
  EXPECT_EQ(catalog_->get(bob_, other.id)->role, Role::kEditor);
}

TEST_P(CatalogTest, RevokingOrNarrowingTellsTheRealTimeSide) {
  Document d = make(anna_, "doc");
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kEditor);
  share(anna_, d, GranteeKind::kTenant, "", Role::kViewer);
  EXPECT_TRUE(observer_.changed().empty()) << "granting takes nothing away";
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kCommenter);  // narrowed
  EXPECT_EQ(observer_.changed(), (std::vector<std::string>{key(anna_, d)}));
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kEditor);  // widened
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kEditor);  // unchanged
  EXPECT_EQ(observer_.changed().size(), 1u);
  ASSERT_TRUE(catalog_->revoke(anna_, d.id, GranteeKind::kTenant, "").ok());
  EXPECT_EQ(observer_.changed().size(), 2u);
  EXPECT_FALSE(catalog_->revoke(anna_, d.id, GranteeKind::kTenant, "").ok());
  EXPECT_FALSE(catalog_->revoke(bob_, d.id, GranteeKind::kUser, bob_.user_id).ok());
  EXPECT_EQ(observer_.changed().size(), 2u) << "failed revokes change nothing";
  EXPECT_TRUE(observer_.gone().empty());

  // Without an observer (the app before the sync side exists) nothing breaks.
  catalog_->set_observer(nullptr);
  ASSERT_TRUE(catalog_->revoke(anna_, d.id, GranteeKind::kUser, bob_.user_id).ok());
  ASSERT_TRUE(catalog_->trash(anna_, d.id).ok());
  EXPECT_EQ(observer_.changed().size(), 2u);
  EXPECT_TRUE(observer_.gone().empty());
}

TEST_P(CatalogTest, AnotherTenantGetsNotFoundFromEveryCall) {
  Document d = make(anna_, "secret");
  share(anna_, d, GranteeKind::kTenant, "", Role::kEditor);
  const Principal& b = beta_admin_;
  auto nf = [](const auto& r) { return !r.ok() && r.error().code == ErrorCode::kNotFound; };
  EXPECT_TRUE(nf(catalog_->get(b, d.id)));
  EXPECT_TRUE(nf(catalog_->rename(b, d.id, "pwned")));
  EXPECT_TRUE(nf(catalog_->trash(b, d.id)));
  EXPECT_TRUE(nf(catalog_->restore(b, d.id)));
  EXPECT_TRUE(nf(catalog_->erase(b, d.id)));
  EXPECT_TRUE(nf(catalog_->share(b, d.id, Share{GranteeKind::kTenant, "", Role::kEditor, 0})));
  EXPECT_TRUE(nf(catalog_->share(b, d.id, Share{GranteeKind::kUser, b.user_id, Role::kEditor, 0})));
  EXPECT_TRUE(nf(catalog_->shares(b, d.id)));
  EXPECT_TRUE(nf(catalog_->revoke(b, d.id, GranteeKind::kTenant, "")));
  EXPECT_TRUE(nf(catalog_->history(b, d.id, {})));
  EXPECT_TRUE(nf(catalog_->role_of(b, d.id)));
  EXPECT_EQ(titles(b), (std::vector<std::string>{}));
  // Nothing changed.
  EXPECT_EQ(catalog_->get(anna_, d.id)->title, "secret");
  EXPECT_EQ(catalog_->shares(anna_, d.id)->size(), 1u);
  // Ids that cannot exist are not found either, without a query.
  for (const std::string& id :
       std::vector<std::string>{"", "a/b", std::string(129, 'a'), std::string("x\0y", 3), "é"}) {
    EXPECT_TRUE(nf(catalog_->get(anna_, id))) << id;
    EXPECT_TRUE(nf(catalog_->role_of(anna_, id))) << id;
    EXPECT_TRUE(nf(catalog_->erase(anna_, id))) << id;
  }
}

TEST_P(CatalogTest, RoleOfAndInsertForCreate) {
  Document d = make(anna_, "doc");
  EXPECT_EQ(catalog_->role_of(anna_, d.id).value(), Role::kOwner);
  EXPECT_EQ(catalog_->role_of(bob_, d.id).value(), Role::kNone);  // exists, no role
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kCommenter);
  EXPECT_EQ(catalog_->role_of(bob_, d.id).value(), Role::kCommenter);
  EXPECT_EQ(catalog_->role_of(anna_, "no-such-doc").error().code, ErrorCode::kNotFound);

  // A ShareDB create on a new id: the catalogue row, inside the caller's
  // transaction (the op log adds its op and moves the version there).
  std::int64_t now = clock_.now_ms();
  ASSERT_TRUE(
      db_->write([&](Tx& tx) { return catalog_->insert_for_create(tx, bob_, "bobs-doc", now); })
          .ok());
  auto made = catalog_->get(bob_, "bobs-doc");
  ASSERT_TRUE(made.ok());
  EXPECT_EQ(made->title, "Untitled");
  EXPECT_EQ(made->owner_id, bob_.user_id);
  EXPECT_EQ(made->version, 0);
  EXPECT_EQ(made->size, 0);
  EXPECT_EQ(made->create_ms, now);
  EXPECT_EQ(made->update_ms, now);
  EXPECT_EQ(made->role, Role::kOwner);
  EXPECT_EQ(catalog_->role_of(bob_, "bobs-doc").value(), Role::kOwner);
  EXPECT_EQ(catalog_->role_of(anna_, "bobs-doc").value(), Role::kNone);

  // An existing id: kAlreadyExists, and the transaction goes on (PostgreSQL
  // would refuse every later statement after a failed one).
  Status again = db_->write([&](Tx& tx) -> Status {
    auto st = catalog_->insert_for_create(tx, anna_, "bobs-doc", now);
    if (st || st.error().code != ErrorCode::kAlreadyExists)
      return Error::internal("expected kAlreadyExists");
    auto ok = tx.exec("UPDATE documents SET size = 7 WHERE tenant_id = ?1 AND id = ?2",
                      {bob_.tenant_id, std::string("bobs-doc")});
    if (!ok) return ok.error();
    return {};
  });
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(catalog_->get(bob_, "bobs-doc")->size, 7);
  EXPECT_EQ(catalog_->get(bob_, "bobs-doc")->owner_id, bob_.user_id);
  // The same id in another tenant is another document.
  ASSERT_TRUE(db_->write([&](Tx& tx) {
                   return catalog_->insert_for_create(tx, beta_admin_, "bobs-doc", now);
                 })
                  .ok());
  EXPECT_EQ(catalog_->get(beta_admin_, "bobs-doc")->owner_id, beta_admin_.user_id);
  EXPECT_EQ(catalog_->get(bob_, "bobs-doc")->owner_id, bob_.user_id);
  Status bad =
      db_->write([&](Tx& tx) { return catalog_->insert_for_create(tx, bob_, "a b", now); });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);

  ASSERT_TRUE(catalog_->trash(anna_, d.id).ok());
  EXPECT_EQ(catalog_->role_of(anna_, d.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(catalog_->role_of(bob_, d.id).error().code, ErrorCode::kNotFound);
}

TEST_P(CatalogTest, HistoryIsPagedNewestFirstForEveryRole) {
  Document d = make(anna_, "doc");
  // Edits as the op log would commit them (its own code writes them for real).
  for (int v = 1; v <= 4; ++v)
    exec_ok(*db_,
            "INSERT INTO doc_ops (tenant_id, doc_id, version, kind, op, src, seq, "
            "author_id, ts_ms, size) VALUES ('" +
                anna_.tenant_id + "', '" + d.id + "', " + std::to_string(v) +
                ", 'edit', '[\"x\"]', 'c1', " + std::to_string(v) + ", '" + bob_.user_id + "', " +
                std::to_string(1000 + v) + ", " + std::to_string(v) + ")");
  share(anna_, d, GranteeKind::kUser, bob_.user_id, Role::kViewer);
  std::vector<std::int64_t> versions;
  PageRequest page{2, ""};
  for (int guard = 0; guard < 5; ++guard) {
    auto h = catalog_->history(bob_, d.id, page);
    ASSERT_TRUE(h.ok()) << h.error().message;
    for (const auto& v : h->items) versions.push_back(v.version);
    if (h->next_page_token.empty()) break;
    page.page_token = h->next_page_token;
  }
  EXPECT_EQ(versions, (std::vector<std::int64_t>{4, 3, 2, 1, 0}));
  auto top = catalog_->history(anna_, d.id, {1, ""});
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->items.size(), 1u);
  EXPECT_EQ(top->items[0].author_id, bob_.user_id);
  EXPECT_EQ(top->items[0].ts_ms, 1004);
  EXPECT_EQ(top->items[0].size, 4);
  EXPECT_EQ(top->items[0].kind, CommittedOp::Kind::kEdit);
  EXPECT_EQ(catalog_->history(carl_, d.id, {}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(catalog_->history(anna_, d.id, {0, "not a token"}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(catalog_->history(anna_, d.id, {600, ""}).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace office::docs

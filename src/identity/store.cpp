#include "identity/store.hpp"

namespace office::identity::store {

using storage::Row;
using storage::Tx;

namespace {

const storage::Migration kMigrations[] = {
    {"identity", 1, "tenants, users, groups, sessions",
     R"sql(
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  create_ms INTEGER NOT NULL
);
CREATE TABLE users (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  email TEXT NOT NULL,
  display_name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
  plan TEXT NOT NULL CHECK (plan IN ('free_tier', 'premium')),
  disabled INTEGER NOT NULL DEFAULT 0,
  platform_admin INTEGER NOT NULL DEFAULT 0,
  create_ms INTEGER NOT NULL,
  update_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, email)
);
CREATE TABLE user_groups (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  create_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name)
);
CREATE TABLE group_members (
  tenant_id TEXT NOT NULL,
  group_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, group_id, user_id),
  FOREIGN KEY (tenant_id, group_id) REFERENCES user_groups(tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX group_members_by_user ON group_members(tenant_id, user_id);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  create_ms INTEGER NOT NULL,
  expire_ms INTEGER NOT NULL,
  revoked_ms INTEGER,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX sessions_by_user ON sessions(tenant_id, user_id);
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(id),
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  create_ms INTEGER NOT NULL,
  expire_ms INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);
)sql"},
    {"identity", 2, "expiry indexes for purging sessions and refresh tokens per tenant",
     R"sql(
CREATE INDEX sessions_by_expiry ON sessions(tenant_id, expire_ms);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(tenant_id, expire_ms);
)sql"},
    // v1 stored milliseconds in INTEGER columns: 64 bits on SQLite, 32 on
    // PostgreSQL, where today's times do not fit. SQLite has nothing to do.
    {"identity", 3, "64-bit times and counters",
     "-- SQLite's INTEGER columns hold 64 bits: nothing to change.\n",
     R"sql(
ALTER TABLE tenants ALTER COLUMN create_ms TYPE BIGINT;
ALTER TABLE users ALTER COLUMN create_ms TYPE BIGINT, ALTER COLUMN update_ms TYPE BIGINT;
ALTER TABLE user_groups ALTER COLUMN create_ms TYPE BIGINT;
ALTER TABLE sessions ALTER COLUMN create_ms TYPE BIGINT, ALTER COLUMN expire_ms TYPE BIGINT,
  ALTER COLUMN revoked_ms TYPE BIGINT;
ALTER TABLE refresh_tokens ALTER COLUMN create_ms TYPE BIGINT, ALTER COLUMN expire_ms TYPE BIGINT;
)sql"},
};

constexpr const char* kUserCols =
    "id, tenant_id, email, display_name, role, plan, disabled, platform_admin, create_ms, "
    "update_ms";

User user_from(const Row& r) {
  User u;
  u.id = r.text(0);
  u.tenant_id = r.text(1);
  u.email = r.text(2);
  u.display_name = r.text(3);
  u.role = r.text(4);
  u.plan = r.text(5);
  u.disabled = r.boolean(6);
  u.platform_admin = r.boolean(7);
  u.create_ms = r.i64(8);
  u.update_ms = r.i64(9);
  return u;
}

Status load_group_ids(Tx& tx, User& u) {
  auto rows = tx.query(
      "SELECT group_id FROM group_members WHERE tenant_id = ?1 AND user_id = ?2 ORDER BY group_id",
      {u.tenant_id, u.id});
  if (!rows) return rows.error();
  u.group_ids.clear();
  for (const auto& r : *rows) u.group_ids.push_back(r.text(0));
  return {};
}

Status load_member_ids(Tx& tx, Group& g) {
  auto rows = tx.query(
      "SELECT user_id FROM group_members WHERE tenant_id = ?1 AND group_id = ?2 ORDER BY user_id",
      {g.tenant_id, g.id});
  if (!rows) return rows.error();
  g.member_ids.clear();
  for (const auto& r : *rows) g.member_ids.push_back(r.text(0));
  return {};
}

Group group_from(const Row& r) {
  return Group{r.text(0), r.text(1), r.text(2), r.text(3), {}, r.i64(4)};
}

Status ok_or(const Result<std::int64_t>& r) {
  if (!r) return r.error();
  return {};
}

}  // namespace

std::span<const storage::Migration> migrations() { return kMigrations; }

Result<std::int64_t> count_tenants(Tx& tx) {
  auto r = tx.query_one("SELECT COUNT(*) FROM tenants");
  if (!r) return r.error();
  return (*r)->i64(0);
}

Status insert_tenant(Tx& tx, const Tenant& t) {
  return ok_or(
      tx.exec("INSERT INTO tenants (id, slug, display_name, create_ms) VALUES (?1,?2,?3,?4)",
              {t.id, t.slug, t.display_name, t.create_ms}));
}

Result<std::optional<Tenant>> tenant_by_slug(Tx& tx, std::string_view slug) {
  auto r = tx.query_one("SELECT id, slug, display_name, create_ms FROM tenants WHERE slug = ?1",
                        {std::string(slug)});
  if (!r) return r.error();
  if (!*r) return std::optional<Tenant>();
  const Row& row = **r;
  return std::optional<Tenant>(Tenant{row.text(0), row.text(1), row.text(2), row.i64(3)});
}

Result<std::vector<Tenant>> list_tenants(Tx& tx) {
  auto rows = tx.query("SELECT id, slug, display_name, create_ms FROM tenants ORDER BY id");
  if (!rows) return rows.error();
  std::vector<Tenant> out;
  for (const auto& r : *rows) out.push_back({r.text(0), r.text(1), r.text(2), r.i64(3)});
  return out;
}

Status insert_user(Tx& tx, const User& u, std::string_view hash) {
  return ok_or(tx.exec(
      "INSERT INTO users (id, tenant_id, email, display_name, password_hash, role, plan, disabled, "
      "platform_admin, create_ms, update_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
      {u.id, u.tenant_id, u.email, u.display_name, std::string(hash), u.role, u.plan,
       std::int64_t{u.disabled}, std::int64_t{u.platform_admin}, u.create_ms, u.update_ms}));
}

Result<std::optional<UserRow>> user_by_email(Tx& tx, std::string_view tenant_id,
                                             std::string_view email) {
  auto r = tx.query_one(std::string("SELECT ") + kUserCols +
                            ", password_hash FROM users WHERE tenant_id = ?1 AND email = ?2",
                        {std::string(tenant_id), std::string(email)});
  if (!r) return r.error();
  if (!*r) return std::optional<UserRow>();
  UserRow out{user_from(**r), (*r)->text(10)};
  if (auto st = load_group_ids(tx, out.user); !st) return st.error();
  return std::optional<UserRow>(std::move(out));
}

Result<std::optional<User>> user_by_id(Tx& tx, std::string_view tenant_id, std::string_view id) {
  auto r = tx.query_one(
      std::string("SELECT ") + kUserCols + " FROM users WHERE tenant_id = ?1 AND id = ?2",
      {std::string(tenant_id), std::string(id)});
  if (!r) return r.error();
  if (!*r) return std::optional<User>();
  User u = user_from(**r);
  if (auto st = load_group_ids(tx, u); !st) return st.error();
  return std::optional<User>(std::move(u));
}

Result<std::vector<User>> list_users(Tx& tx, std::string_view tenant_id, std::string_view after,
                                     int limit) {
  auto rows = tx.query(std::string("SELECT ") + kUserCols +
                           " FROM users WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                       {std::string(tenant_id), std::string(after), std::int64_t{limit}});
  if (!rows) return rows.error();
  std::vector<User> out;
  for (const auto& r : *rows) {
    out.push_back(user_from(r));
    if (auto st = load_group_ids(tx, out.back()); !st) return st.error();
  }
  return out;
}

Status update_user(Tx& tx, const User& u) {
  return ok_or(tx.exec(
      "UPDATE users SET display_name = ?3, role = ?4, plan = ?5, disabled = ?6, update_ms = ?7, "
      "platform_admin = ?8 WHERE tenant_id = ?1 AND id = ?2",
      {u.tenant_id, u.id, u.display_name, u.role, u.plan, std::int64_t{u.disabled}, u.update_ms,
       std::int64_t{u.platform_admin}}));
}

Status set_password_hash(Tx& tx, std::string_view tenant_id, std::string_view id,
                         std::string_view hash, std::int64_t now_ms) {
  return ok_or(tx.exec(
      "UPDATE users SET password_hash = ?3, update_ms = ?4 WHERE tenant_id = ?1 AND id = ?2",
      {std::string(tenant_id), std::string(id), std::string(hash), now_ms}));
}

Result<std::int64_t> count_admins(Tx& tx, std::string_view tenant_id) {
  auto r = tx.query_one(
      "SELECT COUNT(*) FROM users WHERE tenant_id = ?1 AND role = 'admin' AND disabled = 0",
      {std::string(tenant_id)});
  if (!r) return r.error();
  return (*r)->i64(0);
}

Result<std::int64_t> count_platform_admins(Tx& tx) {
  auto r = tx.query_one(
      "SELECT COUNT(*) FROM users WHERE platform_admin = 1 AND role = 'admin' AND disabled = 0");
  if (!r) return r.error();
  return (*r)->i64(0);
}

Status insert_group(Tx& tx, const Group& g) {
  return ok_or(
      tx.exec("INSERT INTO user_groups (tenant_id, id, name, description, create_ms) VALUES "
              "(?1,?2,?3,?4,?5)",
              {g.tenant_id, g.id, g.name, g.description, g.create_ms}));
}

Result<std::optional<Group>> group_by_id(Tx& tx, std::string_view tenant_id, std::string_view id) {
  auto r = tx.query_one(
      "SELECT id, tenant_id, name, description, create_ms FROM user_groups "
      "WHERE tenant_id = ?1 AND id = ?2",
      {std::string(tenant_id), std::string(id)});
  if (!r) return r.error();
  if (!*r) return std::optional<Group>();
  Group g = group_from(**r);
  if (auto st = load_member_ids(tx, g); !st) return st.error();
  return std::optional<Group>(std::move(g));
}

Result<std::vector<Group>> list_groups(Tx& tx, std::string_view tenant_id, std::string_view after,
                                       int limit) {
  auto rows = tx.query(
      "SELECT id, tenant_id, name, description, create_ms FROM user_groups "
      "WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
      {std::string(tenant_id), std::string(after), std::int64_t{limit}});
  if (!rows) return rows.error();
  std::vector<Group> out;
  for (const auto& r : *rows) {
    out.push_back(group_from(r));
    if (auto st = load_member_ids(tx, out.back()); !st) return st.error();
  }
  return out;
}

Status update_group(Tx& tx, const Group& g) {
  return ok_or(
      tx.exec("UPDATE user_groups SET name = ?3, description = ?4 WHERE tenant_id = ?1 AND id = ?2",
              {g.tenant_id, g.id, g.name, g.description}));
}

Result<bool> delete_group(Tx& tx, std::string_view tenant_id, std::string_view id) {
  auto m = tx.exec("DELETE FROM group_members WHERE tenant_id = ?1 AND group_id = ?2",
                   {std::string(tenant_id), std::string(id)});
  if (!m) return m.error();
  auto r = tx.exec("DELETE FROM user_groups WHERE tenant_id = ?1 AND id = ?2",
                   {std::string(tenant_id), std::string(id)});
  if (!r) return r.error();
  return *r > 0;
}

Status add_member(Tx& tx, std::string_view tenant_id, std::string_view group_id,
                  std::string_view user_id) {
  return ok_or(
      tx.exec("INSERT INTO group_members (tenant_id, group_id, user_id) VALUES (?1,?2,?3) "
              "ON CONFLICT DO NOTHING",
              {std::string(tenant_id), std::string(group_id), std::string(user_id)}));
}

Status remove_member(Tx& tx, std::string_view tenant_id, std::string_view group_id,
                     std::string_view user_id) {
  return ok_or(
      tx.exec("DELETE FROM group_members WHERE tenant_id = ?1 AND group_id = ?2 AND user_id = ?3",
              {std::string(tenant_id), std::string(group_id), std::string(user_id)}));
}

Status insert_session(Tx& tx, std::string_view id, std::string_view tenant_id,
                      std::string_view user_id, std::int64_t now_ms, std::int64_t expire_ms) {
  return ok_or(tx.exec(
      "INSERT INTO sessions (id, tenant_id, user_id, create_ms, expire_ms) VALUES (?1,?2,?3,?4,?5)",
      {std::string(id), std::string(tenant_id), std::string(user_id), now_ms, expire_ms}));
}

Result<std::optional<SessionAuth>> session_auth(Tx& tx, std::string_view tenant_id,
                                                std::string_view user_id,
                                                std::string_view session_id) {
  auto r = tx.query_one(
      "SELECT u.role, u.platform_admin, u.disabled, s.revoked_ms IS NOT NULL, s.expire_ms "
      "FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id "
      "WHERE s.id = ?1 AND s.tenant_id = ?2 AND s.user_id = ?3",
      {std::string(session_id), std::string(tenant_id), std::string(user_id)});
  if (!r) return r.error();
  if (!*r) return std::optional<SessionAuth>();
  const Row& row = **r;
  return std::optional<SessionAuth>(
      SessionAuth{row.text(0), row.boolean(1), row.boolean(2), row.boolean(3), row.i64(4)});
}

Status revoke_session(Tx& tx, std::string_view tenant_id, std::string_view session_id,
                      std::int64_t now_ms) {
  return ok_or(
      tx.exec("UPDATE sessions SET revoked_ms = ?3 WHERE tenant_id = ?1 AND id = ?2 "
              "AND revoked_ms IS NULL",
              {std::string(tenant_id), std::string(session_id), now_ms}));
}

Status revoke_user_sessions(Tx& tx, std::string_view tenant_id, std::string_view user_id,
                            std::int64_t now_ms) {
  return ok_or(
      tx.exec("UPDATE sessions SET revoked_ms = ?3 WHERE tenant_id = ?1 AND user_id = ?2 "
              "AND revoked_ms IS NULL",
              {std::string(tenant_id), std::string(user_id), now_ms}));
}

Status insert_refresh(Tx& tx, std::string_view token_hash, const RefreshRow& r,
                      std::int64_t now_ms) {
  return ok_or(tx.exec(
      "INSERT INTO refresh_tokens (token_hash, session_id, tenant_id, user_id, create_ms, "
      "expire_ms) VALUES (?1,?2,?3,?4,?5,?6)",
      {std::string(token_hash), r.session_id, r.tenant_id, r.user_id, now_ms, r.expire_ms}));
}

Result<std::optional<RefreshRow>> refresh_by_hash(Tx& tx, std::string_view tenant_id,
                                                  std::string_view token_hash) {
  auto r = tx.query_one(
      "SELECT session_id, tenant_id, user_id, used, expire_ms FROM refresh_tokens "
      "WHERE tenant_id = ?1 AND token_hash = ?2",
      {std::string(tenant_id), std::string(token_hash)});
  if (!r) return r.error();
  if (!*r) return std::optional<RefreshRow>();
  const Row& row = **r;
  return std::optional<RefreshRow>(
      RefreshRow{row.text(0), row.text(1), row.text(2), row.boolean(3), row.i64(4)});
}

Result<bool> mark_refresh_used(Tx& tx, std::string_view tenant_id, std::string_view token_hash) {
  auto r = tx.exec(
      "UPDATE refresh_tokens SET used = 1 WHERE tenant_id = ?1 AND token_hash = ?2 AND used = 0",
      {std::string(tenant_id), std::string(token_hash)});
  if (!r) return r.error();
  return *r == 1;
}

Result<std::int64_t> purge_expired_refresh(Tx& tx, std::string_view tenant_id, std::int64_t now_ms,
                                           int limit) {
  return tx.exec(
      "DELETE FROM refresh_tokens WHERE tenant_id = ?1 AND token_hash IN ("
      "SELECT token_hash FROM refresh_tokens WHERE tenant_id = ?1 AND expire_ms <= ?2 LIMIT ?3)",
      {std::string(tenant_id), now_ms, std::int64_t{limit}});
}

Result<std::int64_t> purge_expired_sessions(Tx& tx, std::string_view tenant_id, std::int64_t now_ms,
                                            int limit) {
  return tx.exec(
      "DELETE FROM sessions WHERE tenant_id = ?1 AND id IN ("
      "SELECT s.id FROM sessions s WHERE s.tenant_id = ?1 AND s.expire_ms <= ?2 AND NOT EXISTS ("
      "SELECT 1 FROM refresh_tokens r WHERE r.tenant_id = ?1 AND r.session_id = s.id) LIMIT ?3)",
      {std::string(tenant_id), now_ms, std::int64_t{limit}});
}

}  // namespace office::identity::store

#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "identity/types.hpp"
#include "storage/database.hpp"

namespace office::identity {

/// The identity module's tables and queries: the only file that writes SQL for
/// identity. Every user, group, session and refresh-token query is scoped by
/// tenant_id (the tenant of a refresh token is part of the token). Functions run
/// inside the caller's transaction and are not thread-safe on their own.
namespace store {

std::span<const storage::Migration> migrations();

struct UserRow {
  User user;
  std::string password_hash;
};

struct SessionAuth {  ///< what authenticating one request needs
  std::string role;
  bool platform_admin = false;
  bool user_disabled = false;
  bool session_revoked = false;
  std::int64_t session_expire_ms = 0;
};

struct RefreshRow {
  std::string session_id;
  std::string tenant_id;
  std::string user_id;
  bool used = false;
  std::int64_t expire_ms = 0;
};

Result<std::int64_t> count_tenants(storage::Tx& tx);
Status insert_tenant(storage::Tx& tx, const Tenant& t);
Result<std::optional<Tenant>> tenant_by_slug(storage::Tx& tx, std::string_view slug);
Result<std::vector<Tenant>> list_tenants(storage::Tx& tx);

Status insert_user(storage::Tx& tx, const User& u, std::string_view password_hash);
Result<std::optional<UserRow>> user_by_email(storage::Tx& tx, std::string_view tenant_id,
                                             std::string_view email);
Result<std::optional<User>> user_by_id(storage::Tx& tx, std::string_view tenant_id,
                                       std::string_view id);
/// Users with id > after (UUIDv7 order), at most limit.
Result<std::vector<User>> list_users(storage::Tx& tx, std::string_view tenant_id,
                                     std::string_view after, int limit);
Status update_user(storage::Tx& tx, const User& u);
Status set_password_hash(storage::Tx& tx, std::string_view tenant_id, std::string_view id,
                         std::string_view hash, std::int64_t now_ms);
Result<std::int64_t> count_admins(storage::Tx& tx, std::string_view tenant_id);
/// Enabled admins with platform_admin set, in all tenants: a platform-level
/// query (like list_tenants), the one user query not scoped by tenant.
Result<std::int64_t> count_platform_admins(storage::Tx& tx);

Status insert_group(storage::Tx& tx, const Group& g);
Result<std::optional<Group>> group_by_id(storage::Tx& tx, std::string_view tenant_id,
                                         std::string_view id);
Result<std::vector<Group>> list_groups(storage::Tx& tx, std::string_view tenant_id,
                                       std::string_view after, int limit);
Status update_group(storage::Tx& tx, const Group& g);
Result<bool> delete_group(storage::Tx& tx, std::string_view tenant_id, std::string_view id);
Status add_member(storage::Tx& tx, std::string_view tenant_id, std::string_view group_id,
                  std::string_view user_id);
Status remove_member(storage::Tx& tx, std::string_view tenant_id, std::string_view group_id,
                     std::string_view user_id);

Status insert_session(storage::Tx& tx, std::string_view id, std::string_view tenant_id,
                      std::string_view user_id, std::int64_t now_ms, std::int64_t expire_ms);
Result<std::optional<SessionAuth>> session_auth(storage::Tx& tx, std::string_view tenant_id,
                                                std::string_view user_id,
                                                std::string_view session_id);
Status revoke_session(storage::Tx& tx, std::string_view tenant_id, std::string_view session_id,
                      std::int64_t now_ms);
Status revoke_user_sessions(storage::Tx& tx, std::string_view tenant_id, std::string_view user_id,
                            std::int64_t now_ms);
Status insert_refresh(storage::Tx& tx, std::string_view token_hash, const RefreshRow& r,
                      std::int64_t now_ms);
Result<std::optional<RefreshRow>> refresh_by_hash(storage::Tx& tx, std::string_view tenant_id,
                                                  std::string_view token_hash);
/// Marks the token used; returns false if it was already used (a replay).
Result<bool> mark_refresh_used(storage::Tx& tx, std::string_view tenant_id,
                               std::string_view token_hash);
/// Deletes at most `limit` refresh tokens of the tenant that expired by now_ms;
/// returns how many.
Result<std::int64_t> purge_expired_refresh(storage::Tx& tx, std::string_view tenant_id,
                                           std::int64_t now_ms, int limit);
/// Deletes at most `limit` sessions of the tenant that expired by now_ms and
/// have no refresh token left; returns how many.
Result<std::int64_t> purge_expired_sessions(storage::Tx& tx, std::string_view tenant_id,
                                            std::int64_t now_ms, int limit);

}  // namespace store
}  // namespace office::identity

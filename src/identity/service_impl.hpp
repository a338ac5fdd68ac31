#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/clock.hpp"
#include "identity/auth_cache.hpp"
#include "identity/login_limiter.hpp"
#include "identity/password.hpp"
#include "identity/service.hpp"
#include "identity/token_keys.hpp"
#include "storage/database.hpp"

namespace office::identity {

struct IdentityOptions {
  /// Signs and verifies access tokens (a KeyRing in the server); null: a
  /// fresh in-memory Ed25519 key (tests).
  std::shared_ptr<TokenKeys> keys;
  std::int64_t access_ttl_s = 900;
  std::int64_t refresh_ttl_s = 30 * 86400;
  LoginLimits login_limits;
};

/// What purge_expired() deleted.
struct PurgeCounts {
  std::int64_t sessions = 0;
  std::int64_t refresh_tokens = 0;
};

/// IdentityService over a Database. Thread-safe. Holds references to db and
/// clock, which must outlive it.
class IdentityServiceImpl final : public IdentityService {
 public:
  IdentityServiceImpl(storage::Database& db, const Clock& clock, PasswordHasher hasher,
                      IdentityOptions options);

  /// On an empty database: creates tenant "default" and its first admin (a
  /// platform admin) with this e-mail and password; an empty password is
  /// replaced by a generated one, which is returned (to be shown once).
  /// Returns nullopt when tenants already exist (nothing is changed).
  Result<std::optional<std::string>> bootstrap(std::string_view admin_email,
                                               std::string_view admin_password);

  /// Deletes sessions and refresh tokens whose lifetime (auth.refresh_ttl_s
  /// from login) is over, in every tenant, `batch` rows per transaction.
  /// They are refused already; this only keeps the tables small. Safe to run
  /// at any time and concurrently with requests; meant to be scheduled
  /// (e.g. hourly). Returns how many rows went.
  Result<PurgeCounts> purge_expired(int batch = 1000);

  using IdentityService::login;
  Result<Tokens> login(std::string_view email, std::string_view password,
                       std::string_view tenant_slug, std::string_view client_address) override;
  std::optional<Error> login_refused_now(std::string_view email, std::string_view tenant_slug,
                                         std::string_view client_address) const override;
  Result<Tokens> refresh(std::string_view refresh_token) override;
  Status logout(std::string_view refresh_token) override;
  Result<Principal> authenticate(std::string_view access_token) const override;
  std::optional<Principal> cached_principal(std::string_view access_token) const override;
  std::unique_ptr<SessionWatch::Lease> watch(const Principal& p, SessionWatch::EndFn end) override;
  Result<Principal> renew(SessionWatch::Lease& lease, std::string_view access_token) override;
  std::size_t sweep_sessions() override;

  Result<User> get_profile(const Principal& p) const override;
  std::optional<User> cached_profile(const Principal& p) const override;
  Result<User> create_user(const Principal& p, const NewUser& u) override;
  Result<User> get_user(const Principal& p, std::string_view id) const override;
  Result<Page<User>> list_users(const Principal& p, const PageRequest& page) const override;
  Result<User> update_user(const Principal& p, std::string_view id,
                           const UserPatch& patch) override;
  Result<User> disable_user(const Principal& p, std::string_view id) override;

  Result<Group> create_group(const Principal& p, const NewGroup& g) override;
  Result<Group> get_group(const Principal& p, std::string_view id) const override;
  Result<Page<Group>> list_groups(const Principal& p, const PageRequest& page) const override;
  Result<Group> update_group(const Principal& p, std::string_view id,
                             const GroupPatch& patch) override;
  Status delete_group(const Principal& p, std::string_view id) override;
  Result<Group> add_member(const Principal& p, std::string_view group_id,
                           std::string_view user_id) override;
  Result<Group> remove_member(const Principal& p, std::string_view group_id,
                              std::string_view user_id) override;

  Result<std::pair<Tenant, User>> create_tenant(const Principal& p, const NewTenant& t) override;
  Result<std::vector<Tenant>> list_tenants(const Principal& p) const override;
  std::string jwks() const override;

 private:
  Result<Tokens> open_session(storage::Tx& tx, const User& user);
  // login() after the limiter let it through.
  Result<Tokens> login_checked(const std::string& email, std::string_view password,
                               const std::string& slug);
  Result<User> make_user(const std::string& tenant_id, const NewUser& u, bool platform_admin);
  Result<Group> set_membership(const Principal& p, std::string_view group_id,
                               std::string_view user_id, bool add);

  storage::Database& db_;
  const Clock& clock_;
  PasswordHasher hasher_;
  IdentityOptions options_;
  std::shared_ptr<TokenKeys> keys_;
  std::string dummy_hash_;
  mutable LoginLimiter limiter_;  // login_refused_now() looks (and touches its LRU)
  SessionWatch watch_;
  mutable AuthCache cache_;  ///< hot-path memo; invalidate_all() after identity writes  ///<
                             ///< verified against when the e-mail is unknown (equal timing)
};

}  // namespace office::identity

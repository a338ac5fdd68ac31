#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/principal.hpp"
#include "core/result.hpp"
#include "identity/session_watch.hpp"
#include "identity/types.hpp"

namespace office::identity {

/// The identity module's API: tenants, users, groups, sessions. Transport-free.
/// Every call that takes a Principal acts inside principal.tenant_id only: an
/// id from another tenant is kNotFound, never a leak. Writes need role admin
/// (kPermissionDenied otherwise); tenant management needs platform_admin.
/// Platform admins can be changed (name, role, plan, password, disabled,
/// platform_admin) only by platform admins, who may also appoint others
/// (UserPatch::platform_admin); the last enabled platform admin with the
/// admin role cannot be disabled or demoted (kFailedPrecondition).
/// Implementations are thread-safe.
class IdentityService {
 public:
  virtual ~IdentityService() = default;

  // --- sessions -----------------------------------------------------------
  /// Checks the password (Argon2id: slow, call off the I/O threads) and opens a
  /// session. Wrong e-mail, password, tenant or a disabled user all give the
  /// same kUnauthenticated "invalid credentials". Failed logins are limited
  /// per account, per client address and per both (exponential back-off):
  /// while a limit holds, login answers kResourceExhausted with
  /// Error::retry_after_s and does not look at the password.
  /// `client_address` is the caller's IP address as the server sees it.
  virtual Result<Tokens> login(std::string_view email, std::string_view password,
                               std::string_view tenant_slug, std::string_view client_address) = 0;
  /// The login limiter's answer without any other work, from memory (never
  /// blocks): kResourceExhausted with retry_after_s if login() would refuse
  /// this attempt now, nullopt if it may go on (then call login(), which
  /// checks again). Lets a server refuse a throttled attempt on its I/O
  /// thread instead of queueing it for the password hasher.
  virtual std::optional<Error> login_refused_now(std::string_view email,
                                                 std::string_view tenant_slug,
                                                 std::string_view client_address) const {
    return std::nullopt;
  }
  /// login() for in-process callers with no client address (tests, tools).
  Result<Tokens> login(std::string_view email, std::string_view password,
                       std::string_view tenant_slug) {
    return login(email, password, tenant_slug, {});
  }
  /// Rotates a refresh token: the old one stops working. Presenting an already
  /// rotated token revokes its whole session (token theft detection).
  virtual Result<Tokens> refresh(std::string_view refresh_token) = 0;
  /// Revokes the session of the refresh token; its access tokens stop working.
  virtual Status logout(std::string_view refresh_token) = 0;
  /// Verifies an access token and that its session and user are still active.
  virtual Result<Principal> authenticate(std::string_view access_token) const = 0;
  /// The public keys that verify access tokens, as a JWK Set (RFC 7517):
  /// what services that only verify tokens load (JwtVerifier::from_jwks).
  virtual std::string jwks() const = 0;
  /// What authenticate() would answer, if it is known without blocking (from
  /// memory; never the database): for the I/O threads. nullopt: call
  /// authenticate() off the I/O thread.
  virtual std::optional<Principal> cached_principal(std::string_view access_token) const {
    return std::nullopt;
  }
  /// Keeps a live connection (a WebSocket) of `p` (from authenticate()) true
  /// to its session: `end` is called once when the session ends (logout, a
  /// replayed refresh token, the user disabled or their password changed)
  /// or p.expires_at_s passes without a renew(); see SessionWatch. The
  /// connection drops the lease when it closes. Never blocks.
  virtual std::unique_ptr<SessionWatch::Lease> watch(const Principal& p,
                                                     SessionWatch::EndFn end) = 0;
  /// Re-authentication over a live connection: `access_token` must be valid
  /// and of the lease's tenant, user and session; the lease then runs until
  /// its expiry. CPU only (a signature check; the session's end is known to
  /// the watch), never blocks on I/O. Errors: kUnauthenticated.
  virtual Result<Principal> renew(SessionWatch::Lease& lease, std::string_view access_token) = 0;
  /// Ends the watched connections whose credentials expired; the server runs
  /// it every second. Returns how many ended. Never blocks.
  virtual std::size_t sweep_sessions() = 0;

  // --- users ---------------------------------------------------------------
  virtual Result<User> get_profile(const Principal& p) const = 0;
  /// get_profile() from memory only (never blocks), or nullopt.
  virtual std::optional<User> cached_profile(const Principal& p) const { return std::nullopt; }
  virtual Result<User> create_user(const Principal& p, const NewUser& u) = 0;
  virtual Result<User> get_user(const Principal& p, std::string_view id) const = 0;
  virtual Result<Page<User>> list_users(const Principal& p, const PageRequest& page) const = 0;
  virtual Result<User> update_user(const Principal& p, std::string_view id,
                                   const UserPatch& patch) = 0;
  /// Disables the user and revokes all their sessions.
  virtual Result<User> disable_user(const Principal& p, std::string_view id) = 0;

  // --- groups --------------------------------------------------------------
  virtual Result<Group> create_group(const Principal& p, const NewGroup& g) = 0;
  virtual Result<Group> get_group(const Principal& p, std::string_view id) const = 0;
  virtual Result<Page<Group>> list_groups(const Principal& p, const PageRequest& page) const = 0;
  virtual Result<Group> update_group(const Principal& p, std::string_view id,
                                     const GroupPatch& patch) = 0;
  virtual Status delete_group(const Principal& p, std::string_view id) = 0;
  virtual Result<Group> add_member(const Principal& p, std::string_view group_id,
                                   std::string_view user_id) = 0;
  virtual Result<Group> remove_member(const Principal& p, std::string_view group_id,
                                      std::string_view user_id) = 0;

  // --- tenants (platform admins) ---------------------------------------------
  virtual Result<std::pair<Tenant, User>> create_tenant(const Principal& p, const NewTenant& t) = 0;
  virtual Result<std::vector<Tenant>> list_tenants(const Principal& p) const = 0;
};

}  // namespace office::identity

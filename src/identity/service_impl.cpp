#include "identity/service_impl.hpp"

#include "core/hex.hpp"
#include "core/ids.hpp"
#include "core/random.hpp"
#include "core/sha256.hpp"
#include "identity/store.hpp"
#include "identity/validate.hpp"
#include "storage/transact.hpp"

namespace office::identity {

using storage::read_value;
using storage::Tx;
using storage::write_value;

namespace {

std::string random_token(std::size_t bytes) {
  std::string raw(bytes, '\0');
  secure_random(raw.data(), raw.size());
  return base64url_encode(raw);
}

// Refresh tokens are "<tenant id>.<32 random bytes, base64url>": the tenant
// lets every lookup be scoped by tenant like all other queries. Only the
// SHA-256 of the whole token is stored.
std::string new_refresh_token(std::string_view tenant_id) {
  return std::string(tenant_id) + "." + random_token(32);
}

// Finds the row of a presented refresh token inside its tenant. Tokens issued
// before tenant-prefixed tokens (43 base64url characters, no '.') are looked
// up tenant by tenant, each query scoped; that path serves installs upgraded
// with live sessions and can go once auth.refresh_ttl_s has passed since.
Result<std::optional<store::RefreshRow>> find_refresh(Tx& tx, std::string_view token,
                                                      std::string_view hash) {
  auto dot = token.find('.');
  if (dot != std::string_view::npos) {
    std::string_view tenant = token.substr(0, dot);
    if (!looks_like_id(tenant)) return std::optional<store::RefreshRow>();
    return store::refresh_by_hash(tx, tenant, hash);
  }
  std::string ignored;
  if (token.size() != 43 || !base64url_decode(token, ignored))
    return std::optional<store::RefreshRow>();
  auto tenants = store::list_tenants(tx);
  if (!tenants) return tenants.error();
  for (const auto& t : *tenants) {
    auto row = store::refresh_by_hash(tx, t.id, hash);
    if (!row || *row) return row;
  }
  return std::optional<store::RefreshRow>();
}

Error not_found(std::string_view what) {
  return Error::not_found(std::string(what) + " not found");
}

Error platform_admin_denied() {
  return Error::denied("only a platform admin may change a platform admin");
}

Status require_admin(const Principal& p) {
  if (!p.is_admin()) return Error::denied("this needs the admin role");
  return {};
}

Result<std::string> decode_page_token(std::string_view token) {
  std::string after;
  if (token.empty()) return after;
  if (!base64url_decode(token, after) || !looks_like_id(after))
    return Error::invalid("invalid pageToken");
  return after;
}

Result<int> check_page_size(int size) {
  if (size == 0) return 50;
  if (size < 1 || size > 500) return Error::invalid("pageSize must be between 1 and 500");
  return size;
}

// Fetches limit+1 rows to know whether there is a next page.
template <class T, class F>
Result<Page<T>> paginate(const storage::Database& db, const PageRequest& req, F&& fetch) {
  auto size = check_page_size(req.page_size);
  if (!size) return size.error();
  auto after = decode_page_token(req.page_token);
  if (!after) return after.error();
  auto rows = read_value<std::vector<T>>(db, [&](Tx& tx) { return fetch(tx, *after, *size + 1); });
  if (!rows) return rows.error();
  Page<T> page;
  page.items = std::move(*rows);
  if (page.items.size() > static_cast<std::size_t>(*size)) {
    page.items.resize(*size);
    page.next_page_token = base64url_encode(page.items.back().id);
  }
  return page;
}

}  // namespace

IdentityServiceImpl::IdentityServiceImpl(storage::Database& db, const Clock& clock,
                                         PasswordHasher hasher, IdentityOptions options)
    : db_(db),
      clock_(clock),
      hasher_(hasher),
      options_(std::move(options)),
      keys_(options_.keys ? options_.keys : ephemeral_token_keys(clock)),
      limiter_(clock, options_.login_limits),
      watch_(clock) {
  auto h = hasher_.hash(random_token(16));
  if (h) dummy_hash_ = *h;
}

Result<User> IdentityServiceImpl::make_user(const std::string& tenant_id, const NewUser& in,
                                            bool platform_admin) {
  auto email = normalize_email(in.email);
  if (!email) return email.error();
  if (auto st = check_password_policy(in.password, *email); !st) return st.error();
  User u;
  u.display_name = in.display_name.empty() ? email->substr(0, email->find('@')) : in.display_name;
  if (auto st = check_display_name(u.display_name); !st) return st.error();
  u.role = in.role.empty() ? "member" : in.role;
  u.plan = in.plan.empty() ? "free_tier" : in.plan;
  if (auto st = check_role(u.role); !st) return st.error();
  if (auto st = check_plan(u.plan); !st) return st.error();
  u.id = new_id(clock_);
  u.tenant_id = tenant_id;
  u.email = std::move(*email);
  u.platform_admin = platform_admin;
  u.create_ms = u.update_ms = clock_.now_ms();
  return u;
}

Result<std::optional<std::string>> IdentityServiceImpl::bootstrap(std::string_view admin_email,
                                                                  std::string_view admin_password) {
  auto count = read_value<std::int64_t>(db_, [](Tx& tx) { return store::count_tenants(tx); });
  if (!count) return count.error();
  if (*count > 0) return std::optional<std::string>();
  std::optional<std::string> generated;
  std::string password(admin_password);
  if (password.empty()) {
    do {
      password = random_token(15);  // 20 characters
    } while (!check_password_policy(password, admin_email));
    generated = password;
  }
  Tenant tenant{new_id(clock_), "default", "Default", clock_.now_ms()};
  auto user = make_user(
      tenant.id, NewUser{std::string(admin_email), password, "Administrator", "admin", "premium"},
      true);
  if (!user)
    return Error::invalid("cannot create the first admin " + std::string(admin_email) +
                          " (admin.email, admin.password): " + user.error().message);
  auto hash = hasher_.hash(password);
  if (!hash) return hash.error();
  bool lost_race = false;  // assigned on every run (the retry rule of Database::write)
  auto st = db_.write([&](Tx& tx) -> Status {
    auto again = store::count_tenants(tx);  // another process may have won the race
    if (!again) return again.error();
    lost_race = *again > 0;
    if (lost_race) return {};
    if (auto s = store::insert_tenant(tx, tenant); !s) return s;
    return store::insert_user(tx, *user, *hash);
  });
  if (!st) return st.error();
  if (lost_race) generated.reset();
  return generated;
}

Result<Tokens> IdentityServiceImpl::open_session(Tx& tx, const User& user) {
  std::int64_t now_ms = clock_.now_ms();
  std::string session_id = new_id(clock_);
  std::int64_t refresh_expire = now_ms + options_.refresh_ttl_s * 1000;
  if (auto st =
          store::insert_session(tx, session_id, user.tenant_id, user.id, now_ms, refresh_expire);
      !st)
    return st.error();
  Tokens t;
  t.refresh_token = new_refresh_token(user.tenant_id);
  if (auto st = store::insert_refresh(
          tx, sha256_hex(t.refresh_token),
          store::RefreshRow{session_id, user.tenant_id, user.id, false, refresh_expire}, now_ms);
      !st)
    return st.error();
  std::int64_t now_s = now_ms / 1000;
  auto access = keys_->sign(AccessClaims{user.id, user.tenant_id, session_id, now_s, now_s,
                                         now_s + options_.access_ttl_s, new_id(clock_)});
  if (!access) return access.error();
  t.access_token = std::move(*access);
  t.expires_in = options_.access_ttl_s;
  t.user = user;
  return t;
}

namespace {
// The account as typed, so that unknown accounts are limited like real ones.
std::string limiter_account(std::string_view slug, const std::string& email) {
  return std::string(slug.empty() ? std::string_view("default") : slug) + "/" + email;
}
Error too_many_logins(std::int64_t wait_s) {
  return Error::exhausted("too many failed logins; retry in " + std::to_string(wait_s) + " s",
                          wait_s);
}
}  // namespace

std::optional<Error> IdentityServiceImpl::login_refused_now(std::string_view email_in,
                                                            std::string_view tenant_slug,
                                                            std::string_view client_address) const {
  auto email = normalize_email(email_in);
  if (!email) return std::nullopt;  // login() answers that
  if (auto wait = limiter_.blocked_for(limiter_account(tenant_slug, *email), client_address))
    return too_many_logins(*wait);
  return std::nullopt;
}

Result<Tokens> IdentityServiceImpl::login(std::string_view email_in, std::string_view password,
                                          std::string_view tenant_slug,
                                          std::string_view client_address) {
  auto email = normalize_email(email_in);
  if (!email) return email.error();
  std::string slug = tenant_slug.empty() ? "default" : std::string(tenant_slug);
  const std::string account = limiter_account(slug, *email);
  if (auto wait = limiter_.blocked_for(account, client_address)) return too_many_logins(*wait);
  Result<Tokens> out = login_checked(*email, password, slug);
  if (out)
    limiter_.record_success(account, client_address);
  else if (out.error().code == ErrorCode::kUnauthenticated)
    limiter_.record_failure(account, client_address);
  return out;
}

Result<Tokens> IdentityServiceImpl::login_checked(const std::string& email,
                                                  std::string_view password,
                                                  const std::string& slug) {
  const Error invalid = Error::unauthenticated("invalid credentials");
  if (password.size() > 1024) return invalid;
  struct Found {
    std::optional<store::UserRow> row;
  };
  auto found = read_value<Found>(db_, [&](Tx& tx) -> Result<Found> {
    auto tenant = store::tenant_by_slug(tx, slug);
    if (!tenant) return tenant.error();
    if (!*tenant) return Found{};
    auto row = store::user_by_email(tx, (*tenant)->id, email);
    if (!row) return row.error();
    return Found{std::move(*row)};
  });
  if (!found) return found.error();
  if (!found->row) {
    hasher_.verify(dummy_hash_, password);  // same cost as a real check: no user enumeration
    return invalid;
  }
  const store::UserRow& row = *found->row;
  if (!hasher_.verify(row.password_hash, password) || row.user.disabled) return invalid;
  std::optional<std::string> rehash;
  if (hasher_.needs_rehash(row.password_hash)) {
    if (auto h = hasher_.hash(password)) rehash = *h;
  }
  return write_value<Tokens>(db_, [&](Tx& tx) -> Result<Tokens> {
    if (rehash) {
      if (auto st = store::set_password_hash(tx, row.user.tenant_id, row.user.id, *rehash,
                                             clock_.now_ms());
          !st)
        return st.error();
    }
    return open_session(tx, row.user);
  });
}

Result<Tokens> IdentityServiceImpl::refresh(std::string_view refresh_token) {
  const Error invalid = Error::unauthenticated("invalid or expired refresh token");
  if (refresh_token.empty() || refresh_token.size() > 256) return invalid;
  std::string hash = sha256_hex(refresh_token);
  bool replayed = false;
  std::string replayed_tenant;
  std::string replayed_session;
  auto tokens =
      write_value<std::optional<Tokens>>(db_, [&](Tx& tx) -> Result<std::optional<Tokens>> {
        replayed = false;  // every run starts afresh (the retry rule of Database::write)
        auto row = find_refresh(tx, refresh_token, hash);
        if (!row) return row.error();
        if (!*row) return std::optional<Tokens>();
        const auto& r = **row;
        std::int64_t now_ms = clock_.now_ms();
        if (r.used) {
          // A rotated token came back: someone holds a copy. End the whole session
          // (commit the revocation, then fail).
          replayed = true;
          replayed_tenant = r.tenant_id;
          replayed_session = r.session_id;
          if (auto st = store::revoke_session(tx, r.tenant_id, r.session_id, now_ms); !st)
            return st.error();
          return std::optional<Tokens>();
        }
        auto auth = store::session_auth(tx, r.tenant_id, r.user_id, r.session_id);
        if (!auth) return auth.error();
        if (!*auth || (*auth)->session_revoked || (*auth)->user_disabled || r.expire_ms <= now_ms)
          return std::optional<Tokens>();
        auto used = store::mark_refresh_used(tx, r.tenant_id, hash);
        if (!used) return used.error();
        if (!*used) return std::optional<Tokens>();
        auto user = store::user_by_id(tx, r.tenant_id, r.user_id);
        if (!user) return user.error();
        if (!*user) return std::optional<Tokens>();
        Tokens t;
        t.refresh_token = new_refresh_token(r.tenant_id);
        if (auto st = store::insert_refresh(
                tx, sha256_hex(t.refresh_token),
                store::RefreshRow{r.session_id, r.tenant_id, r.user_id, false, r.expire_ms},
                now_ms);
            !st)
          return st.error();
        std::int64_t now_s = now_ms / 1000;
        auto access = keys_->sign(AccessClaims{r.user_id, r.tenant_id, r.session_id, now_s, now_s,
                                               now_s + options_.access_ttl_s, new_id(clock_)});
        if (!access) return access.error();
        t.access_token = std::move(*access);
        t.expires_in = options_.access_ttl_s;
        t.user = std::move(**user);
        return std::optional<Tokens>(std::move(t));
      });
  cache_.invalidate_all();  // a replay revoked a session
  if (!tokens) return tokens.error();
  if (replayed) {
    watch_.end_session(replayed_tenant, replayed_session);
    return Error::unauthenticated("refresh token was already used; session revoked");
  }
  if (!*tokens) return invalid;
  return std::move(**tokens);
}

Status IdentityServiceImpl::logout(std::string_view refresh_token) {
  if (refresh_token.empty() || refresh_token.size() > 256)
    return Error::unauthenticated("invalid refresh token");
  std::string hash = sha256_hex(refresh_token);
  std::optional<store::RefreshRow> ended;  // assigned on every run (the retry rule)
  auto st = db_.write([&](Tx& tx) -> Status {
    auto row = find_refresh(tx, refresh_token, hash);
    if (!row) return row.error();
    ended = *row;
    if (!*row) return {};
    return store::revoke_session(tx, (*row)->tenant_id, (*row)->session_id, clock_.now_ms());
  });
  cache_.invalidate_all();
  if (!st) return st;
  if (!ended) return Error::unauthenticated("invalid refresh token");
  watch_.end_session(ended->tenant_id, ended->session_id);  // its open connections close now
  return {};
}

Result<Principal> IdentityServiceImpl::authenticate(std::string_view access_token) const {
  if (auto hit = cache_.principal(access_token, clock_.now_s())) return std::move(*hit);
  std::uint64_t epoch = cache_.epoch();
  auto claims = keys_->verify(access_token);
  if (!claims) return claims.error();
  auto auth = read_value<std::optional<store::SessionAuth>>(db_, [&](Tx& tx) {
    return store::session_auth(tx, claims->tenant_id, claims->subject, claims->session_id);
  });
  if (!auth) return auth.error();
  if (!*auth || (*auth)->session_revoked) return Error::unauthenticated("session ended");
  if ((*auth)->session_expire_ms <= clock_.now_ms())
    return Error::unauthenticated("session expired");
  if ((*auth)->user_disabled) return Error::unauthenticated("user disabled");
  // Valid until the token or its session expires, whichever is first (the
  // session's end rounded down to the second); cached as long, so a cached
  // answer never outlives what a fresh check would accept.
  const std::int64_t until = std::min(claims->expires_at, (*auth)->session_expire_ms / 1000);
  Principal p{claims->tenant_id, claims->subject,         claims->session_id,
              (*auth)->role,     (*auth)->platform_admin, until};
  cache_.put_principal(access_token, p, until, epoch);
  return p;
}

std::string IdentityServiceImpl::jwks() const { return keys_->jwks(); }

std::unique_ptr<SessionWatch::Lease> IdentityServiceImpl::watch(const Principal& p,
                                                                SessionWatch::EndFn end) {
  return watch_.add(p, std::move(end));
}

Result<Principal> IdentityServiceImpl::renew(SessionWatch::Lease& lease,
                                             std::string_view access_token) {
  auto claims = keys_->verify(access_token);
  if (!claims) return claims.error();
  const Principal& held = lease.principal();
  // Another session's token, even the same user's, would move the connection
  // to a session the watch does not follow.
  if (claims->tenant_id != held.tenant_id || claims->subject != held.user_id ||
      claims->session_id != held.session_id)
    return Error::unauthenticated("the token is not of this connection's session");
  if (!lease.renew(claims->expires_at)) return Error::unauthenticated("session ended");
  Principal p = held;
  p.expires_at_s = claims->expires_at;
  return p;
}

std::size_t IdentityServiceImpl::sweep_sessions() { return watch_.sweep(); }

Result<PurgeCounts> IdentityServiceImpl::purge_expired(int batch) {
  if (batch < 1) batch = 1;
  auto tenants =
      read_value<std::vector<Tenant>>(db_, [](Tx& tx) { return store::list_tenants(tx); });
  if (!tenants) return tenants.error();
  const std::int64_t now_ms = clock_.now_ms();
  PurgeCounts out;
  // Per tenant and in batches: each write transaction stays short, so
  // logins and refreshes are not held up behind a large purge.
  for (const auto& t : *tenants) {
    for (std::int64_t* count : {&out.refresh_tokens, &out.sessions}) {
      for (;;) {
        auto n = write_value<std::int64_t>(db_, [&](Tx& tx) {
          return count == &out.refresh_tokens
                     ? store::purge_expired_refresh(tx, t.id, now_ms, batch)
                     : store::purge_expired_sessions(tx, t.id, now_ms, batch);
        });
        if (!n) return n.error();
        *count += *n;
        if (*n < batch) break;
      }
    }
  }
  return out;  // nothing the cache holds changes: expired sessions are refused already
}

std::optional<Principal> IdentityServiceImpl::cached_principal(
    std::string_view access_token) const {
  return cache_.principal(access_token, clock_.now_s());
}

Result<User> IdentityServiceImpl::get_profile(const Principal& p) const {
  return get_user(p, p.user_id);
}

std::optional<User> IdentityServiceImpl::cached_profile(const Principal& p) const {
  return cache_.profile(p.tenant_id, p.user_id);
}

Result<User> IdentityServiceImpl::create_user(const Principal& p, const NewUser& in) {
  if (auto st = require_admin(p); !st) return st.error();
  auto user = make_user(p.tenant_id, in, false);
  if (!user) return user.error();
  auto hash = hasher_.hash(in.password);
  if (!hash) return hash.error();
  auto st = db_.write([&](Tx& tx) { return store::insert_user(tx, *user, *hash); });
  if (!st) {
    if (st.error().code == ErrorCode::kAlreadyExists)
      return Error::exists("a user with this email already exists");
    return st.error();
  }
  return user;
}

Result<User> IdentityServiceImpl::get_user(const Principal& p, std::string_view id) const {
  if (!looks_like_id(id)) return not_found("user");
  if (auto hit = cache_.profile(p.tenant_id, id)) return std::move(*hit);
  std::uint64_t epoch = cache_.epoch();
  auto u = read_value<std::optional<User>>(
      db_, [&](Tx& tx) { return store::user_by_id(tx, p.tenant_id, id); });
  if (!u) return u.error();
  if (!*u) return not_found("user");
  cache_.put_profile(**u, epoch);
  return std::move(**u);
}

Result<Page<User>> IdentityServiceImpl::list_users(const Principal& p,
                                                   const PageRequest& page) const {
  return paginate<User>(db_, page, [&](Tx& tx, const std::string& after, int limit) {
    return store::list_users(tx, p.tenant_id, after, limit);
  });
}

Result<User> IdentityServiceImpl::update_user(const Principal& p, std::string_view id,
                                              const UserPatch& patch) {
  if (auto st = require_admin(p); !st) return st.error();
  if (patch.platform_admin && !p.platform_admin)
    return Error::denied("only a platform admin may appoint or remove platform admins");
  if (!looks_like_id(id)) return not_found("user");
  if (patch.display_name)
    if (auto st = check_display_name(*patch.display_name); !st) return st.error();
  if (patch.role)
    if (auto st = check_role(*patch.role); !st) return st.error();
  if (patch.plan)
    if (auto st = check_plan(*patch.plan); !st) return st.error();
  std::optional<std::string> hash;
  if (patch.password) {
    // The e-mail rule needs the user's address: read it before paying for the hash.
    auto target = read_value<std::optional<User>>(
        db_, [&](Tx& tx) { return store::user_by_id(tx, p.tenant_id, id); });
    if (!target) return target.error();
    if (!*target) return not_found("user");
    if ((*target)->platform_admin && !p.platform_admin) return platform_admin_denied();
    if (auto st = check_password_policy(*patch.password, (*target)->email); !st) return st.error();
    auto h = hasher_.hash(*patch.password);
    if (!h) return h.error();
    hash = *h;
  }
  auto out = write_value<User>(db_, [&](Tx& tx) -> Result<User> {
    auto cur = store::user_by_id(tx, p.tenant_id, id);
    if (!cur) return cur.error();
    if (!*cur) return not_found("user");
    User u = std::move(**cur);
    // Platform admins answer only to platform admins: a tenant admin of the
    // tenant they live in may not reset their password, demote or disable them.
    if (u.platform_admin && !p.platform_admin) return platform_admin_denied();
    auto active_admin = [](const User& x) { return x.role == "admin" && !x.disabled; };
    const bool was_active_admin = active_admin(u);
    const bool was_active_platform_admin = was_active_admin && u.platform_admin;
    if (patch.display_name) u.display_name = *patch.display_name;
    if (patch.role) u.role = *patch.role;
    if (patch.plan) u.plan = *patch.plan;
    if (patch.disabled) u.disabled = *patch.disabled;
    if (patch.platform_admin) u.platform_admin = *patch.platform_admin;
    std::int64_t now_ms = clock_.now_ms();
    u.update_ms = now_ms;
    if (was_active_admin && !active_admin(u)) {
      auto admins = store::count_admins(tx, p.tenant_id);
      if (!admins) return admins.error();
      if (*admins <= 1)
        return Error{ErrorCode::kFailedPrecondition,
                     "a tenant must keep at least one active admin"};
    }
    if (was_active_platform_admin && !(active_admin(u) && u.platform_admin)) {
      auto platform_admins = store::count_platform_admins(tx);
      if (!platform_admins) return platform_admins.error();
      if (*platform_admins <= 1)
        return Error{ErrorCode::kFailedPrecondition,
                     "the installation must keep at least one active platform admin"};
    }
    if (auto st = store::update_user(tx, u); !st) return st.error();
    if (hash)
      if (auto st = store::set_password_hash(tx, p.tenant_id, u.id, *hash, now_ms); !st)
        return st.error();
    if (u.disabled || hash)  // a disabled user or a changed password ends every session
      if (auto st = store::revoke_user_sessions(tx, p.tenant_id, u.id, now_ms); !st)
        return st.error();
    return u;
  });
  cache_.invalidate_all();
  if (out && (out->disabled || hash)) watch_.end_user(p.tenant_id, out->id);
  return out;
}

Result<User> IdentityServiceImpl::disable_user(const Principal& p, std::string_view id) {
  UserPatch patch;
  patch.disabled = true;
  return update_user(p, id, patch);
}

Result<Group> IdentityServiceImpl::create_group(const Principal& p, const NewGroup& in) {
  if (auto st = require_admin(p); !st) return st.error();
  if (auto st = check_group_name(in.name); !st) return st.error();
  if (in.description.size() > 2000) return Error::invalid("description must be at most 2000 bytes");
  Group g{new_id(clock_), p.tenant_id, in.name, in.description, {}, clock_.now_ms()};
  for (const auto& m : in.member_ids)
    if (!looks_like_id(m)) return Error::invalid("memberIds: no user " + m);
  auto out = write_value<Group>(db_, [&](Tx& tx) -> Result<Group> {
    if (auto st = store::insert_group(tx, g); !st) {
      if (st.error().code == ErrorCode::kAlreadyExists)
        return Error::exists("a group with this name already exists");
      return st.error();
    }
    for (const auto& m : in.member_ids) {
      auto u = store::user_by_id(tx, p.tenant_id, m);
      if (!u) return u.error();
      if (!*u) return Error::invalid("memberIds: no user " + m);
      if (auto st = store::add_member(tx, p.tenant_id, g.id, m); !st) return st.error();
    }
    auto out = store::group_by_id(tx, p.tenant_id, g.id);
    if (!out) return out.error();
    return std::move(**out);
  });
  cache_.invalidate_all();
  return out;
}

Result<Group> IdentityServiceImpl::get_group(const Principal& p, std::string_view id) const {
  if (!looks_like_id(id)) return not_found("group");
  auto g = read_value<std::optional<Group>>(
      db_, [&](Tx& tx) { return store::group_by_id(tx, p.tenant_id, id); });
  if (!g) return g.error();
  if (!*g) return not_found("group");
  return std::move(**g);
}

Result<Page<Group>> IdentityServiceImpl::list_groups(const Principal& p,
                                                     const PageRequest& page) const {
  return paginate<Group>(db_, page, [&](Tx& tx, const std::string& after, int limit) {
    return store::list_groups(tx, p.tenant_id, after, limit);
  });
}

Result<Group> IdentityServiceImpl::update_group(const Principal& p, std::string_view id,
                                                const GroupPatch& patch) {
  if (auto st = require_admin(p); !st) return st.error();
  if (!looks_like_id(id)) return not_found("group");
  if (patch.name)
    if (auto st = check_group_name(*patch.name); !st) return st.error();
  if (patch.description && patch.description->size() > 2000)
    return Error::invalid("description must be at most 2000 bytes");
  auto out = write_value<Group>(db_, [&](Tx& tx) -> Result<Group> {
    auto cur = store::group_by_id(tx, p.tenant_id, id);
    if (!cur) return cur.error();
    if (!*cur) return not_found("group");
    Group g = std::move(**cur);
    if (patch.name) g.name = *patch.name;
    if (patch.description) g.description = *patch.description;
    if (auto st = store::update_group(tx, g); !st) {
      if (st.error().code == ErrorCode::kAlreadyExists)
        return Error::exists("a group with this name already exists");
      return st.error();
    }
    return g;
  });
  cache_.invalidate_all();
  return out;
}

Status IdentityServiceImpl::delete_group(const Principal& p, std::string_view id) {
  if (auto st = require_admin(p); !st) return st;
  if (!looks_like_id(id)) return not_found("group");
  auto deleted =
      write_value<bool>(db_, [&](Tx& tx) { return store::delete_group(tx, p.tenant_id, id); });
  cache_.invalidate_all();  // members' groupIds changed
  if (!deleted) return deleted.error();
  if (!*deleted) return not_found("group");
  return {};
}

Result<Group> IdentityServiceImpl::set_membership(const Principal& p, std::string_view group_id,
                                                  std::string_view user_id, bool add) {
  if (auto st = require_admin(p); !st) return st.error();
  if (!looks_like_id(group_id)) return not_found("group");
  if (!looks_like_id(user_id)) return not_found("user");
  auto out = write_value<Group>(db_, [&](Tx& tx) -> Result<Group> {
    auto g = store::group_by_id(tx, p.tenant_id, group_id);
    if (!g) return g.error();
    if (!*g) return not_found("group");
    auto u = store::user_by_id(tx, p.tenant_id, user_id);
    if (!u) return u.error();
    if (!*u) return not_found("user");
    Status st = add ? store::add_member(tx, p.tenant_id, group_id, user_id)
                    : store::remove_member(tx, p.tenant_id, group_id, user_id);
    if (!st) return st.error();
    auto out = store::group_by_id(tx, p.tenant_id, group_id);
    if (!out) return out.error();
    return std::move(**out);
  });
  cache_.invalidate_all();
  return out;
}

Result<Group> IdentityServiceImpl::add_member(const Principal& p, std::string_view group_id,
                                              std::string_view user_id) {
  return set_membership(p, group_id, user_id, true);
}

Result<Group> IdentityServiceImpl::remove_member(const Principal& p, std::string_view group_id,
                                                 std::string_view user_id) {
  return set_membership(p, group_id, user_id, false);
}

Result<std::pair<Tenant, User>> IdentityServiceImpl::create_tenant(const Principal& p,
                                                                   const NewTenant& in) {
  if (!p.platform_admin) return Error::denied("this needs a platform admin");
  if (auto st = check_tenant_slug(in.slug); !st) return st.error();
  std::string name = in.display_name.empty() ? in.slug : in.display_name;
  if (auto st = check_display_name(name); !st) return st.error();
  Tenant t{new_id(clock_), in.slug, name, clock_.now_ms()};
  auto admin =
      make_user(t.id, NewUser{in.admin_email, in.admin_password, "", "admin", "free_tier"}, false);
  if (!admin) return Error::invalid("admin: " + admin.error().message);
  auto hash = hasher_.hash(in.admin_password);
  if (!hash) return hash.error();
  auto st = db_.write([&](Tx& tx) -> Status {
    if (auto s = store::insert_tenant(tx, t); !s) return s;
    return store::insert_user(tx, *admin, *hash);
  });
  if (!st) {
    if (st.error().code == ErrorCode::kAlreadyExists)
      return Error::exists("a tenant with this slug already exists");
    return st.error();
  }
  return std::pair{t, *admin};
}

Result<std::vector<Tenant>> IdentityServiceImpl::list_tenants(const Principal& p) const {
  if (!p.platform_admin) return Error::denied("this needs a platform admin");
  return read_value<std::vector<Tenant>>(db_, [](Tx& tx) { return store::list_tenants(tx); });
}

}  // namespace office::identity

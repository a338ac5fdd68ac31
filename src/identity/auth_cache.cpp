#include "identity/auth_cache.hpp"

namespace office::identity {

namespace {
// "tenant/user", written into `out` (whose capacity is reused).
std::string_view profile_key(std::string& out, std::string_view tenant_id,
                             std::string_view user_id) {
  out.clear();
  out.append(tenant_id).append(1, '/').append(user_id);
  return out;
}
}  // namespace

std::optional<Principal> AuthCache::principal(std::string_view token, std::int64_t now_s) const {
  std::uint64_t current = epoch();
  std::shared_lock lock(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end() || it->second.epoch != current || now_s >= it->second.expires_s)
    return std::nullopt;
  return it->second.principal;
}

void AuthCache::put_principal(std::string_view token, const Principal& p, std::int64_t expires_s,
                              std::uint64_t epoch) {
  std::unique_lock lock(mu_);
  if (tokens_.size() >= max_entries_) tokens_.clear();
  tokens_.insert_or_assign(std::string(token), TokenEntry{p, expires_s, epoch});
}

std::optional<User> AuthCache::profile(std::string_view tenant_id, std::string_view user_id) const {
  thread_local std::string scratch;  // no allocation per lookup once warm
  const std::string_view key = profile_key(scratch, tenant_id, user_id);
  std::uint64_t current = epoch();
  std::shared_lock lock(mu_);
  auto it = profiles_.find(key);
  if (it == profiles_.end() || it->second.epoch != current) return std::nullopt;
  return it->second.user;
}

void AuthCache::put_profile(const User& u, std::uint64_t epoch) {
  std::unique_lock lock(mu_);
  if (profiles_.size() >= max_entries_) profiles_.clear();
  std::string key;
  profile_key(key, u.tenant_id, u.id);
  profiles_.insert_or_assign(std::move(key), ProfileEntry{u, epoch});
}

}  // namespace office::identity

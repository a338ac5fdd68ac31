#include "identity/auth_cache.hpp"

#include <cstring>

namespace office::identity {

namespace {
std::string profile_key(std::string_view tenant_id, std::string_view user_id) {
  std::string k;
  k.reserve(tenant_id.size() + 1 + user_id.size());
  k.append(tenant_id).append(1, '/').append(user_id);
  return k;
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
  // Ids are UUIDs (36 characters): build the key on the stack, not the heap.
  char buf[96];
  std::string heap;
  std::string_view key;
  if (tenant_id.size() + 1 + user_id.size() <= sizeof buf) {
    std::memcpy(buf, tenant_id.data(), tenant_id.size());
    buf[tenant_id.size()] = '/';
    std::memcpy(buf + tenant_id.size() + 1, user_id.data(), user_id.size());
    key = std::string_view(buf, tenant_id.size() + 1 + user_id.size());
  } else {
    heap = profile_key(tenant_id, user_id);
    key = heap;
  }
  std::uint64_t current = epoch();
  std::shared_lock lock(mu_);
  auto it = profiles_.find(key);
  if (it == profiles_.end() || it->second.epoch != current) return std::nullopt;
  return it->second.user;
}

void AuthCache::put_profile(const User& u, std::uint64_t epoch) {
  std::unique_lock lock(mu_);
  if (profiles_.size() >= max_entries_) profiles_.clear();
  profiles_.insert_or_assign(profile_key(u.tenant_id, u.id), ProfileEntry{u, epoch});
}

}  // namespace office::identity

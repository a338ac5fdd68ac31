#include "identity/login_limiter.hpp"

#include <algorithm>

namespace office::identity {

namespace {
// Distinct prefixes keep the three kinds of keys apart; '\n' cannot occur in
// a normalised e-mail, a slug or an address.
std::string pair_key(std::string_view account, std::string_view address) {
  std::string k = "p\n";
  k.append(account).append(1, '\n').append(address);
  return k;
}
std::string account_key(std::string_view account) { return "a\n" + std::string(account); }
std::string address_key(std::string_view address) { return "i\n" + std::string(address); }
}  // namespace

LoginLimiter::LoginLimiter(const Clock& clock, LoginLimits limits)
    : clock_(clock), limits_(limits) {
  limits_.max_entries = std::max<std::size_t>(limits_.max_entries, 3);
}

LoginLimiter::Entry* LoginLimiter::find(const std::string& key, bool create) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return &it->second;
  }
  if (!create) return nullptr;
  while (entries_.size() >= limits_.max_entries) {  // drop the least recently used
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(key);
  Entry& e = entries_[key];
  e.lru = lru_.begin();
  return &e;
}

std::optional<std::int64_t> LoginLimiter::blocked_for(std::string_view account,
                                                      std::string_view address) {
  const std::int64_t now = clock_.now_s();
  std::lock_guard lock(mu_);
  std::int64_t until = 0;
  const Entry* pair = find(pair_key(account, address), false);
  if (pair != nullptr) until = std::max(until, pair->blocked_until_s);
  const bool trusted = pair != nullptr && pair->trusted_until_s > now;
  if (!trusted)
    if (const Entry* a = find(account_key(account), false))
      until = std::max(until, a->blocked_until_s);
  if (const Entry* i = find(address_key(address), false))
    until = std::max(until, i->blocked_until_s);
  if (until <= now) return std::nullopt;
  return until - now;
}

void LoginLimiter::fail(const std::string& key, std::uint32_t max_failures,
                        std::int64_t max_backoff_s, std::int64_t now) {
  if (max_failures == 0) return;  // tier off
  Entry* e = find(key, true);
  if (now - e->last_failure_s >= limits_.failure_window_s) e->failures = 0;
  e->failures = e->failures == UINT32_MAX ? e->failures : e->failures + 1;
  e->last_failure_s = now;
  if (e->failures > max_failures) {
    const std::uint32_t excess = std::min<std::uint32_t>(e->failures - max_failures - 1, 40);
    const std::int64_t backoff = std::min<std::int64_t>(std::int64_t{1} << excess, max_backoff_s);
    e->blocked_until_s = now + std::max<std::int64_t>(backoff, 1);
  }
}

void LoginLimiter::record_failure(std::string_view account, std::string_view address) {
  const std::int64_t now = clock_.now_s();
  std::lock_guard lock(mu_);
  fail(pair_key(account, address), limits_.pair_max_failures, limits_.pair_max_backoff_s, now);
  fail(account_key(account), limits_.account_max_failures, limits_.account_max_backoff_s, now);
  fail(address_key(address), limits_.address_max_failures, limits_.address_max_backoff_s, now);
}

void LoginLimiter::record_success(std::string_view account, std::string_view address) {
  const std::int64_t now = clock_.now_s();
  std::lock_guard lock(mu_);
  Entry* e = find(pair_key(account, address), true);
  e->failures = 0;
  e->blocked_until_s = 0;
  e->trusted_until_s = now + limits_.trusted_s;
}

std::size_t LoginLimiter::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace office::identity

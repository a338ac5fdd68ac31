#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/principal.hpp"
#include "identity/types.hpp"

namespace office::identity {

/// In-process memo of what the database said about access tokens and
/// profiles, so the hot path (every authenticated request; GET /users/me)
/// needs no database read. Correctness rests on one rule: every write that
/// can change a session, a user or a membership calls invalidate_all() after
/// it commits, which makes every older entry stale (an epoch counter, so
/// invalidation is O(1)). That holds while one process owns the database
/// (stage 1); with several replicas the same call must be driven by an
/// "identity changed" event on the bus (docs/identity.md).
/// Bounded: when full, it is emptied (a cheap, rare miss storm beats an LRU's
/// per-hit bookkeeping). Thread-safe.
class AuthCache {
 public:
  explicit AuthCache(std::size_t max_entries = 65536) : max_entries_(max_entries) {}

  /// The principal of a token verified before, if still fresh. now_s is
  /// compared with the token's expiry, so an expired token is never served.
  std::optional<Principal> principal(std::string_view token, std::int64_t now_s) const;
  void put_principal(std::string_view token, const Principal& p, std::int64_t expires_s,
                     std::uint64_t epoch);

  std::optional<User> profile(std::string_view tenant_id, std::string_view user_id) const;
  void put_profile(const User& u, std::uint64_t epoch);

  /// Read before the database read whose result will be put, so a write that
  /// commits in between is not masked by a stale put.
  std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  void invalidate_all() { epoch_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  struct TokenEntry {
    Principal principal;
    std::int64_t expires_s;
    std::uint64_t epoch;
  };
  struct ProfileEntry {
    User user;
    std::uint64_t epoch;
  };
  std::size_t max_entries_;
  std::atomic<std::uint64_t> epoch_{1};
  mutable std::shared_mutex mu_;
  // Transparent hash: look a token up by string_view without copying it.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, TokenEntry, Hash, std::equal_to<>> tokens_;
  std::unordered_map<std::string, ProfileEntry, Hash, std::equal_to<>> profiles_;
};

}  // namespace office::identity

#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.hpp"

namespace office::identity {

/// Thresholds of LoginLimiter (configuration keys auth.login_*). A tier with
/// max_failures 0 is off.
struct LoginLimits {
  /// One account from one client address: the strict tier. Back-off starts
  /// after this many failures and grows to pair_max_backoff_s.
  std::uint32_t pair_max_failures = 5;
  std::int64_t pair_max_backoff_s = 900;
  /// One account from anywhere: catches guessing spread over many addresses,
  /// capped short so that nobody can lock a real user out for long. An
  /// address that logged into the account successfully before is exempt.
  std::uint32_t account_max_failures = 20;
  std::int64_t account_max_backoff_s = 60;
  /// One client address, any account: catches password spraying.
  std::uint32_t address_max_failures = 100;
  std::int64_t address_max_backoff_s = 900;
  /// A counter is forgotten this long after its last failure.
  std::int64_t failure_window_s = 3600;
  /// How long a successful (account, address) pair stays exempt from the
  /// per-account tier.
  std::int64_t trusted_s = 30 * 86400;
  /// Memory bound: the least recently used counters are dropped beyond this.
  std::size_t max_entries = 100'000;
};

/// In-memory limiter of failed logins with exponential back-off, keyed three
/// ways: (account, address), account and address. After a tier's
/// max_failures, each further failure blocks that key for 1 s, 2 s, 4 s, ...
/// up to the tier's cap, counted from the failure; attempts while blocked are
/// refused without checking the password and do not count. A success clears
/// the (account, address) counter and trusts that pair (see trusted_s).
/// `account` is any stable string naming the account as typed (tenant slug and
/// normalised e-mail), so unknown accounts behave exactly like known ones.
/// Bounded memory (max_entries, least recently used dropped first);
/// thread-safe; all time from the injected Clock. One process's view: with
/// several replicas each limits on its own.
class LoginLimiter {
 public:
  LoginLimiter(const Clock& clock, LoginLimits limits);

  /// Seconds until this attempt may be made (at least 1), or nullopt when it
  /// may be made now.
  std::optional<std::int64_t> blocked_for(std::string_view account, std::string_view address);
  void record_failure(std::string_view account, std::string_view address);
  void record_success(std::string_view account, std::string_view address);

  /// Counters held (for tests and metrics).
  std::size_t size() const;

 private:
  struct Entry {
    std::uint32_t failures = 0;
    std::int64_t last_failure_s = 0;
    std::int64_t blocked_until_s = 0;
    std::int64_t trusted_until_s = 0;
    std::list<std::string>::iterator lru;
  };
  // Finds a counter (touching it) or nullptr; `create` adds a missing one.
  Entry* find(const std::string& key, bool create);
  void fail(const std::string& key, std::uint32_t max_failures, std::int64_t max_backoff_s,
            std::int64_t now);

  const Clock& clock_;
  LoginLimits limits_;
  mutable std::mutex mu_;
  std::list<std::string> lru_;  ///< most recently used first
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace office::identity

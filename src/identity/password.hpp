#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace office::identity {

/// Argon2id password hashing (libsodium, crypto_pwhash_str_alg) in the
/// self-describing "$argon2id$v=19$m=...,t=...,p=1$salt$hash" form, so the
/// cost can be raised later and old hashes still verify. CPU- and
/// memory-heavy by design (~50 ms, 64 MiB with the defaults): call from a
/// worker thread, never from an I/O thread. Thread-safe.
class PasswordHasher {
 public:
  /// Defaults: libsodium's INTERACTIVE limits (ops 2, 64 MiB).
  PasswordHasher();
  PasswordHasher(std::uint64_t ops_limit, std::size_t mem_limit_bytes);
  /// Cheapest allowed settings: for unit tests only.
  static PasswordHasher for_tests();

  Result<std::string> hash(std::string_view password) const;
  /// False for a wrong password or an unparsable hash (never throws).
  bool verify(std::string_view stored_hash, std::string_view password) const;
  /// True when stored_hash used weaker settings than ours (rehash on next login).
  bool needs_rehash(std::string_view stored_hash) const;

 private:
  std::uint64_t ops_;
  std::size_t mem_;
};

/// Password policy: 8 to 1024 bytes. Error names the rule broken.
Status check_password_policy(std::string_view password);

}  // namespace office::identity

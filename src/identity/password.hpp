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

/// The password policy, checked wherever a password is set (new user, password
/// change, new tenant's admin, the first admin at start-up). A password must:
///  - have at least 8 characters, counted as Unicode code points (not bytes),
///    and at most 1024 bytes;
///  - not be on the list of common passwords (case-insensitive; the list is
///    src/identity/common_passwords.txt, compiled into the binary);
///  - not be the local part of the account's e-mail ("anna" of
///    anna@example.com), nor contain it when it has 3 or more characters
///    (case-insensitive).
/// Errors are kInvalidArgument with a message naming the rule broken. `email`
/// may be empty (no e-mail rule then). Thread-safe.
Status check_password_policy(std::string_view password, std::string_view email);

/// True if the password is on the common-passwords list (case-insensitive).
bool is_common_password(std::string_view password);

/// Number of Unicode code points in UTF-8 text (bytes that do not continue a
/// sequence; invalid input is counted byte by byte, never more than its size).
std::size_t count_code_points(std::string_view utf8);

}  // namespace office::identity

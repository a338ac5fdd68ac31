#include "identity/password.hpp"

#include <sodium.h>

#include <cstdlib>

namespace office::identity {

namespace {
void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();
}
}  // namespace

PasswordHasher::PasswordHasher()
    : PasswordHasher(crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE) {}

PasswordHasher::PasswordHasher(std::uint64_t ops_limit, std::size_t mem_limit_bytes)
    : ops_(ops_limit), mem_(mem_limit_bytes) {
  ensure_sodium();
}

PasswordHasher PasswordHasher::for_tests() {
  return PasswordHasher(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
}

Result<std::string> PasswordHasher::hash(std::string_view password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops_, mem_,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Error::internal("password hashing failed (out of memory)");
  return std::string(out);
}

bool PasswordHasher::verify(std::string_view stored, std::string_view password) const {
  std::string s(stored);  // needs NUL termination
  if (s.size() >= crypto_pwhash_STRBYTES || s.rfind("$argon2id$", 0) != 0) return false;
  return crypto_pwhash_str_verify(s.c_str(), password.data(), password.size()) == 0;
}

bool PasswordHasher::needs_rehash(std::string_view stored) const {
  std::string s(stored);
  return crypto_pwhash_str_needs_rehash(s.c_str(), ops_, mem_) != 0;
}

Status check_password_policy(std::string_view password) {
  if (password.size() < 8) return Error::invalid("password must be at least 8 characters long");
  if (password.size() > 1024) return Error::invalid("password must be at most 1024 bytes long");
  return {};
}

}  // namespace office::identity

#include "identity/password.hpp"

#include <sodium.h>

#include <cstdlib>
#include <string>
#include <unordered_set>

#include "net/embedded_files.hpp"

namespace office::net {
const EmbeddedFileTable& identity_data_files();  // generated: cmake/EmbedFiles.cmake
}  // namespace office::net

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

namespace {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The embedded list, split into lines once (views into the binary's data).
const std::unordered_set<std::string_view>& common_passwords() {
  static const std::unordered_set<std::string_view> set = [] {
    std::unordered_set<std::string_view> out;
    for (const auto& f : net::identity_data_files()) {
      if (f.path != "/common_passwords.txt") continue;
      std::string_view rest = f.data;
      while (!rest.empty()) {
        auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!line.empty() && line.front() != '#') out.insert(line);
      }
    }
    if (out.empty()) std::abort();  // the build embeds the list; without it the policy is void
    return out;
  }();
  return set;
}

}  // namespace

std::size_t count_code_points(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

bool is_common_password(std::string_view password) {
  return common_passwords().count(ascii_lower(password)) > 0;
}

Status check_password_policy(std::string_view password, std::string_view email) {
  if (password.size() > 1024) return Error::invalid("password must be at most 1024 bytes long");
  if (count_code_points(password) < 8)
    return Error::invalid("password must be at least 8 characters long");
  if (is_common_password(password))
    return Error::invalid("password is too common: it is on a list of often-used passwords");
  const std::string local = ascii_lower(email.substr(0, email.find('@')));
  if (!local.empty()) {
    const std::string lower = ascii_lower(password);
    if (lower == local || (local.size() >= 3 && lower.find(local) != std::string::npos))
      return Error::invalid("password must not contain the name of the e-mail address (" + local +
                            ")");
  }
  return {};
}

}  // namespace office::identity

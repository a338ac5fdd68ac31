#include "core/sha256.hpp"

#include <openssl/evp.h>

#include <cstdlib>

#include "core/hex.hpp"

namespace office {

std::array<std::uint8_t, 32> sha256(std::string_view data) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size())
    std::abort();  // only when libcrypto itself is broken
  return out;
}

std::string sha256_hex(std::string_view data) { return to_hex(sha256(data)); }

}  // namespace office

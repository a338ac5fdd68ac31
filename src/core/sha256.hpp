#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace office {

/// SHA-256 (FIPS 180-4) of `data`, through OpenSSL's EVP interface. The one
/// SHA-256 helper of the code base: use it rather than calling OpenSSL.
/// Thread-safe; never fails (aborts only if OpenSSL cannot hash at all).
std::array<std::uint8_t, 32> sha256(std::string_view data);

/// The same digest as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

}  // namespace office

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace office {

/// Lower-case hex of bytes.
std::string to_hex(std::span<const std::uint8_t> bytes);
/// The same 2 * bytes.size() digits written to `out`; returns the end.
char* write_hex(std::span<const std::uint8_t> bytes, char* out);
/// Decodes exactly out.size() bytes from 2*out.size() hex digits. With
/// lower_only, upper-case digits are rejected. Returns false on any bad input.
bool from_hex(std::string_view hex, std::span<std::uint8_t> out, bool lower_only = false);

/// base64url without padding (RFC 4648 section 5), as JWTs use it.
std::string base64url_encode(std::string_view bytes);
/// Decodes base64url without padding; false on any character outside the alphabet
/// or an impossible length.
bool base64url_decode(std::string_view in, std::string& out);
/// Standard base64 with padding (RFC 4648 section 4), as proto3 JSON writes
/// `bytes` fields.
std::string base64_encode(std::string_view bytes);

}  // namespace office

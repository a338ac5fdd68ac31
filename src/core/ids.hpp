#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace office {

/// UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits, so ids sort
/// by creation time (good B-tree locality). Within one millisecond on one
/// thread ids are strictly increasing (12-bit counter in rand_a).
struct Uuid {
  std::array<std::uint8_t, 16> bytes{};

  /// A new UUIDv7 with the time taken from clock. Thread-safe.
  static Uuid v7(const Clock& clock = SystemClock::instance());
  /// Parses the canonical 8-4-4-4-12 form (either case). nullopt otherwise.
  static std::optional<Uuid> parse(std::string_view s);
  /// Canonical lower-case 36-character form.
  std::string to_string() const;
  int version() const { return bytes[6] >> 4; }
  std::int64_t unix_ms() const;
  auto operator<=>(const Uuid&) const = default;
};

/// Shorthand: a new UUIDv7 as a string.
inline std::string new_id(const Clock& clock = SystemClock::instance()) {
  return Uuid::v7(clock).to_string();
}

}  // namespace office

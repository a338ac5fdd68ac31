#include "core/ids.hpp"

#include "core/hex.hpp"
#include "core/random.hpp"

namespace office {

Uuid Uuid::v7(const Clock& clock) {
  thread_local std::int64_t last_ms = -1;
  thread_local std::uint16_t counter = 0;
  std::int64_t ms = clock.now_ms();
  std::uint64_t r = fast_random_u64();
  std::uint64_t r2 = fast_random_u64();
  if (ms == last_ms && counter < 0xfff) {
    ++counter;
  } else {
    // Start each millisecond at a random point in the lower half, leaving room to count.
    counter = static_cast<std::uint16_t>(r & 0x7ff);
    last_ms = ms;
  }
  Uuid u;
  auto ums = static_cast<std::uint64_t>(ms);
  for (int i = 0; i < 6; ++i) u.bytes[i] = static_cast<std::uint8_t>(ums >> (8 * (5 - i)));
  u.bytes[6] = static_cast<std::uint8_t>(0x70 | (counter >> 8));
  u.bytes[7] = static_cast<std::uint8_t>(counter & 0xff);
  for (int i = 8; i < 16; ++i) u.bytes[i] = static_cast<std::uint8_t>(r2 >> (8 * (i - 8)));
  u.bytes[8] = static_cast<std::uint8_t>(0x80 | (u.bytes[8] & 0x3f));  // RFC 9562 variant
  return u;
}

std::optional<Uuid> Uuid::parse(std::string_view s) {
  if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
    return std::nullopt;
  // 36 characters with dashes at 8, 13, 18 and 23: at most 32 others.
  char hex[32];
  std::size_t n = 0;
  for (char c : s)
    if (c != '-') hex[n++] = c;
  Uuid u;
  if (n != sizeof hex || !from_hex(std::string_view(hex, n), u.bytes)) return std::nullopt;
  return u;
}

std::string Uuid::to_string() const {
  std::string h = to_hex(bytes);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::int64_t Uuid::unix_ms() const {
  std::uint64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = ms << 8 | bytes[i];
  return static_cast<std::int64_t>(ms);
}

}  // namespace office

#include "ot/utf8.hpp"

#include <cstring>

namespace office::ot::utf8 {

std::size_t count(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  std::size_t continuation = 0;
  // Eight bytes at a time: count continuation bytes (10xxxxxx) with bit tricks.
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    const std::uint64_t cont = (w & ~(w << 1)) & 0x8080808080808080ULL;
    // One 0/1 per byte; the multiply sums the bytes into the top byte (no
    // popcount instruction needed: without -mpopcnt that is a libgcc call).
    continuation += static_cast<std::size_t>(((cont >> 7) * 0x0101010101010101ULL) >> 56);
  }
  for (; i < n; ++i) continuation += is_lead(p[i]) ? 0 : 1;
  return n - continuation;
}

std::size_t byte_offset(std::string_view s, std::size_t cp) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  // Fast path over ASCII words.
  while (cp >= 8 && i + 8 <= n) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w & 0x8080808080808080ULL) break;
    i += 8;
    cp -= 8;
  }
  while (i < n) {
    if (is_lead(p[i])) {
      if (cp == 0) return i;
      --cp;
    }
    ++i;
  }
  return n;
}

std::size_t byte_offset_from_end(std::string_view s, std::size_t k) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = s.size();
  while (k > 0 && i > 0) {
    --i;
    if (is_lead(p[i])) --k;
  }
  return i;
}

std::string_view slice(std::string_view s, std::size_t from, std::size_t to) {
  const std::size_t b = byte_offset(s, from);
  if (to <= from) return s.substr(b, 0);
  const std::size_t e = b + byte_offset(s.substr(b), to - from);
  return s.substr(b, e - b);
}

bool valid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace office::ot::utf8

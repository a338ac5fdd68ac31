#pragma once

// Test/bench helper: seeded random documents and ops. Not part of the library.

#include <cstdint>
#include <string>

#include "ot/op.hpp"
#include "ot/utf8.hpp"

namespace office::ot::testing {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ULL + 1) {}
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

 private:
  std::uint64_t s_;
};

// ASCII, CJK, emoji (non-BMP), combining marks.
inline std::string random_text(Rng& rng, std::size_t cps) {
  static const char* kPieces[] = {"a",  "b",  "c",  "x", " ", "\n", "Z",
                                  "中", "文", "字", "😀", "🎉", "𝄞",  "\xCC\x81" /* U+0301 */,
                                  "é",  "ß"};
  std::string s;
  for (std::size_t i = 0; i < cps; ++i) s += kPieces[rng.below(std::size(kPieces))];
  return s;
}

// A normalized, valid op for a document of `doc` (UTF-8).
inline Op random_op(Rng& rng, std::string_view doc, bool allow_text_deletes = true) {
  const std::uint64_t len = utf8::count(doc);
  Op raw;
  std::uint64_t pos = 0;
  const int parts = 1 + static_cast<int>(rng.below(4));
  for (int i = 0; i < parts; ++i) {
    const std::uint64_t left = len - pos;
    switch (rng.below(3)) {
      case 0:
        if (left > 0) {
          const std::uint64_t n = 1 + rng.below(left);
          raw.push_back(Component::skip(n));
          pos += n;
        }
        break;
      case 1:
        raw.push_back(Component::insert(random_text(rng, 1 + rng.below(4))));
        break;
      default:
        if (left > 0) {
          const std::uint64_t n = 1 + rng.below(std::min<std::uint64_t>(left, 5));
          if (allow_text_deletes && rng.below(2) == 0) {
            raw.push_back(Component::del_text(utf8::slice(doc, pos, pos + n)));
          } else {
            raw.push_back(Component::del(n));
          }
          pos += n;
        }
        break;
    }
  }
  return normalize(raw);
}

}  // namespace office::ot::testing

#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace office::ot::utf8 {

/// Code-point helpers over UTF-8 bytes. All functions are pure, thread-safe
/// and never read outside the given view; on malformed input they stay in
/// bounds and count every byte that is not a continuation byte (10xxxxxx) as
/// the start of one code point, so counting and slicing always agree.

/// True if `b` starts a code point (is not a UTF-8 continuation byte).
inline bool is_lead(unsigned char b) { return (b & 0xC0) != 0x80; }

/// Number of code points in `s`.
std::size_t count(std::string_view s);

/// Byte offset of code point number `cp` in `s`, or s.size() if `s` has fewer
/// than `cp` code points.
std::size_t byte_offset(std::string_view s, std::size_t cp);

/// Byte offset of the code point `k` code points before the end of `s`
/// (s.size() for k == 0, 0 if `s` has fewer than `k` code points). Scans from
/// the end, so it costs O(k), not O(s.size()).
std::size_t byte_offset_from_end(std::string_view s, std::size_t k);

/// The code points [from, to) of `s` (clamped to its end).
std::string_view slice(std::string_view s, std::size_t from, std::size_t to);

/// True if `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid(std::string_view s);

}  // namespace office::ot::utf8

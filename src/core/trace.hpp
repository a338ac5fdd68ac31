#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace office {

/// W3C Trace Context (https://www.w3.org/TR/trace-context/): the ids carried in
/// the `traceparent` header "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>".
struct TraceContext {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t flags = 0;

  /// Parses a traceparent header. Rejects wrong lengths, upper-case or non-hex
  /// digits, version ff, all-zero ids, and (for version 00) trailing data.
  static std::optional<TraceContext> parse(std::string_view header);
  /// A fresh random trace with a fresh span; sampled flag set.
  static TraceContext generate();
  /// The same trace with a new random span id (a child span).
  TraceContext child() const;

  static constexpr std::size_t kHeaderSize = 55;
  static constexpr std::size_t kTraceIdHexSize = 32;

  std::string to_header() const;     ///< "00-...-...-.."
  std::string trace_id_hex() const;  ///< 32 lower-case hex digits
  std::string span_id_hex() const;   ///< 16 lower-case hex digits
  /// The same text written to `out` (kHeaderSize / kTraceIdHexSize chars),
  /// for per-request paths that must not allocate.
  void write_header(char* out) const;
  void write_trace_id_hex(char* out) const;
  bool sampled() const { return (flags & 1) != 0; }
};

}  // namespace office

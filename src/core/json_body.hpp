#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/result.hpp"

namespace office {

/// The deepest nesting of arrays and objects accepted from outside the
/// process by default. Real messages need a handful of levels; the limit
/// exists so that recursive code (copying, dumping, destroying a DOM) can
/// never be driven into a stack overflow by a crafted input.
inline constexpr std::size_t kMaxJsonDepth = 64;

/// Parses JSON that comes from outside the process (request bodies,
/// WebSocket messages, token headers). At most `max_depth` arrays/objects may
/// be open at once (a top-level object is depth 1, `{"a":[1]}` is depth 2);
/// the parse stops at the first container past the limit, so a deep input
/// costs no more than reading it up to there. Errors are kInvalidArgument:
/// "JSON is nested more than N levels deep" or "not valid JSON" (the latter
/// also for invalid UTF-8 and trailing garbage). Thread-safe.
Result<nlohmann::json> parse_json(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

/// Reads a JSON request body the way proto3 JSON parsers do: the top level
/// must be an object; each field may be spelled lowerCamelCase or snake_case;
/// unknown fields, wrong types and malformed JSON are kInvalidArgument errors
/// that name the field. Nesting deeper than kMaxJsonDepth is refused (see
/// parse_json). Not thread-safe (one per request).
class JsonBody {
 public:
  /// `fields` lists the accepted lowerCamelCase names.
  static Result<JsonBody> parse(std::string_view body,
                                std::initializer_list<std::string_view> fields);
  ~JsonBody();
  JsonBody(JsonBody&&) noexcept;
  JsonBody& operator=(JsonBody&&) noexcept;

  Result<std::optional<std::string>> opt_string(std::string_view field) const;
  Result<std::string> string(
      std::string_view field) const;  ///< missing -> error "field is required"
  Result<std::optional<bool>> opt_bool(std::string_view field) const;
  Result<std::optional<std::int64_t>> opt_int(std::string_view field) const;
  Result<std::vector<std::string>> string_list(std::string_view field) const;  ///< missing -> empty

 private:
  JsonBody();
  const nlohmann::json* find(std::string_view field) const;
  std::unique_ptr<nlohmann::json> json_;
};

/// RFC 3339 UTC timestamp with milliseconds, as proto3 JSON writes Timestamps.
std::string rfc3339_ms(std::int64_t unix_ms);
/// The same 24 characters appended to `out` (no allocation of its own).
void append_rfc3339_ms(std::string& out, std::int64_t unix_ms);

}  // namespace office

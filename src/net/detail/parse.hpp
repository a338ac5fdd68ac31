#pragma once
// Internal (not part of the module's API): request parsing shared by the server,
// the tests and the fuzzer. No Beast types here.

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "net/http.hpp"

namespace office::net::detail {

struct ParseLimits {
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
};

enum class ParseFailure { kMalformed, kBodyTooLarge, kHeaderTooLarge };

/// The response for a request the parser rejected: 400, 413 or 431 with the JSON
/// error body.
Response parse_failure_response(ParseFailure failure);

/// Decodes %XX escapes (and '+' as space if asked) into out. False on a bad escape.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space);
/// True if the comma-separated header value contains token (case-insensitive).
bool header_has_token(std::string_view value, std::string_view token);

/// Fills path, query, websocket_upgrade and trace from target and headers (after
/// parsing, before routing). Error (400) for an unusable target or path.
Status prepare_request(Request& req);

/// Parses exactly one request from bytes with the server's parser and prepares it.
/// Errors: kInvalidArgument (malformed or incomplete), kPayloadTooLarge (body or
/// header over the limit; the message says which). Never throws.
Result<Request> parse_request(std::string_view bytes, const ParseLimits& limits);

}  // namespace office::net::detail

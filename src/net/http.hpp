#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/executor.hpp"
#include "core/principal.hpp"
#include "core/trace.hpp"

namespace office::net {

enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };

std::string_view method_name(Method m);
Method parse_method(std::string_view name);

/// An HTTP request as the router and handlers see it: no Beast types.
/// Header names are stored lower-case. Owned by the connection; valid for the
/// duration of the handler call only.
struct Request {
  Method method = Method::kGet;
  std::string target;  ///< raw request target, "/a/b?x=1"
  std::string path;    ///< percent-decoded path, no query
  std::string query;   ///< raw query string after '?', may be empty
  std::vector<std::pair<std::string, std::string>> headers;  ///< lower-case names
  std::string body;
  std::string remote_address;
  bool websocket_upgrade = false;  ///< a valid WebSocket upgrade request
  TraceContext trace;              ///< from `traceparent`, or freshly generated

  /// Filled by the router: values of {name} segments of the matched pattern.
  std::vector<std::pair<std::string, std::string>> path_params;
  /// Filled by the router's authenticator for routes that require auth.
  std::optional<Principal> principal;
  /// By when the response is due (ServerOptions::handler_timeout after the
  /// request was read). A request still queued then is answered 503 without
  /// running its handler; a handler bounds its own waits (locks, database
  /// busy timeouts, calls to other services) with `deadline.remaining()`.
  Deadline deadline;

  /// First header with this (lower-case) name.
  std::optional<std::string_view> header(std::string_view lower_name) const;
  /// Value of a {name} path parameter; empty if absent.
  std::string_view param(std::string_view name) const;
  /// First query parameter with this name, percent-decoded ('+' is a space).
  std::optional<std::string> query_param(std::string_view name) const;
  /// Value of a cookie from the Cookie header.
  std::optional<std::string> cookie(std::string_view name) const;
  /// The principal; only call in handlers of routes that require auth.
  const Principal& caller() const { return *principal; }
};

/// An HTTP response built by a handler.
struct Response {
  int status = 200;
  /// Must outlive the response: a literal or embedded data (no copy per request).
  std::string_view content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers
  std::string body;
  /// Used instead of `body` when `body` is empty: bytes that outlive the response
  /// (embedded files), sent without a copy.
  std::string_view static_body;

  /// status with a JSON body (already serialised).
  static Response json(int status, std::string body);
  /// The error's HTTP status (core/error.hpp mapping) and the body
  /// {"error":{"code":"NOT_FOUND","message":"..."}}; `Retry-After` with
  /// Error::retry_after_s when set, or 1 second for kUnavailable (503).
  static Response error(const Error& e);
  static Response error(ErrorCode code, std::string message) {
    return error(Error{code, std::move(message)});
  }
  /// 204 with no body.
  static Response no_content();
};

}  // namespace office::net

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

// A small blocking HTTP/1.1 client for officectl (Beast stays in client.cpp).
namespace office::ctl {

/// A server's base URL: http(s)://host[:port][/base/path], without user
/// info, query or fragment (a server behind a proxy may live under a path).
struct ServerUrl {
  bool https = false;
  std::string host;  ///< lower-case name or IP address (IPv6 without brackets)
  std::uint16_t port = 0;
  std::string base_path;  ///< "" or "/prefix" without a trailing slash

  /// Parses and normalises. Errors: kInvalidArgument saying what is wrong.
  static Result<ServerUrl> parse(std::string_view text);
  /// The normalised form ("https://office.example.com", no default port, no
  /// trailing slash): how the stored login names its server.
  std::string to_string() const;
};

struct HttpOptions {
  bool insecure = false;                     ///< https: do not verify the certificate
  std::string ca_file;                       ///< https: trust this PEM bundle, not the system's
  std::chrono::milliseconds timeout{30000};  ///< the whole exchange, connect to last byte
  std::size_t max_response_bytes = std::size_t{64} << 20;
};

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

/// Sends one request on a new connection and reads the response. `target`
/// is the path and query below the server's base path ("/api/v1/...",
/// already escaped); `body` (when not empty) is sent as application/json;
/// `bearer_token` (when not empty) as "Authorization: Bearer". https
/// verifies the certificate chain and the host name unless insecure.
/// Errors: kUnavailable (name resolution, connection, TLS, I/O, timeout),
/// kPayloadTooLarge (response over max_response_bytes); the message names
/// the server and what failed.
Result<HttpResponse> http_request(const HttpOptions& options, const ServerUrl& server,
                                  std::string_view method, std::string_view target,
                                  std::string_view body, std::string_view bearer_token);

/// Percent-escapes a query parameter value (RFC 3986 unreserved kept).
std::string query_escape(std::string_view value);

}  // namespace office::ctl

#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "net/embedded_files.hpp"
#include "net/http.hpp"
#include "net/websocket.hpp"

namespace office::net {

using Handler = std::function<Response(Request&)>;
/// Called after the WebSocket upgrade request was authenticated (if required);
/// returns the handler for the new connection, or an error sent as the HTTP
/// response to the upgrade request (no upgrade happens).
using WebSocketFactory = std::function<Result<std::unique_ptr<WebSocketHandler>>(Request&)>;
/// Establishes the caller from a request (Authorization header; for WebSocket
/// upgrades also `access_token` query parameter or cookie). Error -> 401.
using Authenticator = std::function<Result<Principal>(const Request&)>;

struct RouteOptions {
  bool auth = true;      ///< run the authenticator first; 401 on failure
  bool offload = false;  ///< run on the worker pool, not an I/O thread (CPU-heavy or blocking work)
};

/// Maps (method, path) to handlers. Patterns are literal segments and {name}
/// parameters ("/api/v1/users/{id}"); literal segments win over parameters.
/// No match -> 404; path matches but method does not -> 405 with Allow.
/// HEAD is served by GET routes without the body. Build it fully before the
/// server starts; afterwards it is read-only and safe to use from any thread.
class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  void add(Method method, std::string pattern, Handler handler, RouteOptions options = {});
  void add_websocket(std::string pattern, WebSocketFactory factory, RouteOptions options = {});
  /// Serves every file of the table at its path (GET/HEAD) with its content type,
  /// ETag and If-None-Match -> 304. `index_aliases` maps e.g. "/api/docs" to
  /// "/api/docs/index.html" (served directly, not redirected).
  void add_static(const EmbeddedFileTable& files,
                  const std::vector<std::pair<std::string, std::string>>& index_aliases = {});
  void set_authenticator(Authenticator authenticator);

  struct RouteInfo {
    Method method;
    std::string pattern;
    bool websocket;
    bool is_static;
  };
  /// Every registered route (for the OpenAPI consistency test and docs).
  std::vector<RouteInfo> routes() const;

  /// Result of matching, used by the server.
  struct Match {
    const Handler* handler = nullptr;
    const WebSocketFactory* websocket = nullptr;
    RouteOptions options;
    std::optional<Response> error;  ///< 404/405 response when nothing matched
  };
  /// Matches req.method/req.path, fills req.path_params. Thread-safe (read-only).
  Match match(Request& req) const;
  /// Runs the authenticator (if the route needs it) and fills req.principal;
  /// returns the 401 response on failure.
  std::optional<Response> authenticate(Request& req, const RouteOptions& options) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace office::net

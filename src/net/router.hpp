#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/executor.hpp"
#include "core/result.hpp"
#include "net/embedded_files.hpp"
#include "net/http.hpp"
#include "net/websocket.hpp"

namespace office::net {

/// A route's handler. Where it runs is the route's choice (RouteOptions;
/// docs/concurrency.md): by default on the server's worker pool, where it may
/// block (database, files) but should bound its waits by `req.deadline`.
/// Errors are responses; a handler never throws (an escaped exception becomes
/// 500 and an error log line).
using Handler = std::function<Response(Request&)>;

/// A route's non-blocking fast path, tried on the I/O thread before the handler
/// is queued, once the caller is authenticated (if the route requires it). It
/// answers from memory (a cache hit) or returns nullopt, "not handled": the
/// request then goes to the handler on the route's executor. Must never block,
/// wait for a lock held across I/O, or touch the database.
using FastPath = std::function<std::optional<Response>(Request&)>;

/// Runs after the WebSocket upgrade request was authenticated (if required), on
/// the route's executor (it may block, e.g. to load what the connection needs).
/// Returns the handler for the new connection, or an error sent as the HTTP
/// response to the upgrade request (no upgrade happens).
using WebSocketFactory = std::function<Result<std::unique_ptr<WebSocketHandler>>(Request&)>;

/// Establishes the caller from a request (Authorization header; for WebSocket
/// upgrades also `access_token` query parameter or cookie). May block (a
/// database read): it runs on the route's executor. Error -> 401.
using Authenticator = std::function<Result<Principal>(const Request&)>;

/// The non-blocking variant of an Authenticator, called on the I/O thread: it
/// answers from memory only. nullopt means "cannot tell without blocking": the
/// authentication and the handler then move to the route's executor. An error
/// is answered 401 at once (e.g. a request without any credentials).
using CachedAuthenticator = std::function<std::optional<Result<Principal>>(const Request&)>;

/// Where and how a route runs (docs/concurrency.md).
struct RouteOptions {
  bool auth = true;  ///< authenticate first; 401 on failure
  /// The handler never blocks (static files, pure computation on the request):
  /// run it on the I/O thread that read the request, with no thread hop. It
  /// runs on the executor instead when the authentication could not be done
  /// from memory.
  bool run_inline = false;
  /// Where the handler (or WebSocket factory) runs when not inline; nullptr:
  /// the server's worker pool. Must outlive the server. A full queue is
  /// answered 503 with Retry-After.
  Executor* executor = nullptr;
  /// Optional (handler routes only): tried on the I/O thread first; see FastPath.
  FastPath fast_path;
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
  /// ETag and If-None-Match -> 304, inline on the I/O thread and without
  /// authentication. `index_aliases` maps e.g. "/api/docs" to
  /// "/api/docs/index.html" (served directly, not redirected).
  void add_static(const EmbeddedFileTable& files,
                  const std::vector<std::pair<std::string, std::string>>& index_aliases = {});
  /// `authenticator` may block and runs where the route's handler runs;
  /// `cached`, if given, is tried first on the I/O thread. Without `cached`
  /// every route that requires auth runs on its executor.
  void set_authenticator(Authenticator authenticator, CachedAuthenticator cached = {});

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
    const RouteOptions* options = nullptr;  ///< the matched route's; null when `error` is set
    std::optional<Response> error;          ///< 404/405/400 response when nothing matched
  };
  /// Matches req.method/req.path, fills req.path_params. Thread-safe (read-only).
  Match match(Request& req) const;

  /// Serving a matched request, part one, on the I/O thread; never blocks.
  /// Authenticates from memory when the route requires it (a definite failure
  /// is the 401 response), then runs the fast path, or the handler itself for
  /// an inline route. Returns the response when that answered the request;
  /// nullopt when the rest must run on the route's executor: serve() (or, for
  /// a WebSocket route, always, open_websocket()). Never throws.
  std::optional<Response> serve_nonblocking(Request& req, const Match& m) const;
  /// Part two, on the route's executor (may block): authenticates if part one
  /// could not, then runs the handler. Never throws.
  Response serve(Request& req, const Match& m) const;
  /// Part two for a WebSocket route, on the route's executor: authenticates if
  /// needed, then runs the factory. An error is the HTTP response to the
  /// upgrade request (401 for a failed authentication). Never throws.
  Result<std::unique_ptr<WebSocketHandler>> open_websocket(Request& req, const Match& m) const;

  /// Runs the (blocking) authenticator if the route needs it and req.principal
  /// is not set yet, and fills req.principal; returns the 401 response on failure.
  std::optional<Response> authenticate(Request& req, const RouteOptions& options) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace office::net

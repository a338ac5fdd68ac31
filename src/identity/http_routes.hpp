#pragma once

#include <string>
#include <vector>

#include "core/executor.hpp"

#include "identity/service.hpp"
#include "net/router.hpp"

namespace office::identity {

/// What the routes need to know about how browsers reach the server and
/// where slow work runs.
struct WebOptions {
  /// Normalised origins (see core normalize_origin) the web app is served
  /// from. A WebSocket upgrade authenticated by the `access_token` cookie must
  /// carry one of them in `Origin` (403 otherwise: cross-site WebSocket
  /// hijacking). The cookie is `Secure` when any of them is https.
  std::vector<std::string> public_origins;
  /// Where the routes that hash passwords run (login, creating a user or a
  /// tenant): a small pool of its own, so that a storm of logins (each
  /// Argon2id, 64 MiB) can never hold up the worker pool's other requests;
  /// its full queue is answered 503 + Retry-After. nullptr: the worker pool.
  /// Must outlive the router.
  Executor* password_hashing = nullptr;
};

/// Registers the identity REST routes (/api/v1/auth/*, /users, /groups,
/// /tenants, the public GET /.well-known/jwks.json), the session WebSocket
/// /api/v1/ws, and the router's
/// authenticator (Bearer header; for WebSocket upgrades also the
/// `access_token` query parameter or cookie). Login and refresh set the
/// `access_token` cookie (HttpOnly, SameSite=Strict, Path=/, Max-Age = the
/// token's lifetime, Secure for https origins); logout clears it. `service`
/// must outlive the router.
void register_routes(net::Router& router, IdentityService& service, WebOptions web = {});

}  // namespace office::identity

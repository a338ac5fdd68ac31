#pragma once

#include "identity/service.hpp"
#include "net/router.hpp"

namespace office::identity {

/// Registers the identity REST routes (/api/v1/auth/*, /users, /groups,
/// /tenants, the public GET /.well-known/jwks.json), the session WebSocket
/// /api/v1/ws, and the router's
/// authenticator (Bearer header; for WebSocket upgrades also the
/// `access_token` query parameter or cookie). `service` must outlive the router.
void register_routes(net::Router& router, IdentityService& service);

/// The access token of a request: `Authorization: Bearer <t>`; for WebSocket
/// upgrades also `?access_token=<t>` or the `access_token` cookie. Empty if none.
std::string access_token_of(const net::Request& req);

}  // namespace office::identity

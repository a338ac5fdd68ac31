#pragma once
// GET /sharedb: the ShareDB wire protocol over a WebSocket, so the stock npm
// `sharedb` 7.x client (with ot-text-unicode registered) edits our documents.
// The real-time engine is SyncService; this file only speaks the protocol.
// docs/protocol.md describes what is implemented and how it differs from
// stock ShareDB.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/principal.hpp"
#include "core/result.hpp"
#include "docs/service.hpp"
#include "identity/service.hpp"
#include "identity/session_watch.hpp"
#include "net/router.hpp"
#include "net/websocket.hpp"

namespace office::docs {

/// Per-connection bounds (docs/protocol.md, "Limits").
struct SharedbLimits {
  /// A frame larger than this is answered with an error for its request
  /// (the server closes frames over server.ws_max_message_bytes with 1009).
  std::size_t max_message_bytes = 256 << 10;
  /// Document subscriptions plus presence subscriptions held at once.
  std::size_t max_subscriptions = 500;
  /// Requests waiting for the SyncService at once (fetches, subscribes, ops).
  std::size_t max_in_flight = 256;
  /// Ops submitted: a token bucket of `op_burst` tokens refilled at
  /// `ops_per_second`. Beyond: ERR_RESOURCE_EXHAUSTED for that op.
  double ops_per_second = 50;
  double op_burst = 100;
  /// A presence value's JSON size.
  std::size_t max_presence_bytes = 4096;
};

/// What the adapter needs from identity: the session watch that ends a
/// connection at logout (close 4401) and the renewal of its access token
/// over the live connection (`{"a":"auth","token":...}`).
struct SharedbSessionHooks {
  std::function<std::unique_ptr<identity::SessionWatch::Lease>(const Principal&,
                                                               identity::SessionWatch::EndFn)>
      watch;
  /// Optional: without it `auth` messages are refused.
  std::function<Result<Principal>(identity::SessionWatch::Lease&, std::string_view token)> renew;
};

struct SharedbOptions {
  SharedbLimits limits;
  /// Keys the client ids the server issues (ShareDB `src`) to the user they
  /// were issued to, so a client can resume its own id after a reconnect but
  /// never claim another user's (ids are visible to every collaborator).
  /// Must be the same across restarts and processes for resumed ids to be
  /// accepted (empty: a random key per process). At least 32 bytes.
  std::string client_id_key;
  /// The clock of the op rate limit; empty: steady_clock (tests pass a fake).
  std::function<std::chrono::steady_clock::time_point()> now;
};

/// Registers `GET /sharedb` (WebSocket upgrade). Authentication is the
/// router's authenticator (identity's: Authorization header, `access_token`
/// query parameter, or the cookie from a public origin); the factory runs on
/// the worker pool. `sync` and `identity` must outlive the router.
void register_sharedb_route(net::Router& router, SyncService& sync,
                            identity::IdentityService& identity, SharedbOptions options = {});

/// The same with the session hooks given directly (tests, other transports).
void register_sharedb_route(net::Router& router, SyncService& sync, SharedbSessionHooks hooks,
                            SharedbOptions options = {});

/// Shared by every connection of one route: the options and the id key.
class SharedbContext;

/// One connection's handler (what the route's factory returns), for tests
/// that drive it without a server.
std::unique_ptr<net::WebSocketHandler> make_sharedb_connection(
    const std::shared_ptr<const SharedbContext>& ctx, SyncService& sync, const Principal& p,
    const SharedbSessionHooks& hooks);
std::shared_ptr<const SharedbContext> make_sharedb_context(SharedbOptions options);

}  // namespace office::docs

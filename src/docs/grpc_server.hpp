#pragma once
// DocSync.SyncStream over gRPC (api/office/docs/v1/docs.proto; docs/grpc.md):
// native clients and services edit documents through the same SyncService,
// commit path and permissions as ShareDB clients. This header is free of
// gRPC headers; the service is registered on rpc::Server.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "core/principal.hpp"
#include "docs/service.hpp"
#include "identity/session_watch.hpp"

namespace grpc {
class Service;
}

namespace office::docs {

struct GrpcSyncOptions {
  /// Document subscriptions one stream holds at once.
  std::size_t max_subscriptions = 500;
  /// Requests of one stream waiting for the SyncService; beyond, the server
  /// stops reading the stream until some finish (flow control, not an error).
  std::size_t max_in_flight = 256;
  /// Ops per stream: a token bucket of `op_burst` refilled at `ops_per_second`.
  double ops_per_second = 50;
  double op_burst = 100;
  /// Responses queued for a client that reads too slowly; beyond, the
  /// stream ends with RESOURCE_EXHAUSTED.
  std::size_t max_queued_responses = 10000;
  /// Ends a stream when its caller's session ends (logout, user disabled,
  /// token expiry): UNAUTHENTICATED. Optional.
  std::function<std::unique_ptr<identity::SessionWatch::Lease>(const Principal&,
                                                               identity::SessionWatch::EndFn)>
      watch;
  /// The clock of the op rate limit; empty: steady_clock.
  std::function<std::chrono::steady_clock::time_point()> now;
};

/// office.docs.v1.DocSync over `sync` (which must outlive it). Callers are
/// authenticated by rpc::Server's interceptor.
class DocSyncGrpc {
 public:
  explicit DocSyncGrpc(SyncService& sync, GrpcSyncOptions options = {});
  ~DocSyncGrpc();
  DocSyncGrpc(const DocSyncGrpc&) = delete;
  DocSyncGrpc& operator=(const DocSyncGrpc&) = delete;

  /// What to register on rpc::Server.
  grpc::Service* service();
  /// Ends every open stream with UNAVAILABLE ("server shutting down;
  /// reconnect") after what is queued for it, and refuses new streams the
  /// same way: clients reconnect to another replica or after the restart.
  /// For rpc::Server::on_shutdown.
  void drain();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace office::docs

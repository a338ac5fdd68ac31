#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/principal.hpp"
#include "core/result.hpp"

namespace grpc {
class Service;
}

namespace office::rpc {

/// Verifies an access token (the `authorization: Bearer <token>` metadata)
/// and answers the caller: the same principal as over HTTP. Called on a gRPC
/// thread once per call; may block briefly (a cache miss reads the database).
using Authenticator = std::function<Result<Principal>(std::string_view access_token)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  ///< 0: any free port (start() answers which)
  /// Largest message a client may send (bigger: RESOURCE_EXHAUSTED).
  std::size_t max_message_bytes = 4u << 20;
  /// Concurrent streams per HTTP/2 connection.
  int max_concurrent_streams = 1000;
  /// shutdown(): calls still running after this are cancelled.
  std::chrono::milliseconds shutdown_grace{10000};
  Authenticator authenticate;
  bool access_log = true;  ///< one info line per finished call
};

/// Per-method call counts and latencies since start (what the observability
/// work exports to Prometheus; `office-suite` logs each call).
struct MethodStats {
  std::uint64_t calls = 0;
  std::map<int, std::uint64_t> by_status;  ///< grpc::StatusCode value -> calls
  std::uint64_t total_us = 0;
  /// Latency histogram: calls that took at most kBucketsUs[i] microseconds
  /// (cumulative, as Prometheus buckets); the last bucket is +Inf.
  std::vector<std::uint64_t> buckets;
  static const std::vector<std::uint64_t>& bucket_bounds_us();
};

/// The gRPC server every module's adapters register on: one listening port,
/// interceptors for the W3C trace context (`traceparent` metadata, echoed in
/// the response's initial metadata), authentication (establishes the
/// principal; adapters read it with rpc::caller()) and per-method metrics;
/// the standard health service (grpc.health.v1) and server reflection.
/// Thread-safe after start().
class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  ///< shutdown() if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Registers a service (not owned; must outlive the server). Before start().
  void add_service(grpc::Service* service);
  /// Binds and starts serving. Returns the bound port. kUnavailable when the
  /// address cannot be bound.
  Result<std::uint16_t> start();
  /// Runs `fn` at the start of shutdown(), before the server waits for
  /// running calls: long-lived streams end themselves there (a stream that
  /// would otherwise hold the shutdown for the whole grace). Before start().
  void on_shutdown(std::function<void()> fn);
  /// Graceful: health turns NOT_SERVING, the on_shutdown functions run, no
  /// new calls are accepted, running calls get options.shutdown_grace to
  /// finish, then are cancelled. Idempotent.
  void shutdown();

  std::uint16_t port() const;
  /// Method full name ("/office.user.v1.UserService/GetProfile") -> stats.
  std::map<std::string, MethodStats> stats() const;

  struct Impl;  ///< public only for the interceptors in server.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace office::rpc

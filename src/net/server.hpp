#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "core/scheduler.hpp"
#include "net/router.hpp"

namespace office::net {

/// The server's knobs. Every queue has a bound and a documented overflow
/// (docs/concurrency.md, docs/net.md).
struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  ///< 0 binds a free port
  unsigned io_threads = 0;    ///< 0 = hardware concurrency; they never block
  /// The worker pool: handlers of routes that are not inline, authentication
  /// that misses the cache, WebSocket factories, the readiness probe.
  unsigned worker_threads = 4;
  std::size_t worker_queue = 1024;  ///< requests waiting for a worker; beyond: 503 + Retry-After
  /// Request::deadline is this long after the request was read; a request still
  /// queued then is answered 503 + Retry-After without running its handler.
  /// 0: no deadline.
  std::chrono::milliseconds handler_timeout{10'000};
  /// How often the readiness check runs (on the worker pool); /readyz answers
  /// from the last result.
  std::chrono::milliseconds readiness_period{1'000};
  std::size_t max_body_bytes = 1 << 20;        ///< larger -> 413
  std::size_t max_header_bytes = 16 << 10;     ///< larger -> 431
  std::size_t ws_max_message_bytes = 1 << 20;  ///< larger -> close 1009
  /// Outbound queue bounds per WebSocket: a send beyond either closes it with 1013.
  std::size_t ws_max_queued_messages = 1024;
  std::size_t ws_max_queued_bytes = 8 << 20;
  /// All WebSocket outbound queues together (a shared message counts once): a
  /// send that would pass it closes that WebSocket with 1013.
  std::size_t ws_max_total_queued_bytes = 256 << 20;
  /// A WebSocket that wrote less than this long ago waits for the rest of the
  /// window before its next write, which then carries everything queued
  /// meanwhile (one system call). The first message after a quiet spell goes
  /// at once. 0: every batch goes as soon as the socket is free.
  std::chrono::milliseconds ws_write_coalesce{0};
  /// Open TCP connections, HTTP and WebSocket together (lowered to the fd limit
  /// less a reserve when that is smaller). Beyond: the connection is answered
  /// 503 + Retry-After and closed.
  std::size_t max_connections = 20'000;
  /// Open WebSockets (below max_connections, so plain HTTP still gets in when
  /// they are all taken). An upgrade beyond: 503 + Retry-After.
  std::size_t ws_max_connections = 16'000;
  std::chrono::milliseconds request_timeout{
      10'000};  ///< whole request (headers + body) must arrive within
  std::chrono::milliseconds idle_timeout{60'000};    ///< keep-alive idle connection closed after
  std::chrono::milliseconds shutdown_grace{10'000};  ///< in-flight work gets this long on stop
  bool access_log = true;                            ///< one info line per request

  /// Runs the readiness probe's timer; nullptr: a ThreadScheduler of the
  /// server's own (started only if there is a readiness check). Tests pass a
  /// ManualScheduler. Must outlive the server.
  Scheduler* scheduler = nullptr;
  /// The clock of request deadlines; empty: std::chrono::steady_clock. Tests
  /// pass a fake one.
  std::function<std::chrono::steady_clock::time_point()> now;
};

/// A snapshot of the server's queues and connections (for tests, benchmarks
/// and, later, metrics).
struct ServerStats {
  std::size_t worker_queued = 0;          ///< requests and jobs waiting for a worker
  std::size_t worker_running = 0;         ///< running on a worker now
  std::uint64_t worker_rejected = 0;      ///< refused because the worker queue was full
  std::size_t connections = 0;            ///< open TCP connections (HTTP and WebSocket)
  std::size_t max_connections = 0;        ///< the effective cap (see ServerOptions)
  std::uint64_t connections_refused = 0;  ///< answered 503 at accept: over max_connections
  std::size_t websockets = 0;             ///< open WebSockets
  std::size_t ws_queued_bytes = 0;        ///< all outbound queues; a shared message once
  std::size_t ws_read_buffer_bytes = 0;   ///< capacity of all WebSocket read buffers
};

/// The HTTP/1.1 + WebSocket server (Boost.Beast over an Asio thread pool).
/// Serves GET /healthz (always 200 while running) and GET /readyz (200 when the
/// readiness check passes and the server is not draining, else 503) itself.
/// Every response carries a `traceparent` header; request log lines carry the
/// trace id.
class HttpServer {
 public:
  HttpServer(const ServerOptions& options, const Router& router);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and listens. Returns the bound port (useful with port 0).
  Result<std::uint16_t> listen();
  /// Extra readiness condition for /readyz (e.g. database reachable). Set before
  /// run(). It may block (it may run SQL): it runs on the worker pool, never on
  /// an I/O thread, once when run() starts and then every readiness_period (a
  /// probe still running or queued is not queued again). /readyz answers from
  /// the last result, 503 until the first probe has passed. An exception
  /// counts as not ready.
  void set_readiness_check(std::function<bool()> check);
  /// Thread-safe.
  ServerStats stats() const;
  /// From now on SIGTERM/SIGINT begin a graceful stop (acted on once run()
  /// runs). Call before announcing the server (port file, log line), so a
  /// signal sent right after it is never fatal. run(true) calls it if needed.
  void handle_signals();
  /// Serves until stop() or, if handle_signals, SIGTERM/SIGINT. Blocks the
  /// calling thread (which is one of the I/O threads). On stop: stops accepting,
  /// lets in-flight requests finish (up to shutdown_grace), closes WebSockets
  /// with 1001, then returns.
  void run(bool handle_signals = true);
  /// Begins a graceful stop; safe from any thread and from signal context via run().
  /// May be called before run(): run() then returns as soon as it has started.
  /// run() is meant to be called once per server; destroy the server only after
  /// run() has returned (or if it was never called).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace office::net

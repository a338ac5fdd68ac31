#pragma once
// Internal, Asio-including: state shared by the server and its connections.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "net/detail/parse.hpp"
#include "net/router.hpp"
#include "net/server.hpp"

namespace office::net::detail {

/// A connection the server can ask to wind down (HTTP session or WebSocket).
class Connection {
 public:
  virtual ~Connection() = default;
  /// Graceful stop: finish the current request / close the WebSocket with 1001.
  /// Called from any thread; implementations post to their own executor.
  virtual void drain() = 0;
};

/// Every live connection, for draining on stop. Thread-safe.
class ConnectionRegistry {
 public:
  std::uint64_t add(std::weak_ptr<Connection> c) {
    std::lock_guard lock(mu_);
    auto id = next_id_++;
    live_.emplace(id, std::move(c));
    return id;
  }
  /// Called from connection destructors (any thread).
  void remove(std::uint64_t id) {
    std::function<void()> notify;
    {
      std::lock_guard lock(mu_);
      live_.erase(id);
      if (live_.empty()) notify = on_empty_;
    }
    if (notify) notify();
  }
  std::vector<std::shared_ptr<Connection>> snapshot() {
    std::vector<std::shared_ptr<Connection>> out;
    std::lock_guard lock(mu_);
    out.reserve(live_.size());
    for (auto& [id, weak] : live_)
      if (auto c = weak.lock()) out.push_back(std::move(c));
    return out;
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return live_.size();
  }
  /// Called (outside the lock, on the thread that removed the last connection)
  /// whenever the registry becomes empty; empty function to clear.
  void set_on_empty(std::function<void()> f) {
    std::lock_guard lock(mu_);
    on_empty_ = std::move(f);
  }

 private:
  std::mutex mu_;
  std::uint64_t next_id_ = 1;                                          // guarded by mu_
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> live_;  // guarded by mu_
  std::function<void()> on_empty_;                                     // guarded by mu_
};

/// Owned by the server; outlives every connection (connections die with the
/// io_contexts, which the server destroys before this).
struct ServerState {
  ServerState(const ServerOptions& o, const Router& r) : options(o), router(r) {
    limits.max_body_bytes = o.max_body_bytes;
    limits.max_header_bytes = o.max_header_bytes;
  }
  const ServerOptions options;
  const Router& router;
  ParseLimits limits;
  std::function<bool()> readiness;  ///< set before run(), read-only after
  std::atomic<bool> draining{false};
  ConnectionRegistry registry;
  boost::asio::thread_pool* workers = nullptr;  ///< offload pool, set before run()
  std::atomic<std::uint64_t> next_ws_id{1};
};

/// Takes over an accepted socket (any executor); serves HTTP on it.
void start_http_session(boost::asio::ip::tcp::socket socket, ServerState& state);

/// Takes over a socket whose upgrade request was parsed, routed and authenticated:
/// completes the WebSocket handshake and runs the handler. Call on the socket's executor.
void start_websocket_session(boost::asio::ip::tcp::socket socket, ServerState& state,
                             std::unique_ptr<WebSocketHandler> handler, const Request& upgrade);

}  // namespace office::net::detail

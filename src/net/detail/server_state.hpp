#pragma once
// Internal, Asio-including: state shared by the server and its connections.

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/executor.hpp"
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

/// Counts jobs handed to an executor that hold a connection (and so a socket of
/// an io_context). run() waits for none to be left before it returns, so no
/// socket outlives its io_context, whichever executor ran the job. Thread-safe.
class InflightJobs {
 public:
  /// Held by a job; leaving (destruction) is the last thing the job does.
  class Token {
   public:
    Token() = default;
    explicit Token(InflightJobs* owner) : owner_(owner) {}
    Token(Token&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)) {}
    Token& operator=(Token&&) = delete;
    Token(const Token&) = delete;
    ~Token() {
      if (owner_) owner_->leave();
    }

   private:
    InflightJobs* owner_ = nullptr;
  };

  Token enter() {
    std::lock_guard lock(mu_);
    ++count_;
    return Token(this);
  }
  void wait_idle() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return count_ == 0; });
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return count_;
  }

 private:
  void leave() {
    std::lock_guard lock(mu_);
    if (--count_ == 0) cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t count_ = 0;  // guarded by mu_
};

/// The readiness check, run on the worker pool (never on an I/O thread); /readyz
/// reads the last result. Shared by the scheduler's timer and the probe jobs.
class ReadinessProbe : public std::enable_shared_from_this<ReadinessProbe> {
 public:
  ReadinessProbe(std::function<bool()> check, Executor& pool)
      : check_(std::move(check)), pool_(pool) {}
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  /// Queues one probe unless one is queued or running (any thread).
  void tick();
  /// No probe is queued after this returns (the pool may be going away).
  void close();

 private:
  void run();
  std::function<bool()> check_;
  Executor& pool_;       // valid while !closed_
  std::mutex mu_;        // serialises tick() against close()
  bool closed_ = false;  // guarded by mu_
  std::atomic<bool> busy_{false};
  std::atomic<bool> ready_{false};
};

/// One unit of a capped count (a connection, a WebSocket), given back on
/// destruction. Move-only; empty when not acquired.
class Slot {
 public:
  Slot() = default;
  /// Takes a unit if fewer than `cap` are taken; empty otherwise. Thread-safe.
  static Slot try_acquire(std::atomic<std::size_t>& taken, std::size_t cap) {
    std::size_t cur = taken.load(std::memory_order_relaxed);
    do {
      if (cur >= cap) return Slot();
    } while (!taken.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed));
    return Slot(&taken);
  }
  Slot(Slot&& o) noexcept : taken_(std::exchange(o.taken_, nullptr)) {}
  Slot& operator=(Slot&& o) noexcept {
    if (this != &o) {
      reset();
      taken_ = std::exchange(o.taken_, nullptr);
    }
    return *this;
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() { reset(); }
  explicit operator bool() const { return taken_ != nullptr; }
  void reset() {
    if (taken_) taken_->fetch_sub(1, std::memory_order_relaxed);
    taken_ = nullptr;
  }

 private:
  explicit Slot(std::atomic<std::size_t>* taken) : taken_(taken) {}
  std::atomic<std::size_t>* taken_ = nullptr;
};

/// A byte budget shared by many queues (all WebSocket outbound queues). Thread-safe.
class ByteBudget {
 public:
  explicit ByteBudget(std::size_t limit) : limit_(limit) {}
  /// Counts n more bytes unless that would pass the limit.
  bool try_add(std::size_t n) {
    std::size_t cur = used_.load(std::memory_order_relaxed);
    do {
      if (n > limit_ || cur > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
    return true;
  }
  /// Counts n more bytes whatever the limit (bytes that are queued already).
  void force_add(std::size_t n) { used_.fetch_add(n, std::memory_order_relaxed); }
  void remove(std::size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }

 private:
  const std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

/// Owned by the server; outlives every connection (connections die with the
/// io_contexts, which the server destroys before this).
struct ServerState {
  ServerState(const ServerOptions& o, const Router& r)
      : options(o), router(r), ws_queued(o.ws_max_total_queued_bytes) {
    limits.max_body_bytes = o.max_body_bytes;
    limits.max_header_bytes = o.max_header_bytes;
    max_connections = o.max_connections;
  }
  const ServerOptions options;
  const Router& router;
  ParseLimits limits;
  std::atomic<bool> draining{false};
  /// run() has stopped serving: jobs still queued do nothing but release their
  /// connection.
  std::atomic<bool> stopped{false};
  ConnectionRegistry registry;
  InflightJobs inflight;
  ThreadPool* workers = nullptr;              ///< the worker pool, set before run()
  std::shared_ptr<ReadinessProbe> readiness;  ///< set before run(), if there is a check
  std::atomic<std::uint64_t> next_ws_id{1};

  // Caps and budgets (ServerOptions; docs/net.md, Limits).
  std::size_t max_connections;  ///< effective: set by listen() (fd limit), read-only after
  std::atomic<std::size_t> connections{0};  ///< Slots of HTTP sessions and WebSockets
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::size_t> websockets{0};  ///< Slots of WebSockets (and upgrades under way)
  ByteBudget ws_queued;                    ///< all WebSocket outbound queues
  std::atomic<std::size_t> ws_read_buffer_bytes{0};

  std::chrono::steady_clock::time_point now() const {
    return options.now ? options.now() : std::chrono::steady_clock::now();
  }
  /// The deadline of a request read now.
  Deadline request_deadline() const {
    if (options.handler_timeout.count() <= 0) return Deadline::never();
    return Deadline(now() + options.handler_timeout);
  }
  /// Where a route's work runs when it leaves the I/O thread.
  Executor& executor_for(const RouteOptions& route) const {
    return route.executor ? *route.executor : *workers;
  }
};

/// Takes over an accepted socket (any executor); serves HTTP on it. The slot
/// counts it against max_connections; without one (over the cap) the
/// connection is answered 503 + Retry-After and closed.
void start_http_session(boost::asio::ip::tcp::socket socket, ServerState& state, Slot connection);

/// Takes over a socket whose upgrade request was parsed, routed and authenticated:
/// completes the WebSocket handshake and runs the handler. Call on the socket's
/// executor. The slots (connection, WebSocket) go with it.
void start_websocket_session(boost::asio::ip::tcp::socket socket, ServerState& state,
                             std::unique_ptr<WebSocketHandler> handler, const Request& upgrade,
                             Slot connection, Slot websocket);

/// 503 with `Retry-After: 1` and the JSON error body: the answer to every
/// overflow that a client should retry (full queue, expired deadline, caps).
Response retry_later(std::string message);

}  // namespace office::net::detail

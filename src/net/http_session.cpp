// One HTTP/1.1 connection: read loop, deadlines, dispatch, response writing.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>

#include <array>
#include <chrono>
#include <ctime>
#include <optional>

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "net/detail/request_parser.hpp"
#include "net/detail/server_state.hpp"

namespace office::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

// RFC 9110's reason phrases (Beast's table); "Unknown" for codes it does not know.
std::string_view reason_phrase(int status) {
  auto known = beast::http::int_to_status(static_cast<unsigned>(status));
  if (known == beast::http::status::unknown) return "Unknown";
  auto phrase = beast::http::obsolete_reason(known);
  return {phrase.data(), phrase.size()};
}

// The Date header value, formatted at most once per second per thread.
std::string_view http_date() {
  thread_local std::time_t cached_second = 0;
  thread_local char buf[40];
  thread_local std::size_t len = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = now;
  }
  return {buf, len};
}

// The trace id as hex in a per-thread buffer (valid until the next call on
// this thread; ScopedTrace copies it).
std::string_view trace_id_view(const TraceContext& trace) {
  thread_local char buf[TraceContext::kTraceIdHexSize];
  trace.write_trace_id_hex(buf);
  return {buf, sizeof buf};
}

bool header_safe(std::string_view s) { return s.find_first_of("\r\n") == std::string_view::npos; }

void append_number(std::string& out, std::size_t n) {
  char buf[24];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  out.append(p, buf + sizeof buf - p);
}

class HttpSession final : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, ServerState& state, Slot connection)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        state_(state),
        connection_(std::move(connection)) {
    auto tick = std::min(state_.options.request_timeout, state_.options.idle_timeout);
    tick_ = std::max<Clock::duration>(tick, std::chrono::milliseconds(1));
  }
  ~HttpSession() override {
    if (id_ != 0) state_.registry.remove(id_);
  }

  void start() {
    id_ = state_.registry.add(weak_from_this());
    beast::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) req_.remote_address = ep.address().to_string();
    deadline_ = Clock::now() + state_.options.idle_timeout;
    arm_timer();
    if (!connection_) {
      refuse();
      return;
    }
    begin_request();
  }

  tcp::socket::executor_type socket_executor() { return socket_.get_executor(); }

  void drain() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_drain(); });
  }

 private:
  enum class Phase { kIdle, kReading, kHandling, kWriting, kLingering, kClosed };

  bool stopping() const { return draining_ || state_.draining.load(std::memory_order_relaxed); }

  // --- deadlines -----------------------------------------------------------
  // One timer per connection. Moving the deadline is a plain store: the timer is
  // never armed further than one tick (the shorter timeout) ahead, so a new
  // request/idle deadline is never earlier than the armed expiry.
  void arm_timer() {
    auto at = std::min(deadline_, Clock::now() + tick_);
    armed_at_ = at;
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) { self->on_timer(ec); });
  }

  void on_timer(beast::error_code ec) {
    if (ec || phase_ == Phase::kClosed) return;
    if (Clock::now() >= deadline_) {
      close_now();  // slowloris, idle keep-alive, stuck write or linger over
      return;
    }
    arm_timer();
  }

  // --- reading -------------------------------------------------------------
  void begin_request() {
    if (stopping() && buffer_.size() == 0 && !bytes_waiting()) {
      close_gracefully();  // draining: no next request has begun
      return;
    }
    continue_sent_ = false;
    parser_.emplace(req_, state_.limits);
    if (buffer_.size() > 0) {  // pipelined bytes already here
      start_reading_phase();
      parse();
    } else {
      phase_ = Phase::kIdle;
      deadline_ = Clock::now() + state_.options.idle_timeout;
      do_read();
    }
  }

  bool bytes_waiting() {
    beast::error_code ec;
    return socket_.available(ec) > 0 && !ec;
  }

  void start_reading_phase() {
    phase_ = Phase::kReading;
    request_start_ = Clock::now();
    deadline_ = request_start_ + state_.options.request_timeout;
  }

  void do_read() {
    socket_.async_read_some(
        buffer_.prepare(kReadChunk),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (phase_ == Phase::kClosed) return;
    if (ec) {
      close_now();
      return;
    }
    buffer_.commit(n);
    if (phase_ == Phase::kLingering) {
      buffer_.consume(buffer_.size());
      do_read();
      return;
    }
    if (phase_ == Phase::kIdle) start_reading_phase();
    parse();
  }

  void parse() {
    namespace http = beast::http;
    while (true) {
      beast::error_code ec;
      std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec && ec != http::error::need_more) {
        reject(RequestParser::classify(ec));
        return;
      }
      if (parser_->is_done()) {
        dispatch();
        return;
      }
      if (ec == http::error::need_more || used == 0 || buffer_.size() == 0) break;
    }
    if (parser_->is_header_done() && parser_->expect_continue() && !continue_sent_) {
      continue_sent_ = true;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          if (self->phase_ == Phase::kClosed) return;
                          if (ec) return self->close_now();
                          self->do_read();
                        });
      return;
    }
    do_read();
  }

  // Over max_connections: answer without reading the request, then close (the
  // lingering close reads and drops what the client sends meanwhile).
  void refuse() {
    keep_alive_ = false;
    req_.trace = TraceContext::generate();
    phase_ = Phase::kHandling;
    quiet_ = true;
    respond(retry_later("too many connections; retry later"));
  }

  void reject(ParseFailure failure) {
    keep_alive_ = false;
    head_request_ = false;
    http10_ = false;
    req_.trace = TraceContext::generate();
    respond(parse_failure_response(failure));
  }

  // --- dispatch ------------------------------------------------------------
  void dispatch() {
    phase_ = Phase::kHandling;
    deadline_ = Clock::time_point::max();
    keep_alive_ = parser_->keep_alive();
    http10_ = parser_->http_version() == 10;
    head_request_ = req_.method == Method::kHead;
    parser_.reset();

    if (auto st = prepare_request(req_); !st) {
      req_.trace = TraceContext::generate();
      keep_alive_ = false;
      respond(Response::error(st.error()));
      return;
    }
    log::ScopedTrace scope(trace_id_view(req_.trace));
    if (auto health = health_response()) {
      respond(std::move(*health));
      return;
    }
    match_ = state_.router.match(req_);
    if (match_.error) {
      respond(std::move(*match_.error));
      return;
    }
    req_.deadline = state_.request_deadline();
    if (match_.websocket) {
      if (stopping()) {
        keep_alive_ = false;
        respond(Response::error(ErrorCode::kUnavailable, "server is shutting down"));
        return;
      }
      // Taken before the factory runs, so concurrent upgrades cannot pass the cap.
      ws_slot_ = Slot::try_acquire(state_.websockets, state_.options.ws_max_connections);
      if (!ws_slot_) {
        respond(retry_later("too many WebSocket connections; retry later"));
        return;
      }
    }
    // On this I/O thread only what never blocks: authentication from memory,
    // the route's fast path, inline handlers. The rest goes to the executor.
    if (auto r = state_.router.serve_nonblocking(req_, match_)) {
      respond(std::move(*r));
      return;
    }
    offload();
  }

  std::optional<Response> health_response() {
    if (req_.method != Method::kGet && req_.method != Method::kHead) return std::nullopt;
    if (req_.path == "/healthz") return Response::json(200, R"({"status":"ok"})");
    if (req_.path != "/readyz") return std::nullopt;
    if (state_.draining.load()) return Response::error(ErrorCode::kUnavailable, "draining");
    // The check itself runs on the worker pool (ReadinessProbe); this is its last answer.
    if (state_.readiness && !state_.readiness->ready())
      return Response::error(ErrorCode::kUnavailable, "not ready");
    return Response::json(200, R"({"status":"ready"})");
  }

  // A job on an executor. Members are destroyed in reverse order: the
  // connection is released before the in-flight token, so run() cannot see
  // "no jobs left" while a job still holds a socket.
  struct Job {
    InflightJobs::Token token;
    std::shared_ptr<HttpSession> self;
  };

  // The I/O thread moves on; the executor authenticates if needed, runs the
  // handler (or WebSocket factory) and posts the result back. req_ is not
  // touched by the I/O side while the phase is kHandling.
  void offload() {
    Executor& executor = state_.executor_for(*match_.options);
    Job job{state_.inflight.enter(), shared_from_this()};
    bool queued = executor.try_post([job = std::move(job)]() mutable { job.self->run_job(); });
    if (!queued) respond(retry_later("server busy; retry later"));
  }

  // On the executor.
  void run_job() {
    if (state_.stopped.load()) return;  // the server is gone; so is the client's answer
    log::ScopedTrace scope(trace_id_view(req_.trace));
    if (req_.deadline.passed(state_.now())) {
      // Queued past its deadline: the client has probably given up; the
      // handler is not run. Same answer as a full queue.
      post_response(retry_later("request waited too long for a worker; retry later"));
      return;
    }
    if (!match_.websocket) {
      post_response(state_.router.serve(req_, match_));
      return;
    }
    auto handler = state_.router.open_websocket(req_, match_);
    asio::post(socket_.get_executor(),
               [self = shared_from_this(), handler = std::move(handler)]() mutable {
                 if (self->phase_ == Phase::kClosed) return;
                 log::ScopedTrace scope(trace_id_view(self->req_.trace));
                 if (!handler) return self->respond(Response::error(handler.error()));
                 self->upgrade(std::move(handler).value());
               });
  }

  void post_response(Response r) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), r = std::move(r)]() mutable {
      if (self->phase_ == Phase::kClosed) return;
      log::ScopedTrace scope(trace_id_view(self->req_.trace));
      self->respond(std::move(r));
    });
  }

  // On the I/O thread, with the handler the factory made.
  void upgrade(std::unique_ptr<WebSocketHandler> handler) {
    if (stopping()) {
      keep_alive_ = false;
      respond(Response::error(ErrorCode::kUnavailable, "server is shutting down"));
      return;
    }
    if (state_.options.access_log) access_log(101);
    phase_ = Phase::kClosed;
    timer_.cancel();
    start_websocket_session(std::move(socket_), state_, std::move(handler), req_,
                            std::move(connection_), std::move(ws_slot_));
  }

  // --- writing -------------------------------------------------------------
  void respond(Response&& r) {
    ws_slot_.reset();  // an upgrade that ends in an HTTP response gives its slot back
    resp_ = std::move(r);
    if (stopping()) keep_alive_ = false;
    build_head();
    if (state_.options.access_log && !quiet_) access_log(resp_.status);
    phase_ = Phase::kWriting;
    deadline_ = Clock::now() + state_.options.idle_timeout;

    std::string_view body = resp_.body.empty() ? resp_.static_body : std::string_view(resp_.body);
    bool send_body = !head_request_ && body_allowed(resp_.status) && !body.empty();
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head_),
                                           asio::buffer(body.data(), send_body ? body.size() : 0)};
    asio::async_write(
        socket_, bufs,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  static bool body_allowed(int status) { return status >= 200 && status != 204 && status != 304; }

  void build_head() {
    head_.clear();
    head_ += "HTTP/1.1 ";
    append_number(head_, static_cast<std::size_t>(resp_.status));
    head_ += ' ';
    head_ += reason_phrase(resp_.status);
    head_ += "\r\nDate: ";
    head_ += http_date();
    head_ += "\r\n";
    if (body_allowed(resp_.status)) {
      std::size_t len = resp_.body.empty() ? resp_.static_body.size() : resp_.body.size();
      if (!resp_.content_type.empty() && header_safe(resp_.content_type)) {
        head_ += "Content-Type: ";
        head_ += resp_.content_type;
        head_ += "\r\n";
      }
      head_ += "Content-Length: ";
      append_number(head_, len);
      head_ += "\r\n";
    }
    head_ += "traceparent: ";
    const std::size_t at = head_.size();
    head_.resize(at + TraceContext::kHeaderSize);
    req_.trace.write_header(head_.data() + at);
    head_ += "\r\n";
    for (const auto& [name, value] : resp_.headers) {
      if (name.empty() || !header_safe(name) || !header_safe(value) ||
          name.find(':') != std::string::npos) {
        spdlog::warn("net: dropped invalid response header from handler");
        continue;
      }
      head_ += name;
      head_ += ": ";
      head_ += value;
      head_ += "\r\n";
    }
    if (!keep_alive_) {
      head_ += "Connection: close\r\n";
    } else if (http10_) {
      head_ += "Connection: keep-alive\r\n";
    }
    head_ += "\r\n";
  }

  void access_log(int status) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - request_start_);
    std::string_view path = req_.path.empty() ? std::string_view(req_.target) : req_.path;
    spdlog::info("{} {} {} {}us", method_name(req_.method), log::Escaped{path}, status, us.count());
  }

  void on_write(beast::error_code ec) {
    if (phase_ == Phase::kClosed) return;
    resp_.body.clear();
    resp_.static_body = {};
    resp_.headers.clear();
    if (ec) {
      close_now();
      return;
    }
    if (!keep_alive_) {
      close_gracefully();
      return;
    }
    begin_request();
  }

  // --- closing -------------------------------------------------------------
  // Send FIN, then read and discard until the peer closes (or a short deadline), so
  // unread request bytes do not turn our close into a RST that destroys the response.
  void close_gracefully() {
    if (phase_ == Phase::kClosed || phase_ == Phase::kLingering) return;
    phase_ = Phase::kLingering;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      close_now();
      return;
    }
    deadline_ = Clock::now() + std::min<Clock::duration>(tick_, std::chrono::seconds(1));
    if (deadline_ < armed_at_) arm_timer();  // cancels the later wait
    buffer_.consume(buffer_.size());
    do_read();
  }

  void close_now() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    beast::error_code ec;
    socket_.close(ec);
    timer_.cancel();
  }

  void on_drain() {
    draining_ = true;
    if (phase_ != Phase::kIdle) return;  // the current request finishes, then we close
    if (bytes_waiting()) return;         // a request is arriving: serve it
    beast::error_code ec;
    // Cancel the pending read rather than closing: a read that has already
    // taken bytes from the kernel (its handler queued, not run yet) still
    // delivers them and that request is served; otherwise on_read sees the
    // cancellation and closes.
    socket_.cancel(ec);
    if (ec) close_now();
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  ServerState& state_;
  Slot connection_;  // counts against max_connections; empty: refused
  Slot ws_slot_;     // taken for an upgrade under way
  std::uint64_t id_ = 0;
  Phase phase_ = Phase::kIdle;
  Clock::duration tick_;
  Clock::time_point deadline_;
  Clock::time_point armed_at_;
  Clock::time_point request_start_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  Request req_;
  Router::Match match_;  // of req_, while it is handled
  Response resp_;
  std::string head_;
  bool keep_alive_ = true;
  bool http10_ = false;
  bool head_request_ = false;
  bool continue_sent_ = false;
  bool draining_ = false;
  bool quiet_ = false;  // no access log line (refused connections)
};

}  // namespace

void start_http_session(tcp::socket socket, ServerState& state, Slot connection) {
  auto session = std::make_shared<HttpSession>(std::move(socket), state, std::move(connection));
  auto ex = session->socket_executor();
  asio::post(ex, [session = std::move(session)] { session->start(); });
}

}  // namespace office::net::detail

// One WebSocket connection: handshake, read loop, bounded outbound queue, close.
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <atomic>
#include <mutex>

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "net/detail/server_state.hpp"

namespace office::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

class WsSession;

// What the application holds. A weak reference, so an application that keeps it
// after the server is gone holds no socket (sockets must not outlive their io_context).
class WsHandle final : public WebSocketSession {
 public:
  WsHandle(std::weak_ptr<WsSession> s, std::uint64_t id) : session_(std::move(s)), id_(id) {}
  bool send_text(std::string message) override;
  void close(CloseCode code, std::string reason) override;
  bool is_open() const override;
  std::uint64_t id() const override { return id_; }

 private:
  std::weak_ptr<WsSession> session_;
  std::uint64_t id_;
};

class WsSession final : public Connection, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket socket, ServerState& state, std::unique_ptr<WebSocketHandler> handler)
      : ws_(std::move(socket)),
        state_(state),
        handler_(std::move(handler)),
        id_(state.next_ws_id.fetch_add(1)) {}
  ~WsSession() override {
    if (registry_id_ != 0) state_.registry.remove(registry_id_);
  }

  void start(const Request& req) {
    registry_id_ = state_.registry.add(weak_from_this());
    trace_id_ = req.trace.trace_id_hex();
    upgrade_.method(beast::http::verb::get);
    upgrade_.target(req.target);
    upgrade_.version(11);
    for (const auto& [name, value] : req.headers) upgrade_.insert(name, value);

    const auto& o = state_.options;
    websocket::stream_base::timeout t{};
    t.handshake_timeout = o.request_timeout;
    t.idle_timeout = o.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(o.ws_max_message_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [tp = req.trace.to_header()](websocket::response_type& res) {
          res.set("traceparent", tp);
        }));
    ws_.async_accept(upgrade_,
                     [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void drain() override { close(CloseCode::kGoingAway, "server shutting down"); }

  bool is_open() const { return open_.load(std::memory_order_acquire); }

  bool send_text(std::string message) {
    if (!is_open()) return false;
    std::unique_lock lock(mu_);
    if (close_requested_) return false;
    if (queued_bytes_ + message.size() > state_.options.ws_max_queued_bytes) {
      lock.unlock();
      spdlog::warn("net: WebSocket {} send queue full ({} bytes); closing with 1013", id_,
                   state_.options.ws_max_queued_bytes);
      close(CloseCode::kTryAgainLater, "send queue full");
      return false;
    }
    queued_bytes_ += message.size();
    pending_.push_back(std::move(message));
    if (write_scheduled_) return true;  // the write loop will pick it up
    write_scheduled_ = true;
    lock.unlock();
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->write_next(); });
    return true;
  }

  void close(CloseCode code, std::string reason) {
    {
      std::lock_guard lock(mu_);
      if (close_requested_) return;
      close_requested_ = true;
    }
    open_.store(false, std::memory_order_release);
    asio::post(ws_.get_executor(),
               [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
                 self->do_close(code, std::move(reason));
               });
  }

 private:
  void on_accept(beast::error_code ec) {
    upgrade_ = {};
    if (ec) {
      spdlog::debug("net: WebSocket handshake failed: {}", ec.message());
      handler_.reset();
      return;
    }
    bool close_early;
    {
      std::lock_guard lock(mu_);
      close_early = close_requested_;  // drained during the handshake; do_close is queued
    }
    open_.store(!close_early, std::memory_order_release);
    opened_ = true;
    log::ScopedTrace scope(trace_id_);
    guarded("on_open",
            [&] { handler_->on_open(std::make_shared<WsHandle>(weak_from_this(), id_)); });
    if (close_started_) send_close();  // do_close ran during the handshake
    do_read();
  }

  template <class F>
  void guarded(const char* what, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("net: WebSocket handler {} threw: {}", what, log::Escaped{e.what()});
      do_close(CloseCode::kInternalError, "internal error");
    } catch (...) {
      spdlog::error("net: WebSocket handler {} threw a non-exception", what);
      do_close(CloseCode::kInternalError, "internal error");
    }
  }

  void do_read() {
    ws_.async_read(rbuf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      finish(ec);
      return;
    }
    if (!ws_.got_text()) {
      rbuf_.consume(rbuf_.size());
      do_close(CloseCode::kUnsupportedData, "binary messages are not supported");
    } else if (!close_started_) {
      auto data = rbuf_.cdata();
      std::string_view text(static_cast<const char*>(data.data()), data.size());
      log::ScopedTrace scope(trace_id_);
      guarded("on_message", [&] { handler_->on_message(text); });
      rbuf_.consume(rbuf_.size());
    } else {
      rbuf_.consume(rbuf_.size());
    }
    do_read();  // after a close we keep reading until the peer's close frame arrives
  }

  // Runs on the strand. Sends one message per async_write; a batch is everything
  // queued when the previous batch finished (vectors swapped, capacity reused).
  void write_next() {
    if (close_started_ || finished_) {
      drop_queue();
      return;
    }
    if (write_index_ == writing_.size()) {
      writing_.clear();
      write_index_ = 0;
      std::lock_guard lock(mu_);
      if (pending_.empty()) {
        write_scheduled_ = false;
        return;
      }
      writing_.swap(pending_);
    }
    ws_.text(true);
    ws_.async_write(
        asio::buffer(writing_[write_index_]),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    {
      std::lock_guard lock(mu_);
      queued_bytes_ -= writing_[write_index_].size();
    }
    ++write_index_;
    if (ec) {
      drop_queue();
      return;
    }
    write_next();
  }

  void drop_queue() {
    writing_.clear();
    write_index_ = 0;
    std::lock_guard lock(mu_);
    pending_.clear();
    queued_bytes_ = 0;
    write_scheduled_ = false;
  }

  void do_close(CloseCode code, std::string reason) {
    if (close_started_ || finished_) return;
    {
      std::lock_guard lock(mu_);
      close_requested_ = true;
    }
    open_.store(false, std::memory_order_release);
    close_started_ = true;
    close_code_ = static_cast<std::uint16_t>(code);
    close_reason_ = std::move(reason);
    if (opened_) send_close();  // else on_accept sends it once the handshake is done
  }

  void send_close() {
    if (close_sent_) return;
    close_sent_ = true;
    ws_.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
        [self = shared_from_this()](beast::error_code) {});
  }

  void finish(beast::error_code ec) {
    if (finished_) return;
    finished_ = true;
    open_.store(false, std::memory_order_release);
    std::uint16_t code = 1006;  // abnormal closure
    if (close_code_ != 0) {
      code = close_code_;
    } else if (ec == websocket::error::closed) {
      code = ws_.reason().code;
    } else if (ec == websocket::error::message_too_big) {
      code = static_cast<std::uint16_t>(CloseCode::kMessageTooBig);
    }
    {
      std::lock_guard lock(mu_);
      close_requested_ = true;
    }
    if (!write_scheduled_unlocked()) drop_queue();
    log::ScopedTrace scope(trace_id_);
    try {
      if (handler_) handler_->on_close(code);
    } catch (const std::exception& e) {
      spdlog::error("net: WebSocket handler on_close threw: {}", log::Escaped{e.what()});
    } catch (...) {
      spdlog::error("net: WebSocket handler on_close threw a non-exception");
    }
    handler_.reset();  // releases whatever the application hung on it
  }

  bool write_scheduled_unlocked() {
    std::lock_guard lock(mu_);
    return write_scheduled_;
  }

  websocket::stream<tcp::socket> ws_;
  ServerState& state_;
  std::unique_ptr<WebSocketHandler> handler_;  // strand only
  const std::uint64_t id_;
  std::uint64_t registry_id_ = 0;
  std::string trace_id_;
  beast::http::request<beast::http::empty_body> upgrade_;
  beast::flat_buffer rbuf_;
  std::atomic<bool> open_{false};

  // strand only
  bool opened_ = false;
  bool close_started_ = false;
  bool close_sent_ = false;
  bool finished_ = false;
  std::uint16_t close_code_ = 0;
  std::string close_reason_;
  std::vector<std::string> writing_;
  std::size_t write_index_ = 0;

  std::mutex mu_;
  std::vector<std::string> pending_;  // guarded by mu_
  std::size_t queued_bytes_ = 0;      // guarded by mu_: pending_ + unsent part of writing_
  bool write_scheduled_ = false;      // guarded by mu_: a write_next is posted or running
  bool close_requested_ = false;      // guarded by mu_
};

bool WsHandle::send_text(std::string message) {
  if (auto s = session_.lock()) return s->send_text(std::move(message));
  return false;
}
void WsHandle::close(CloseCode code, std::string reason) {
  if (auto s = session_.lock()) s->close(code, std::move(reason));
}
bool WsHandle::is_open() const {
  auto s = session_.lock();
  return s && s->is_open();
}

}  // namespace

void start_websocket_session(tcp::socket socket, ServerState& state,
                             std::unique_ptr<WebSocketHandler> handler, const Request& upgrade) {
  auto session = std::make_shared<WsSession>(std::move(socket), state, std::move(handler));
  session->start(upgrade);
}

}  // namespace office::net::detail

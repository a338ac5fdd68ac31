// One WebSocket connection: handshake, read loop, bounded outbound queue, close.
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

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

/// The server's view of a SharedMessage's body (its budget bookkeeping).
struct SharedMessageAccess {
  using Body = SharedMessage::Body;
  static std::shared_ptr<Body> body(SharedMessage&& m) { return std::move(m.body_); }
};

namespace {

// After a message, a read buffer larger than this is given back, so one large
// message does not pin its size for the life of an idle connection.
constexpr std::size_t kKeepReadBuffer = 4096;

class WsSession;

// One queued outbound message: the session's own bytes, or a shared message.
// Knows how it was counted against the server-wide budget, and gives that back.
class Outbound {
 public:
  Outbound() = default;
  explicit Outbound(std::string text) : owned_(std::move(text)) {}
  explicit Outbound(std::shared_ptr<SharedMessageAccess::Body> body) : shared_(std::move(body)) {}
  Outbound(Outbound&& o) noexcept
      : owned_(std::move(o.owned_)),
        shared_(std::move(o.shared_)),
        budget_(std::exchange(o.budget_, nullptr)),
        counted_once_(o.counted_once_) {}
  Outbound& operator=(Outbound&& o) noexcept {
    if (this != &o) {
      release();
      owned_ = std::move(o.owned_);
      shared_ = std::move(o.shared_);
      budget_ = std::exchange(o.budget_, nullptr);
      counted_once_ = o.counted_once_;
    }
    return *this;
  }
  Outbound(const Outbound&) = delete;
  Outbound& operator=(const Outbound&) = delete;
  ~Outbound() { release(); }

  std::string_view view() const { return shared_ ? std::string_view(shared_->text) : owned_; }
  std::size_t size() const { return shared_ ? shared_->text.size() : owned_.size(); }

  // Counts the bytes in the server-wide budget. A shared message is counted by
  // the first queue entry of this server that holds it, and given back by the
  // last one; a shared message first queued by another server is counted like
  // a private one. False, with nothing counted, when the budget is exhausted.
  bool acquire(ByteBudget& budget) {
    const std::size_t n = size();
    if (shared_) {
      const void* expected = nullptr;
      const void* owner = shared_->owner.load(std::memory_order_acquire);
      if (owner == nullptr && shared_->owner.compare_exchange_strong(expected, &budget))
        owner = &budget;
      else if (owner == nullptr)
        owner = expected;
      if (owner == &budget) {
        if (shared_->holders.fetch_add(1, std::memory_order_acq_rel) == 0 && !budget.try_add(n)) {
          // Not counted. If another entry joined meanwhile it relies on these
          // bytes being counted: count them anyway and let it keep them.
          if (shared_->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) return false;
          budget.force_add(n);
          return false;
        }
        budget_ = &budget;
        counted_once_ = true;
        return true;
      }
    }
    if (!budget.try_add(n)) return false;
    budget_ = &budget;
    counted_once_ = false;
    return true;
  }

  // Gives the bytes back to the budget and frees the message (written or dropped).
  void release() {
    if (budget_) {
      if (!counted_once_) {
        budget_->remove(size());
      } else if (shared_->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        budget_->remove(size());
      }
      budget_ = nullptr;
    }
    shared_.reset();
    std::string().swap(owned_);
  }

 private:
  std::string owned_;
  std::shared_ptr<SharedMessageAccess::Body> shared_;
  ByteBudget* budget_ = nullptr;  // set while counted
  bool counted_once_ = false;     // shared: counted once per server
};

// What the application holds. A weak reference, so an application that keeps it
// after the server is gone holds no socket (sockets must not outlive their io_context).
class WsHandle final : public WebSocketSession {
 public:
  WsHandle(std::weak_ptr<WsSession> s, std::uint64_t id) : session_(std::move(s)), id_(id) {}
  bool send_text(std::string message) override;
  bool send_shared(SharedMessage message) override;
  void close(CloseCode code, std::string reason) override;
  bool is_open() const override;
  std::uint64_t id() const override { return id_; }

 private:
  std::weak_ptr<WsSession> session_;
  std::uint64_t id_;
};

class WsSession final : public Connection, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket socket, ServerState& state, std::unique_ptr<WebSocketHandler> handler,
            Slot connection, Slot websocket)
      : ws_(std::move(socket)),
        state_(state),
        handler_(std::move(handler)),
        id_(state.next_ws_id.fetch_add(1)),
        connection_(std::move(connection)),
        websocket_(std::move(websocket)) {}
  ~WsSession() override {
    note_read_buffer(0);
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
    ws_.auto_fragment(false);  // one frame per message: one write, no copy
    ws_.set_option(websocket::stream_base::decorator(
        [tp = req.trace.to_header()](websocket::response_type& res) {
          res.set("traceparent", tp);
        }));
    ws_.async_accept(upgrade_,
                     [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void drain() override { close(CloseCode::kGoingAway, "server shutting down"); }

  bool is_open() const { return open_.load(std::memory_order_acquire); }

  bool send(Outbound message) {
    if (!is_open()) return false;
    std::unique_lock lock(mu_);
    if (close_requested_) return false;
    const auto& o = state_.options;
    const char* full = nullptr;
    if (queued_count_ >= o.ws_max_queued_messages) {
      full = "messages";
    } else if (queued_bytes_ + message.size() > o.ws_max_queued_bytes) {
      full = "bytes";
    } else if (!message.acquire(state_.ws_queued)) {
      full = "server-wide bytes";
    }
    if (full) {
      lock.unlock();
      spdlog::warn("net: WebSocket {} send queue full ({}); closing with 1013", id_, full);
      close(CloseCode::kTryAgainLater, "send queue full", /*flush=*/false);
      return false;
    }
    queued_bytes_ += message.size();
    ++queued_count_;
    pending_.push_back(std::move(message));
    if (write_scheduled_) return true;  // the write loop will pick it up
    write_scheduled_ = true;
    lock.unlock();
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->write_next(); });
    return true;
  }

  // flush: what is queued is sent before the close frame (the application's
  // close, a server drain); otherwise it is dropped (a queue overflow, a
  // protocol error), and the close frame follows the message being written.
  void close(CloseCode code, std::string reason, bool flush = true) {
    {
      std::lock_guard lock(mu_);
      if (close_requested_) return;
      close_requested_ = true;
    }
    open_.store(false, std::memory_order_release);
    asio::post(ws_.get_executor(),
               [self = shared_from_this(), code, reason = std::move(reason), flush]() mutable {
                 self->do_close(code, std::move(reason), flush);
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
    if (close_started_) maybe_send_close();  // do_close ran during the handshake
    do_read();
  }

  template <class F>
  void guarded(const char* what, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("net: WebSocket handler {} threw: {}", what, log::Escaped{e.what()});
      do_close(CloseCode::kInternalError, "internal error", false);
    } catch (...) {
      spdlog::error("net: WebSocket handler {} threw a non-exception", what);
      do_close(CloseCode::kInternalError, "internal error", false);
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
      do_close(CloseCode::kUnsupportedData, "binary messages are not supported", false);
    } else if (!close_started_) {
      auto data = rbuf_.cdata();
      std::string_view text(static_cast<const char*>(data.data()), data.size());
      log::ScopedTrace scope(trace_id_);
      guarded("on_message", [&] { handler_->on_message(text); });
    }
    rbuf_.consume(rbuf_.size());
    if (rbuf_.capacity() > kKeepReadBuffer) rbuf_.shrink_to_fit();  // empty: frees it
    note_read_buffer(rbuf_.capacity());
    do_read();  // after a close we keep reading until the peer's close frame arrives
  }

  // Keeps the server's total of read buffer capacity (ServerStats) up to date.
  void note_read_buffer(std::size_t capacity) {
    if (capacity == noted_read_buffer_) return;
    state_.ws_read_buffer_bytes.fetch_add(capacity - noted_read_buffer_);  // wraps when smaller
    noted_read_buffer_ = capacity;
  }

  // Runs on the strand. Sends one message per async_write; a batch is everything
  // queued when the previous batch finished (vectors swapped, capacity reused).
  // A batch of several messages is written with the socket corked
  // (TCP_CORK), so the kernel sends it as one segment train instead of one
  // transmit per message: on a busy document most of the server's time was
  // the TCP send path of each small frame (docs/benchmarks.md).
  void write_next() {
    if (finished_ || (close_started_ && !flush_)) {
      set_cork(false);
      drop_queue();
      return;
    }
    if (write_index_ == writing_.size()) {
      writing_.clear();
      write_index_ = 0;
      {
        std::lock_guard lock(mu_);
        if (!pending_.empty()) {
          writing_.swap(pending_);
        } else {
          write_scheduled_ = false;
        }
      }
      set_cork(false);  // pushes what the last batch left (cork holds it up to 200 ms)
      set_cork(writing_.size() > 1);
      if (writing_.empty()) {
        if (close_started_) maybe_send_close();  // the queue is flushed: now the close frame
        return;
      }
    }
    ws_.text(true);
    ws_.async_write(
        asio::buffer(writing_[write_index_].view().data(), writing_[write_index_].size()),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    Outbound done = std::move(writing_[write_index_]);
    {
      std::lock_guard lock(mu_);
      queued_bytes_ -= done.size();
      --queued_count_;
    }
    done.release();  // the budget and the bytes, now
    ++write_index_;
    if (ec) {
      drop_queue();
      return;
    }
    write_next();
  }

  void set_cork(bool on) {
    if (on == corked_) return;
    corked_ = on;
    int v = on ? 1 : 0;
    // Best effort: without it, frames are sent one transmit each.
    (void)::setsockopt(ws_.next_layer().native_handle(), IPPROTO_TCP, TCP_CORK, &v, sizeof v);
  }

  // Drops everything queued; no write is in flight when this runs.
  void drop_queue() {
    writing_.clear();
    write_index_ = 0;
    std::vector<Outbound> dropped;
    {
      std::lock_guard lock(mu_);
      dropped.swap(pending_);
      queued_bytes_ = 0;
      queued_count_ = 0;
      write_scheduled_ = false;
    }
    // `dropped` releases its budget here, outside the lock.
  }

  void do_close(CloseCode code, std::string reason, bool flush) {
    if (close_started_ || finished_) return;
    {
      std::lock_guard lock(mu_);
      close_requested_ = true;
    }
    open_.store(false, std::memory_order_release);
    close_started_ = true;
    flush_ = flush;
    close_code_ = static_cast<std::uint16_t>(code);
    close_reason_ = std::move(reason);
    if (!opened_) return;  // on_accept sends it once the handshake is done
    maybe_send_close();
  }

  // The close frame goes when nothing queued before close() is left to send:
  // at once without flush (Beast sends it after the frame being written),
  // else when the write loop has emptied the queue.
  void maybe_send_close() {
    if (close_sent_) return;
    if (flush_) {
      std::lock_guard lock(mu_);
      if (write_scheduled_) return;  // write_next sends it when the queue is empty
    } else {
      drop_queue_pending_only();
    }
    close_sent_ = true;
    ws_.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
        [self = shared_from_this()](beast::error_code) {});
  }

  // Without flush: what has not started to be written is dropped now (the
  // message being written finishes; write_next then drops the rest).
  void drop_queue_pending_only() {
    std::vector<Outbound> dropped;
    std::lock_guard lock(mu_);
    for (auto& m : pending_) {
      queued_bytes_ -= m.size();
      --queued_count_;
    }
    dropped.swap(pending_);
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
  Slot connection_;  // counts against max_connections
  Slot websocket_;   // counts against ws_max_connections
  std::uint64_t registry_id_ = 0;
  std::string trace_id_;
  beast::http::request<beast::http::empty_body> upgrade_;
  beast::flat_buffer rbuf_;
  std::size_t noted_read_buffer_ = 0;
  std::atomic<bool> open_{false};

  // strand only
  bool opened_ = false;
  bool close_started_ = false;
  bool close_sent_ = false;
  bool flush_ = true;
  bool corked_ = false;  // TCP_CORK set for the batch being written (strand only)
  bool finished_ = false;
  std::uint16_t close_code_ = 0;
  std::string close_reason_;
  std::vector<Outbound> writing_;
  std::size_t write_index_ = 0;

  std::mutex mu_;
  std::vector<Outbound> pending_;  // guarded by mu_
  std::size_t queued_bytes_ = 0;   // guarded by mu_: pending_ + unsent part of writing_
  std::size_t queued_count_ = 0;   // guarded by mu_: the same, in messages
  bool write_scheduled_ = false;   // guarded by mu_: a write_next is posted or running
  bool close_requested_ = false;   // guarded by mu_
};

bool WsHandle::send_text(std::string message) {
  if (auto s = session_.lock()) return s->send(Outbound(std::move(message)));
  return false;
}
bool WsHandle::send_shared(SharedMessage message) {
  auto body = SharedMessageAccess::body(std::move(message));
  if (!body) return false;
  if (auto s = session_.lock()) return s->send(Outbound(std::move(body)));
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
                             std::unique_ptr<WebSocketHandler> handler, const Request& upgrade,
                             Slot connection, Slot websocket) {
  auto session = std::make_shared<WsSession>(std::move(socket), state, std::move(handler),
                                             std::move(connection), std::move(websocket));
  session->start(upgrade);
}

}  // namespace office::net::detail

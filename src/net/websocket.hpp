#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace office::net {

namespace detail {
struct SharedMessageAccess;
}  // namespace detail

/// An immutable text message serialised once and sent to many sessions (a
/// broadcast): every session's queue holds a reference to the same bytes, with
/// no copy per subscriber. Cheap to copy (a reference count); thread-safe. The
/// server's memory budget (ServerOptions::ws_max_total_queued_bytes) counts its
/// bytes once while any session of that server still has it queued.
///
/// A batch (SharedMessage::frames) is several text messages framed once for
/// every session: one queue entry and one buffer per subscriber instead of
/// one per message, delivered as consecutive frames in order.
class SharedMessage {
 public:
  SharedMessage() = default;
  explicit SharedMessage(std::string text) : body_(std::make_shared<Body>(std::move(text), 0)) {}
  /// The texts as consecutive WebSocket text frames (server to client, so
  /// unmasked and the same bytes for every session). No texts: an empty
  /// SharedMessage, which send_shared refuses.
  static SharedMessage frames(std::span<const std::string_view> texts);
  /// One message's text; for a batch, its framed bytes (headers included).
  std::string_view text() const {
    return body_ ? std::string_view(body_->text) : std::string_view();
  }
  std::size_t size() const { return body_ ? body_->text.size() : 0; }
  /// Made by frames(): text() is framed bytes.
  bool is_batch() const { return body_ && body_->frames > 0; }
  /// Messages it carries: 1, or a batch's count (0 when empty).
  std::size_t message_count() const {
    if (!body_) return 0;
    return body_->frames == 0 ? 1 : body_->frames;
  }

 private:
  friend struct detail::SharedMessageAccess;
  struct Body {
    Body(std::string t, std::uint32_t n) : text(std::move(t)), frames(n) {}
    const std::string text;
    const std::uint32_t frames;  ///< 0: one message (unframed); else framed messages in text
    std::atomic<const void*> owner{nullptr};  ///< the server whose budget counts it
    std::atomic<std::uint32_t> holders{0};    ///< queue entries of that server holding it
  };
  std::shared_ptr<Body> body_;
};
/// Standard close codes (RFC 6455 section 7.4.1).
enum class CloseCode : std::uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,  ///< server shutting down
  kProtocolError = 1002,
  kUnsupportedData = 1003,
  kPolicyViolation = 1008,
  kMessageTooBig = 1009,
  kInternalError = 1011,
  kTryAgainLater = 1013,  ///< e.g. the client reads too slowly (send queue full)
  /// office-suite's own (RFC 6455 leaves 4000-4999 to applications): the
  /// session behind the connection ended (logout, the user disabled) or its
  /// access token expired without being renewed. Sign in or refresh, then
  /// reconnect.
  kUnauthorized = 4401,
};

/// The server's side of one WebSocket connection, given to the handler.
/// Thread-safe: send/close may be called from any thread; delivery happens on
/// the connection's strand in call order. Lifetime: shared by the I/O loop and
/// whoever else holds it (e.g. a document's subscriber list); it refers to the
/// connection weakly, so holding it keeps no socket alive. Once closed, or
/// once the connection is gone, sends return false and do nothing.
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;
  /// Queues a text message. Never blocks. The queue is bounded per connection
  /// (ServerOptions::ws_max_queued_messages and ws_max_queued_bytes) and all
  /// queues together by ws_max_total_queued_bytes: when this message would
  /// pass a bound, the session is closed with 1013 (what is queued is dropped)
  /// and false is returned. Nothing is dropped silently.
  virtual bool send_text(std::string message) = 0;
  /// send_text for a message shared with other sessions (no copy). The same
  /// bounds apply; a shared message counts once towards the server-wide one.
  virtual bool send_shared(SharedMessage message) = 0;
  /// Sends what was queued before this call, then a close frame with this code
  /// (sends after it return false); idempotent.
  virtual void close(CloseCode code, std::string reason = {}) = 0;
  virtual bool is_open() const = 0;
  /// Unique per server run, for logs.
  virtual std::uint64_t id() const = 0;
};

/// Application callbacks for one connection. Called on the connection's strand,
/// never concurrently for the same connection. Must not block.
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  /// The handshake completed; keep `session` to send later.
  virtual void on_open(std::shared_ptr<WebSocketSession> session) = 0;
  /// A complete text message (binary messages are rejected with 1003 by the server;
  /// over-size messages with 1009).
  virtual void on_message(std::string_view text) = 0;
  /// The connection is gone (closed by either side, error or shutdown). Last call.
  virtual void on_close(std::uint16_t code) = 0;
};

}  // namespace office::net

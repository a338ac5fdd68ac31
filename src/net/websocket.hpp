#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace office::net {

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
};

/// The server's side of one WebSocket connection, given to the handler.
/// Thread-safe: send/close may be called from any thread; delivery happens on
/// the connection's strand in call order. Lifetime: shared by the I/O loop and
/// whoever else holds it (e.g. a document's subscriber list); once closed,
/// send() returns false and does nothing.
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;
  /// Queues a text message. The queue is bounded (ServerOptions::ws_max_queued_bytes):
  /// when a slow reader would push it over, the session is closed with 1013 and
  /// false is returned. Never blocks.
  virtual bool send_text(std::string message) = 0;
  /// Starts a close handshake with this code; idempotent.
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

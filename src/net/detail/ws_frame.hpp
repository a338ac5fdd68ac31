#pragma once
// Internal: RFC 6455 framing after the handshake, as the server needs it. The
// reader parses what clients send (masked frames, fragmentation, control
// frames, limits, UTF-8); the writer's half is the frame header of what the
// server sends (never masked). No Asio or Beast here: the session owns the
// socket, and this is testable and fuzzable on its own.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace office::net::detail {

/// True if `s` is valid UTF-8 (RFC 3629: no overlong forms, no surrogates,
/// nothing above U+10FFFF).
bool valid_utf8(std::string_view s);

/// The largest header of a server frame (2 + 8 bytes).
inline constexpr std::size_t kMaxServerHeader = 10;

enum class WsOpcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

/// The length of a server frame's header for a payload of `payload_size` bytes.
inline constexpr std::size_t frame_header_size(std::uint64_t payload_size) {
  return payload_size < 126 ? 2 : payload_size <= 0xFFFF ? 4 : 10;
}

/// Writes the header of one unmasked, final frame of `payload_size` bytes into
/// out (at least kMaxServerHeader bytes); returns its length.
std::size_t write_frame_header(unsigned char* out, WsOpcode op, std::uint64_t payload_size);

/// The payload of a close frame: the code in network order, then the reason
/// (cut to fit the 125-byte limit of a control frame, at a UTF-8 boundary).
std::string close_payload(std::uint16_t code, std::string_view reason);

/// One thing the reader found in the bytes it was given.
struct WsEvent {
  enum class Kind {
    kNeedMore,  ///< every byte given was consumed; feed more
    kMessage,   ///< a complete message (text, or binary if `binary`)
    kPing,      ///< payload: what the pong must carry
    kPong,
    kClose,  ///< the peer's close: code (1005 when it carried none) and reason
    kFail,   ///< the connection must be failed with `code`; reason says why
  };
  Kind kind = Kind::kNeedMore;
  bool binary = false;
  std::uint16_t code = 0;
  std::string_view payload;  ///< valid until the next call to next()
  const char* reason = "";   ///< kFail: a static string
};

/// Incremental parser of the client's side of a WebSocket connection. Feed it
/// what the socket returned with next(p, end) until it answers kNeedMore; it
/// keeps partial frames itself (only what a message needs: the payload, never
/// more than the message limit). The input is modified (unmasked in place).
/// After kFail or kClose nothing more is parsed.
class WsFrameReader {
 public:
  explicit WsFrameReader(std::size_t max_message_bytes) : max_message_(max_message_bytes) {}

  /// Parses from p (advanced past what was consumed) up to end.
  WsEvent next(char*& p, char* end);

  /// From now on data frames are parsed but their payloads dropped unseen
  /// (the server is closing and waits for the peer's close frame).
  void discard_data() {
    discard_ = true;
    msg_.clear();
  }
  /// Capacity held for partial messages (for the server's statistics).
  std::size_t buffer_capacity() const { return msg_.capacity(); }
  /// Gives back a buffer grown past `keep` bytes once no message is in progress.
  void shrink(std::size_t keep);

 private:
  WsEvent fail(std::uint16_t code, const char* why) {
    done_ = true;
    WsEvent e;
    e.kind = WsEvent::Kind::kFail;
    e.code = code;
    e.reason = why;
    return e;
  }
  WsEvent frame_done(std::string_view payload);
  WsEvent control(std::string_view payload);
  void unmask(char* p, std::size_t n);

  const std::size_t max_message_;
  bool done_ = false;
  bool discard_ = false;

  // The frame being read.
  unsigned char hdr_[14] = {};
  std::size_t hdr_have_ = 0;
  bool in_payload_ = false;
  bool fin_ = false;
  std::uint8_t opcode_ = 0;
  unsigned char mask_[4] = {};
  std::size_t mask_pos_ = 0;
  std::uint64_t remaining_ = 0;

  // The message being assembled (data frames) and a control frame's payload.
  bool in_message_ = false;
  bool message_binary_ = false;
  std::uint64_t message_size_ = 0;
  bool clear_msg_ = false;  // msg_ was handed out: cleared on the next call
  std::string msg_;
  std::string ctrl_;
};

}  // namespace office::net::detail

// Fuzzes the WebSocket frame reader (what clients send after the handshake):
// any bytes, cut into reads at sizes the input picks, must give events that
// keep the reader's promises and never crash or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "net/detail/ws_frame.hpp"

using office::net::detail::valid_utf8;
using office::net::detail::WsEvent;
using office::net::detail::WsFrameReader;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = 1 + data[0] % 64;  // read sizes
  const std::size_t max_message = 16 + data[1] * 64u;
  std::string bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  WsFrameReader reader(max_message);
  bool ended = false;
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t n = std::min(chunk, bytes.size() - at);
    char* p = bytes.data() + at;
    char* end = p + n;
    while (true) {
      WsEvent e = reader.next(p, end);
      if (e.kind == WsEvent::Kind::kNeedMore) break;
      if (ended) std::abort();  // nothing after a close or a failure
      switch (e.kind) {
        case WsEvent::Kind::kMessage:
          if (e.payload.size() > max_message) std::abort();
          if (!e.binary && !valid_utf8(e.payload)) std::abort();
          break;
        case WsEvent::Kind::kPing:
        case WsEvent::Kind::kPong:
          if (e.payload.size() > 125) std::abort();
          break;
        case WsEvent::Kind::kClose:
        case WsEvent::Kind::kFail:
          if (e.kind == WsEvent::Kind::kFail && e.code != 1002 && e.code != 1007 && e.code != 1009)
            std::abort();
          ended = true;
          break;
        default:
          break;
      }
    }
    if (p != end) std::abort();  // every byte given is consumed
    if (reader.buffer_capacity() > 2 * max_message + 64) std::abort();
    at += n;
  }
  return 0;
}

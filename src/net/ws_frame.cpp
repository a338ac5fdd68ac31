#include "net/detail/ws_frame.hpp"

#include "net/websocket.hpp"

#include <algorithm>
#include <cstring>

namespace office::net::detail {

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // ASCII runs eight bytes at a time.
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if (w & 0x8080808080808080ULL) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlong forms
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;  // no overlong forms
      if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i < n; ++i)
      if ((p[i] & 0xC0) != 0x80) return false;
    p += n;
  }
  return true;
}

std::size_t write_frame_header(unsigned char* out, WsOpcode op, std::uint64_t payload_size) {
  out[0] = static_cast<unsigned char>(0x80 | static_cast<unsigned>(op));
  if (payload_size < 126) {
    out[1] = static_cast<unsigned char>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<unsigned char>(payload_size >> 8);
    out[3] = static_cast<unsigned char>(payload_size);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<unsigned char>(payload_size >> (56 - 8 * i));
  return 10;
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::size_t n = std::min<std::size_t>(reason.size(), 123);
  // Cut before a continuation byte, so the reason stays valid UTF-8.
  while (n > 0 && n < reason.size() && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  std::string out;
  out.reserve(2 + n);
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason.substr(0, n));
  return out;
}

namespace {

bool valid_close_code(std::uint16_t c) {
  if (c >= 3000 && c <= 4999) return true;
  if (c < 1000 || c > 1014) return false;
  return c != 1004 && c != 1005 && c != 1006;
}

}  // namespace

void WsFrameReader::shrink(std::size_t keep) {
  if (!in_message_ && msg_.capacity() > keep) std::string().swap(msg_);
}

void WsFrameReader::unmask(char* p, std::size_t n) {
  std::size_t i = 0;
  if (n >= 16) {
    unsigned char m8[8];
    for (std::size_t k = 0; k < 8; ++k) m8[k] = mask_[(mask_pos_ + k) & 3];
    std::uint64_t m;
    std::memcpy(&m, m8, 8);
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      w ^= m;
      std::memcpy(p + i, &w, 8);
    }
  }
  for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ mask_[(mask_pos_ + i) & 3]);
  mask_pos_ = (mask_pos_ + n) & 3;
}

WsEvent WsFrameReader::control(std::string_view payload) {
  WsEvent e;
  e.payload = payload;
  switch (static_cast<WsOpcode>(opcode_)) {
    case WsOpcode::kPing:
      e.kind = WsEvent::Kind::kPing;
      return e;
    case WsOpcode::kPong:
      e.kind = WsEvent::Kind::kPong;
      return e;
    default:
      break;
  }
  // Close.
  if (payload.size() == 1) return fail(1002, "close frame with a one-byte payload");
  e.kind = WsEvent::Kind::kClose;
  e.code = 1005;
  if (payload.size() >= 2) {
    e.code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                        static_cast<unsigned char>(payload[1]));
    if (!valid_close_code(e.code)) return fail(1002, "invalid close code");
    e.payload = payload.substr(2);
    if (!valid_utf8(e.payload)) return fail(1007, "close reason is not UTF-8");
  }
  done_ = true;
  return e;
}

WsEvent WsFrameReader::frame_done(std::string_view payload) {
  if (opcode_ & 0x8) return control(payload);
  WsEvent none;
  if (!fin_) return none;  // more fragments follow
  in_message_ = false;
  if (discard_) return none;
  clear_msg_ = true;
  WsEvent e;
  e.kind = WsEvent::Kind::kMessage;
  e.binary = message_binary_;
  e.payload = payload;
  if (!e.binary && !valid_utf8(payload)) return fail(1007, "text message is not UTF-8");
  return e;
}

WsEvent WsFrameReader::next(char*& p, char* end) {
  if (clear_msg_) {
    msg_.clear();
    clear_msg_ = false;
  }
  while (!done_) {
    if (!in_payload_) {
      // The header: 2 bytes, the extended length, the mask.
      while (hdr_have_ < 2 && p < end) hdr_[hdr_have_++] = static_cast<unsigned char>(*p++);
      if (hdr_have_ < 2) return {};
      const std::uint8_t len7 = hdr_[1] & 0x7F;
      if ((hdr_[1] & 0x80) == 0) return fail(1002, "client frames must be masked");
      const std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
      while (hdr_have_ < need && p < end) hdr_[hdr_have_++] = static_cast<unsigned char>(*p++);
      if (hdr_have_ < need) return {};
      hdr_have_ = 0;

      if (hdr_[0] & 0x70) return fail(1002, "reserved bits set (no extension was negotiated)");
      fin_ = (hdr_[0] & 0x80) != 0;
      opcode_ = hdr_[0] & 0x0F;
      std::uint64_t len = len7;
      std::size_t at = 2;
      if (len7 == 126) {
        len = (std::uint64_t{hdr_[2]} << 8) | hdr_[3];
        if (len < 126) return fail(1002, "frame length not minimally encoded");
        at = 4;
      } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | hdr_[2 + i];
        if (len >> 63) return fail(1002, "frame length out of range");
        if (len <= 0xFFFF) return fail(1002, "frame length not minimally encoded");
        at = 10;
      }
      std::memcpy(mask_, hdr_ + at, 4);
      mask_pos_ = 0;

      if (opcode_ & 0x8) {
        if (opcode_ > 0xA) return fail(1002, "unknown opcode");
        if (!fin_) return fail(1002, "fragmented control frame");
        if (len > 125) return fail(1002, "control frame longer than 125 bytes");
        ctrl_.clear();
      } else if (opcode_ == 0) {
        if (!in_message_) return fail(1002, "continuation frame without a message");
      } else if (opcode_ <= 2) {
        if (in_message_) return fail(1002, "new message before the last one ended");
        in_message_ = true;
        message_binary_ = opcode_ == 2;
        message_size_ = 0;
      } else {
        return fail(1002, "unknown opcode");
      }
      if (!(opcode_ & 0x8) && !discard_) {
        if (len > max_message_ || message_size_ > max_message_ - len)
          return fail(1009, "message too big");
        message_size_ += len;
      }
      remaining_ = len;
      in_payload_ = true;
    }

    // The payload.
    const bool is_control = (opcode_ & 0x8) != 0;
    if (remaining_ > 0) {
      const auto avail = static_cast<std::size_t>(
          std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(end - p)));
      if (avail == 0) return {};
      if (!is_control && !discard_ && fin_ && opcode_ != 0 && avail == remaining_ && msg_.empty()) {
        // A whole single-frame message in the input: unmasked in place, no copy.
        char* start = p;
        unmask(start, avail);
        p += avail;
        remaining_ = 0;
        in_payload_ = false;
        WsEvent e = frame_done(std::string_view(start, avail));
        if (e.kind != WsEvent::Kind::kNeedMore) return e;
        continue;
      }
      if (is_control) {
        unmask(p, avail);
        ctrl_.append(p, avail);
      } else if (!discard_) {
        unmask(p, avail);
        if (msg_.capacity() < message_size_) msg_.reserve(message_size_);
        msg_.append(p, avail);
      }
      p += avail;
      remaining_ -= avail;
      if (remaining_ > 0) return {};
    }
    in_payload_ = false;
    WsEvent e = frame_done(is_control ? std::string_view(ctrl_) : std::string_view(msg_));
    if (e.kind != WsEvent::Kind::kNeedMore) return e;
  }
  p = end;  // after a close or a failure nothing more is read
  return {};
}

}  // namespace office::net::detail

namespace office::net {

SharedMessage SharedMessage::frames(std::span<const std::string_view> texts) {
  if (texts.empty()) return {};
  std::size_t total = 0;
  for (auto t : texts) total += detail::frame_header_size(t.size()) + t.size();
  std::string out;
  out.resize(total);
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  for (auto t : texts) {
    p += detail::write_frame_header(p, detail::WsOpcode::kText, t.size());
    if (!t.empty()) std::memcpy(p, t.data(), t.size());
    p += t.size();
  }
  SharedMessage m;
  m.body_ = std::make_shared<Body>(std::move(out), static_cast<std::uint32_t>(texts.size()));
  return m;
}

}  // namespace office::net

#include "net/detail/ws_frame.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace office::net::detail {
namespace {

// A client frame: b0 is FIN/RSV/opcode; masked with `key` unless `masked` is false.
std::string frame(unsigned b0, const std::string& payload, bool masked = true,
                  std::uint32_t key = 0x37fa213d) {
  std::string out;
  out.push_back(static_cast<char>(b0));
  const unsigned m = masked ? 0x80 : 0;
  const std::uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(m | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(m | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(m | 127));
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(n >> (56 - 8 * i)));
  }
  unsigned char k[4] = {static_cast<unsigned char>(key >> 24),
                        static_cast<unsigned char>(key >> 16), static_cast<unsigned char>(key >> 8),
                        static_cast<unsigned char>(key)};
  if (masked) out.append(reinterpret_cast<char*>(k), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out.push_back(masked ? static_cast<char>(payload[i] ^ k[i & 3]) : payload[i]);
  return out;
}

struct Seen {
  WsEvent::Kind kind;
  bool binary;
  std::uint16_t code;
  std::string payload;
  std::string reason;
};

// Feeds `bytes` in pieces of `chunk` bytes (0: all at once) and collects events.
std::vector<Seen> feed(WsFrameReader& r, std::string bytes, std::size_t chunk = 0) {
  std::vector<Seen> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::size_t n = chunk == 0 ? bytes.size() - at : std::min(chunk, bytes.size() - at);
    char* p = bytes.data() + at;
    char* end = p + n;
    while (true) {
      WsEvent e = r.next(p, end);
      if (e.kind == WsEvent::Kind::kNeedMore) break;
      out.push_back({e.kind, e.binary, e.code, std::string(e.payload), e.reason});
    }
    EXPECT_EQ(p, end);
    at += n;
  }
  return out;
}

std::uint16_t fail_code(const std::string& bytes, std::size_t max = 1 << 20) {
  WsFrameReader r(max);
  auto seen = feed(r, bytes);
  for (auto& s : seen)
    if (s.kind == WsEvent::Kind::kFail) return s.code;
  return 0;
}

TEST(WsFrameReader, OneMaskedTextFrame) {
  WsFrameReader r(1024);
  auto seen = feed(r, frame(0x81, "hello"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, WsEvent::Kind::kMessage);
  EXPECT_FALSE(seen[0].binary);
  EXPECT_EQ(seen[0].payload, "hello");
}

TEST(WsFrameReader, FragmentsAndPingsInBetweenByteByByte) {
  WsFrameReader r(1024);
  std::string bytes = frame(0x01, "{\"a\":") + frame(0x89, "p1") + frame(0x00, "\"op\",") +
                      frame(0x80, "\"d\":\"😀文\"}") + frame(0x81, "second");
  auto seen = feed(r, bytes, 1);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].kind, WsEvent::Kind::kPing);
  EXPECT_EQ(seen[0].payload, "p1");
  EXPECT_EQ(seen[1].kind, WsEvent::Kind::kMessage);
  EXPECT_EQ(seen[1].payload, "{\"a\":\"op\",\"d\":\"😀文\"}");
  EXPECT_EQ(seen[2].payload, "second");
}

TEST(WsFrameReader, LengthsOfEveryEncoding) {
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u, 100000u}) {
    WsFrameReader r(1 << 20);
    std::string text(n, 'x');
    for (std::size_t chunk : {0u, 7u, 4096u}) {
      auto seen = feed(r, frame(0x81, text), chunk);
      ASSERT_EQ(seen.size(), 1u) << n;
      EXPECT_EQ(seen[0].payload.size(), n);
      EXPECT_EQ(seen[0].payload, text);
    }
  }
}

TEST(WsFrameReader, BinaryIsReportedAsBinary) {
  WsFrameReader r(1024);
  auto seen = feed(r, frame(0x82, std::string("\x01\xff", 2)));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].binary);
}

TEST(WsFrameReader, ProtocolErrorsFailWith1002) {
  EXPECT_EQ(fail_code(frame(0x81, "x", /*masked=*/false)), 1002);       // unmasked
  EXPECT_EQ(fail_code(frame(0xC1, "x")), 1002);                         // RSV1 (no deflate)
  EXPECT_EQ(fail_code(frame(0x83, "x")), 1002);                         // opcode 3
  EXPECT_EQ(fail_code(frame(0x8B, "x")), 1002);                         // opcode 0xB
  EXPECT_EQ(fail_code(frame(0x80, "x")), 1002);                         // continuation first
  EXPECT_EQ(fail_code(frame(0x01, "a") + frame(0x81, "b")), 1002);      // new message mid-way
  EXPECT_EQ(fail_code(frame(0x09, "p")), 1002);                         // fragmented ping
  EXPECT_EQ(fail_code(frame(0x89, std::string(126, 'p'))), 1002);       // ping over 125 bytes
  EXPECT_EQ(fail_code(frame(0x88, "x")), 1002);                         // one-byte close payload
  EXPECT_EQ(fail_code(frame(0x88, std::string("\x03\xed", 2))), 1002);  // close code 1005
  EXPECT_EQ(fail_code(frame(0x88, std::string("\x03\xe7", 2))), 1002);  // close code 999
  // 16-bit length carrying a value that fits in 7 bits.
  std::string short_as_long = {'\x81', static_cast<char>(0x80 | 126), 0, 5, 1, 2, 3, 4};
  short_as_long += "abcde";
  EXPECT_EQ(fail_code(short_as_long), 1002);
  // 64-bit length with the top bit set.
  std::string huge = {'\x81', static_cast<char>(0x80 | 127), '\x80', 0, 0, 0, 0, 0, 0, 0, 1, 2, 3,
                      4};
  EXPECT_EQ(fail_code(huge), 1002);
}

TEST(WsFrameReader, TooBigFailsWith1009FromTheHeaderAlone) {
  // Only the header is given: the reader does not wait for (or buffer) the payload.
  std::string header = frame(0x81, std::string(5000, 'x')).substr(0, 8);
  EXPECT_EQ(fail_code(header, 4096), 1009);
  // The limit is on the message, across fragments.
  EXPECT_EQ(
      fail_code(frame(0x01, std::string(3000, 'a')) + frame(0x80, std::string(1200, 'b')), 4096),
      1009);
  EXPECT_EQ(fail_code(frame(0x81, std::string(4096, 'x')), 4096), 0);
}

TEST(WsFrameReader, InvalidUtf8FailsWith1007) {
  EXPECT_EQ(fail_code(frame(0x81, "\xc0\x80")), 1007);                      // overlong NUL
  EXPECT_EQ(fail_code(frame(0x81, "\xed\xa0\x80")), 1007);                  // a lone surrogate
  EXPECT_EQ(fail_code(frame(0x81, "\xf4\x90\x80\x80")), 1007);              // above U+10FFFF
  EXPECT_EQ(fail_code(frame(0x81, "abc\xe6\x96")), 1007);                   // cut short
  EXPECT_EQ(fail_code(frame(0x88, std::string("\x03\xe8\xff", 3))), 1007);  // close reason
  // A code point split between fragments is fine.
  WsFrameReader r(1024);
  auto seen = feed(r, frame(0x01, "\xf0\x9f") + frame(0x80, "\x98\x80"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, WsEvent::Kind::kMessage);
  EXPECT_EQ(seen[0].payload, "😀");
}

TEST(WsFrameReader, CloseCarriesCodeAndReasonAndEndsParsing) {
  WsFrameReader r(1024);
  auto seen = feed(r, frame(0x88, close_payload(4401, "signed out")) + frame(0x81, "after"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, WsEvent::Kind::kClose);
  EXPECT_EQ(seen[0].code, 4401);
  EXPECT_EQ(seen[0].payload, "signed out");

  WsFrameReader empty(1024);
  auto none = feed(empty, frame(0x88, ""));
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].code, 1005);  // no status code
}

TEST(WsFrameReader, DiscardDropsDataButStillFindsTheClose) {
  WsFrameReader r(16);
  r.discard_data();
  // Larger than the limit, fragmented: dropped, not failed.
  auto seen = feed(
      r,
      frame(0x01, std::string(100, 'a')) + frame(0x80, "b") + frame(0x88, close_payload(1000, "")),
      3);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, WsEvent::Kind::kClose);
  EXPECT_EQ(seen[0].code, 1000);
  EXPECT_EQ(r.buffer_capacity() <= 16u, true);
}

// Random messages, random fragmentation, random read sizes: what comes out is
// what went in, in order.
TEST(WsFrameReader, RandomFramingRoundTrips) {
  std::mt19937 rng(20261129);
  const std::string alphabet[] = {"a", "Z", "{", "\"", "é", "文", "😀", " "};
  for (int run = 0; run < 200; ++run) {
    std::vector<std::string> messages;
    std::string bytes;
    const int count = 1 + static_cast<int>(rng() % 6);
    for (int m = 0; m < count; ++m) {
      std::string text;
      const std::size_t len = rng() % 300;
      for (std::size_t i = 0; i < len; ++i) text += alphabet[rng() % 8];
      messages.push_back(text);
      // Split at byte positions (a code point may straddle fragments).
      std::size_t at = 0;
      bool first = true;
      do {
        std::size_t n = std::min<std::size_t>(text.size() - at, 1 + rng() % 200);
        if (text.empty()) n = 0;
        const bool fin = at + n == text.size();
        bytes += frame((fin ? 0x80 : 0) | (first ? 0x1 : 0x0), text.substr(at, n), true,
                       static_cast<std::uint32_t>(rng()));
        if (rng() % 4 == 0) bytes += frame(0x89, "k", true, static_cast<std::uint32_t>(rng()));
        at += n;
        first = false;
      } while (at < text.size());
    }
    WsFrameReader r(1 << 20);
    auto seen = feed(r, bytes, 1 + rng() % 64);
    std::vector<std::string> got;
    for (auto& s : seen) {
      ASSERT_NE(s.kind, WsEvent::Kind::kFail) << s.reason;
      if (s.kind == WsEvent::Kind::kMessage) got.push_back(s.payload);
    }
    EXPECT_EQ(got, messages);
  }
}

TEST(WsFrameWriter, HeaderSizesAndClosePayload) {
  unsigned char h[kMaxServerHeader];
  EXPECT_EQ(write_frame_header(h, WsOpcode::kText, 0), 2u);
  EXPECT_EQ(h[0], 0x81);
  EXPECT_EQ(h[1], 0);
  EXPECT_EQ(write_frame_header(h, WsOpcode::kText, 125), 2u);
  EXPECT_EQ(write_frame_header(h, WsOpcode::kPong, 126), 4u);
  EXPECT_EQ(h[0], 0x8A);
  EXPECT_EQ(h[1], 126);
  EXPECT_EQ(h[2], 0);
  EXPECT_EQ(h[3], 126);
  EXPECT_EQ(write_frame_header(h, WsOpcode::kText, 65535), 4u);
  EXPECT_EQ(write_frame_header(h, WsOpcode::kText, 65536), 10u);
  EXPECT_EQ(h[1], 127);
  EXPECT_EQ(h[7], 1);  // 0x0000000000010000
  EXPECT_EQ(h[8], 0);

  std::string p = close_payload(1000, std::string(122, 'r') + "é");  // 124 bytes of reason
  EXPECT_EQ(p.size(), 2u + 122u);  // cut before the é, not inside it
  EXPECT_TRUE(valid_utf8(p.substr(2)));
  EXPECT_EQ(static_cast<unsigned char>(p[0]), 0x03);
  EXPECT_EQ(static_cast<unsigned char>(p[1]), 0xE8);
}

TEST(WsFrameUtf8, AcceptsAndRejects) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii that is longer than eight bytes"));
  EXPECT_TRUE(valid_utf8("日本語 😀 \xf4\x8f\xbf\xbf"));
  EXPECT_FALSE(valid_utf8("\x80"));
  EXPECT_FALSE(valid_utf8("\xe0\x80\x80"));      // overlong
  EXPECT_FALSE(valid_utf8("\xf0\x80\x80\x80"));  // overlong
  EXPECT_FALSE(valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(valid_utf8("abcdefgh\xff"));
}

}  // namespace
}  // namespace office::net::detail

#include "core/trace.hpp"

#include "core/hex.hpp"
#include "core/random.hpp"

namespace office {

namespace {
template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& a) {
  for (auto b : a)
    if (b != 0) return false;
  return true;
}
}  // namespace

std::optional<TraceContext> TraceContext::parse(std::string_view h) {
  // version(2) - trace-id(32) - parent-id(16) - flags(2) = 55 characters.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  std::array<std::uint8_t, 1> version{};
  if (!from_hex(h.substr(0, 2), version, true) || version[0] == 0xff) return std::nullopt;
  // Version 00 has exactly 55 characters; later versions may append "-..." fields.
  if (version[0] == 0 && h.size() != 55) return std::nullopt;
  if (h.size() > 55 && h[55] != '-') return std::nullopt;
  TraceContext t;
  std::array<std::uint8_t, 1> flags{};
  if (!from_hex(h.substr(3, 32), t.trace_id, true) ||
      !from_hex(h.substr(36, 16), t.span_id, true) || !from_hex(h.substr(53, 2), flags, true))
    return std::nullopt;
  if (all_zero(t.trace_id) || all_zero(t.span_id)) return std::nullopt;
  t.flags = flags[0];
  return t;
}

TraceContext TraceContext::generate() {
  TraceContext t;
  do {
    std::uint64_t a = fast_random_u64(), b = fast_random_u64();
    for (int i = 0; i < 8; ++i) {
      t.trace_id[i] = static_cast<std::uint8_t>(a >> (8 * i));
      t.trace_id[8 + i] = static_cast<std::uint8_t>(b >> (8 * i));
    }
  } while (all_zero(t.trace_id));
  t.flags = 1;
  return t.child();
}

TraceContext TraceContext::child() const {
  TraceContext t = *this;
  do {
    std::uint64_t a = fast_random_u64();
    for (int i = 0; i < 8; ++i) t.span_id[i] = static_cast<std::uint8_t>(a >> (8 * i));
  } while (all_zero(t.span_id));
  return t;
}

std::string TraceContext::trace_id_hex() const { return to_hex(trace_id); }
std::string TraceContext::span_id_hex() const { return to_hex(span_id); }

void TraceContext::write_trace_id_hex(char* out) const { write_hex(trace_id, out); }

void TraceContext::write_header(char* out) const {
  *out++ = '0';
  *out++ = '0';
  *out++ = '-';
  out = write_hex(trace_id, out);
  *out++ = '-';
  out = write_hex(span_id, out);
  *out++ = '-';
  const std::array<std::uint8_t, 1> f{flags};
  write_hex(f, out);
}

std::string TraceContext::to_header() const {
  std::string s(kHeaderSize, '\0');
  write_header(s.data());
  return s;
}

}  // namespace office

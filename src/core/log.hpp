#pragma once

#include <spdlog/spdlog.h>

#include <memory>

#include <string>
#include <string_view>

namespace office::log {

struct Options {
  std::string level = "info";   ///< trace, debug, info, warn, error, off
  std::string format = "json";  ///< "json" (one object per line) or "text"
};

/// Installs the process-wide logger (stderr, through a BufferedFdSink). Call
/// once at start-up; until then spdlog's default logger is used. Not
/// thread-safe against concurrent logging.
void init(const Options& options);

/// Writes out what is buffered and stops the writer thread (end of main()).
void shutdown();

/// Marks every log line written by this thread, while alive, with the trace id
/// (W3C trace context) of the request being served. Nestable; restores the
/// previous id on destruction. Not movable.
class ScopedTrace {
 public:
  explicit ScopedTrace(std::string_view trace_id);
  ~ScopedTrace();
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;

 private:
  std::string previous_;
};

/// The trace id marked on this thread, or empty.
const std::string& current_trace_id();

/// The formatter init() installs for format "json" (exposed for tests and extra sinks).
std::unique_ptr<spdlog::formatter> make_json_formatter();
/// The formatter init() installs for format "text": one line per message; control
/// characters in the message are escaped (\xHH), so no message can forge a line
/// (backslashes are left alone: lines that used Escaped are not escaped twice).
std::unique_ptr<spdlog::formatter> make_text_formatter();

/// Request data (paths, header values, anything a client chose) for a log line:
/// `spdlog::info("{} {}", method, log::Escaped{path})`. Formats the bytes with
/// control characters (0x00-0x1f, 0x7f) as \xHH and '\' as "\\", without
/// allocating, so a decoded "%0A" in a path cannot end the line and start a
/// forged one, whatever the log format.
struct Escaped {
  std::string_view text;
};

/// Appends s to out escaped as Escaped describes.
void append_escaped_controls(std::string& out, std::string_view s);

/// Appends s to out as the body of a JSON string (without quotes), escaped.
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace office::log

namespace office::log::detail {
/// Writes text to out with control characters (0x00-0x1f, 0x7f) as \xHH and,
/// if escape_backslash, a backslash as two. No allocation.
template <class Out>
Out write_escaped(Out out, std::string_view text, bool escape_backslash) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f && (u != '\\' || !escape_backslash)) [[likely]] {
      *out++ = c;
    } else if (u == '\\') {
      *out++ = '\\';
      *out++ = '\\';
    } else {
      *out++ = '\\';
      *out++ = 'x';
      *out++ = kHex[u >> 4];
      *out++ = kHex[u & 15];
    }
  }
  return out;
}
}  // namespace office::log::detail

template <>
struct fmt::formatter<office::log::Escaped> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const office::log::Escaped& e, FormatContext& ctx) const -> decltype(ctx.out()) {
    return office::log::detail::write_escaped(ctx.out(), e.text, /*escape_backslash=*/true);
  }
};

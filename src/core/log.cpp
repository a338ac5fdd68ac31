#include "core/log.hpp"

#include "core/log_sink.hpp"

#include <spdlog/pattern_formatter.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace office::log {

namespace {
thread_local std::string t_trace_id;

// One JSON object per line: {"ts","level","msg","trace_id"?,"thread"}.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    // Reused per formatter (spdlog formats under the sink's lock): no
    // allocation per line once warm, and the date is formatted once a second.
    std::string& line = line_;
    line.clear();
    line += "{\"ts\":\"";
    auto secs = std::chrono::time_point_cast<std::chrono::seconds>(msg.time);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time - secs).count();
    if (secs != cached_second_) {
      std::time_t tt = std::chrono::system_clock::to_time_t(secs);
      std::tm tm{};
      gmtime_r(&tt, &tm);
      char buf[64];
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
      cached_prefix_ = buf;
      cached_second_ = secs;
    }
    line += cached_prefix_;
    line += static_cast<char>('0' + ms / 100);
    line += static_cast<char>('0' + ms / 10 % 10);
    line += static_cast<char>('0' + ms % 10);
    line += "Z\",\"level\":\"";
    auto lv = spdlog::level::to_string_view(msg.level);
    line.append(lv.data(), lv.size());
    line += "\",\"msg\":\"";
    append_json_escaped(line, std::string_view(msg.payload.data(), msg.payload.size()));
    line += '"';
    if (!t_trace_id.empty()) {
      line += ",\"trace_id\":\"";
      line += t_trace_id;
      line += '"';
    }
    line += ",\"thread\":";
    line += std::to_string(msg.thread_id);
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }

 private:
  std::string line_;
  std::string cached_prefix_;
  std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds> cached_second_{};
};

// The message with control characters escaped (%v would copy a '\n' from
// request data into the line as it is).
class EscapedMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    detail::write_escaped(std::back_inserter(dest),
                          std::string_view(msg.payload.data(), msg.payload.size()),
                          /*escape_backslash=*/false);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<EscapedMessageFlag>();
  }
};

class TraceFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (!t_trace_id.empty()) {
      dest.append(std::string_view(" trace="));
      dest.append(std::string_view(t_trace_id));
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<TraceFlag>();
  }
};
}  // namespace

void init(const Options& options) {
  auto sink = std::make_shared<BufferedFdSink>(STDERR_FILENO);
  sink->set_formatter(options.format == "json" ? make_json_formatter() : make_text_formatter());
  auto logger = std::make_shared<spdlog::logger>("office", std::move(sink));
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

void shutdown() { spdlog::shutdown(); }

std::unique_ptr<spdlog::formatter> make_json_formatter() {
  return std::make_unique<JsonFormatter>();
}

std::unique_ptr<spdlog::formatter> make_text_formatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<TraceFlag>('*').add_flag<EscapedMessageFlag>('&').set_pattern(
      "%Y-%m-%dT%H:%M:%S.%e %^%l%$%* %&");
  return f;
}

void append_escaped_controls(std::string& out, std::string_view s) {
  detail::write_escaped(std::back_inserter(out), s, /*escape_backslash=*/true);
}

// Copies instead of moves: t_trace_id keeps its capacity, so a request's
// scope allocates nothing once the thread has served one.
ScopedTrace::ScopedTrace(std::string_view trace_id) : previous_(t_trace_id) {
  t_trace_id.assign(trace_id);
}
ScopedTrace::~ScopedTrace() { t_trace_id.assign(previous_); }

const std::string& current_trace_id() { return t_trace_id; }

namespace {
// 1 for the bytes a JSON string must escape: '"', '\\' and controls.
constexpr std::array<std::uint8_t, 256> kNeedsEscape = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 1;
  t['"'] = 1;
  t['\\'] = 1;
  return t;
}();
}  // namespace

// Appends runs of plain bytes at once (log messages and profile fields rarely
// need escaping; this runs on every request).
void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* const data = s.data();
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(data[i]);
    if (kNeedsEscape[u] == 0) [[likely]] {
      continue;
    }
    out.append(data + start, i - start);
    start = i + 1;
    switch (u) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
        out.append(esc, sizeof esc);
      }
    }
  }
  out.append(data + start, s.size() - start);
}

}  // namespace office::log

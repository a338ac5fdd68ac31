#include "core/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
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
  auto logger =
      std::make_shared<spdlog::logger>("office", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (options.format == "json") {
    logger->set_formatter(make_json_formatter());
  } else {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<TraceFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$%* %v");
    logger->set_formatter(std::move(f));
  }
  logger->set_level(spdlog::level::from_str(options.level));
  // stderr is unbuffered: one write(2) per line would cost more than serving an
  // access-logged request. Buffer it, flush at least once a second, and at
  // once for warnings and errors (the lines that matter after a crash).
  static char buffer[1 << 16];
  std::setvbuf(stderr, buffer, _IOFBF, sizeof buffer);
  logger->flush_on(spdlog::level::warn);
  spdlog::flush_every(std::chrono::seconds(1));
  spdlog::set_default_logger(std::move(logger));
}

std::unique_ptr<spdlog::formatter> make_json_formatter() {
  return std::make_unique<JsonFormatter>();
}

ScopedTrace::ScopedTrace(std::string trace_id) : previous_(std::move(t_trace_id)) {
  t_trace_id = std::move(trace_id);
}
ScopedTrace::~ScopedTrace() { t_trace_id = std::move(previous_); }

const std::string& current_trace_id() { return t_trace_id; }

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
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
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 15];
        } else {
          out += c;
        }
    }
  }
}

}  // namespace office::log

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

/// Appends s to out as the body of a JSON string (without quotes), escaped.
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace office::log

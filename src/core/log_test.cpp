#include "core/log.hpp"
#include "core/log_sink.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <thread>

namespace office::log {
namespace {

TEST(Log, JsonEscaping) {
  std::string out;
  append_json_escaped(out, "a\"b\\c\n\x01");
  EXPECT_EQ(out, "a\\\"b\\\\c\\n\\u0001");
}

TEST(Log, JsonLinesCarryTraceId) {
  std::ostringstream os;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(os);
  sink->set_formatter(make_json_formatter());
  spdlog::logger logger("t", sink);
  logger.info("hello \"{}\"", "world");
  {
    ScopedTrace t("4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(current_trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    logger.warn("inside");
  }
  EXPECT_EQ(current_trace_id(), "");
  std::istringstream lines(os.str());
  std::string l1, l2;
  std::getline(lines, l1);
  std::getline(lines, l2);
  auto j1 = nlohmann::json::parse(l1);
  auto j2 = nlohmann::json::parse(l2);
  EXPECT_EQ(j1["msg"], "hello \"world\"");
  EXPECT_EQ(j1["level"], "info");
  EXPECT_FALSE(j1.contains("trace_id"));
  EXPECT_EQ(j2["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(j2["level"], "warning");
  EXPECT_EQ(j1["ts"].get<std::string>().size(), 24u);
}

// A client-chosen "%0A" decodes to a newline in the path; logged as it is it
// would end the line and start a forged one.
TEST(Log, RequestDataCannotForgeLinesInEitherFormat) {
  const std::string path = "/x\n2026-01-01T00:00:00.000 info GET /admin 200 1us\r\x1b[2J\\";
  for (bool json : {false, true}) {
    std::ostringstream os;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(os);
    sink->set_formatter(json ? make_json_formatter() : make_text_formatter());
    spdlog::logger logger("t", sink);
    logger.info("GET {} 404", Escaped{path});  // what the server writes
    logger.info("raw {}", path);               // a careless line: the formatter still escapes
    const std::string out = os.str();
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
    EXPECT_EQ(out.find('\r'), std::string::npos) << out;
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
    std::istringstream lines(out);
    std::string first;
    std::getline(lines, first);
    std::string msg = first;
    if (json) msg = nlohmann::json::parse(first)["msg"].get<std::string>();
    EXPECT_NE(
        msg.find("GET /x\\x0a2026-01-01T00:00:00.000 info GET /admin 200 1us\\x0d\\x1b[2J\\\\ 404"),
        std::string::npos)
        << msg;
  }
  std::string appended;
  append_escaped_controls(appended, std::string_view("a\0b\x7f", 4));
  EXPECT_EQ(appended, "a\\x00b\\x7f");
}

// Reads everything from fd until EOF.
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

std::vector<nlohmann::json> parse_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) out.push_back(nlohmann::json::parse(l));
  return out;
}

TEST(BufferedFdSink, WritesEveryLineInOrderOnFlushAndDestruction) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string got;
  std::thread reader([&] { got = read_all(fds[0]); });
  {
    auto sink = std::make_shared<BufferedFdSink>(
        fds[1],
        BufferedFdSink::Limits{
            .wake_bytes = 256, .max_bytes = 1 << 20, .interval = std::chrono::milliseconds(5)});
    spdlog::logger logger("t", sink);
    for (int i = 0; i < 500; ++i) logger.info("line {}", i);
    logger.flush();
    for (int i = 500; i < 1000; ++i) logger.info("line {}", i);
  }  // the destructor writes the rest
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  auto lines = parse_lines(got);
  ASSERT_EQ(lines.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(lines[i]["msg"], "line " + std::to_string(i));
}

TEST(BufferedFdSink, WriterWakesWithoutFlush) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto sink = std::make_shared<BufferedFdSink>(
      fds[1],
      BufferedFdSink::Limits{
          .wake_bytes = 1 << 20, .max_bytes = 1 << 20, .interval = std::chrono::milliseconds(10)});
  spdlog::logger logger("t", sink);
  logger.info("periodic");
  // Below wake_bytes and never flushed: the interval alone must write it.
  char buf[256];
  ssize_t n = ::read(fds[0], buf, sizeof buf);  // blocks until the writer writes
  ASSERT_GT(n, 0);
  EXPECT_NE(std::string(buf, static_cast<std::size_t>(n)).find("periodic"), std::string::npos);
  ::close(fds[0]);
  ::close(fds[1]);
}

// A reader that stops reading must not block the logging threads or grow
// memory without bound: lines beyond max_bytes are dropped and reported.
TEST(BufferedFdSink, SlowOutputDropsAndReportsInsteadOfBlocking) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_GE(::fcntl(fds[1], F_SETPIPE_SZ, 4096), 0);
  constexpr int kLines = 20000;
  auto sink = std::make_shared<BufferedFdSink>(
      fds[1],
      BufferedFdSink::Limits{
          .wake_bytes = 1024, .max_bytes = 64 * 1024, .interval = std::chrono::milliseconds(1)});
  auto logger = std::make_unique<spdlog::logger>("t", sink);
  logger->flush_on(spdlog::level::warn);
  // Nobody reads: the writer blocks in write(2) on the full pipe; log() and
  // a warning's flush() must not (a hang here fails the test by timeout).
  for (int i = 0; i < kLines; ++i) {
    if (i == kLines / 2) {
      logger->warn("line {}", i);
    } else {
      logger->info("line {}", i);
    }
  }
  const std::uint64_t dropped = sink->dropped();
  EXPECT_GT(dropped, 0u);
  std::string got;
  std::thread reader([&] { got = read_all(fds[0]); });
  logger.reset();
  sink.reset();  // joins the writer, writes the rest and the drop report
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  auto lines = parse_lines(got);
  std::uint64_t reported = 0;
  std::size_t kept = 0;
  int last = -1;
  for (const auto& l : lines) {
    const std::string msg = l["msg"];
    if (msg.rfind("log: dropped ", 0) == 0) {
      EXPECT_EQ(l["level"], "warning");
      reported += std::stoull(msg.substr(13));
      continue;
    }
    const int i = std::stoi(msg.substr(5));
    EXPECT_GT(i, last);  // order kept, nothing duplicated
    last = i;
    ++kept;
  }
  EXPECT_GE(reported, dropped);
  EXPECT_EQ(kept + reported, static_cast<std::size_t>(kLines));
}

}  // namespace
}  // namespace office::log

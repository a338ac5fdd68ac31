#include "core/log.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <nlohmann/json.hpp>

#include <sstream>

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

}  // namespace
}  // namespace office::log

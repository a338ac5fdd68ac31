#include "core/trace.hpp"

#include <gtest/gtest.h>

namespace office {
namespace {

TEST(TraceContext, ParsesAndFormatsSpecExample) {
  const std::string h = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto t = TraceContext::parse(h);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->span_id_hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(t->sampled());
  EXPECT_EQ(t->to_header(), h);
}

TEST(TraceContext, RejectsInvalid) {
  for (const char* bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",           // short
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero span
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version ff
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // upper case
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",        // non-hex
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // v00 trailing
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
       }) {
    EXPECT_FALSE(TraceContext::parse(bad)) << bad;
  }
}

TEST(TraceContext, FutureVersionMayCarryMoreFields) {
  EXPECT_TRUE(
      TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-whatever"));
}

TEST(TraceContext, GenerateAndChild) {
  auto a = TraceContext::generate();
  auto b = TraceContext::generate();
  EXPECT_NE(a.trace_id, b.trace_id);
  auto c = a.child();
  EXPECT_EQ(c.trace_id, a.trace_id);
  EXPECT_NE(c.span_id, a.span_id);
  auto round = TraceContext::parse(a.to_header());
  ASSERT_TRUE(round);
  EXPECT_EQ(round->trace_id, a.trace_id);
}

TEST(TraceContext, WritersMatchTheStringForms) {
  auto t = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(t);
  char header[TraceContext::kHeaderSize + 1] = {};
  t->write_header(header);
  EXPECT_EQ(std::string(header), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  char id[TraceContext::kTraceIdHexSize + 1] = {};
  t->write_trace_id_hex(id);
  EXPECT_EQ(std::string(id), t->trace_id_hex());
  EXPECT_EQ(t->to_header(), header);
}

}  // namespace
}  // namespace office

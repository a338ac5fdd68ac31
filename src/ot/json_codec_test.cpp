#include "ot/json_codec.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace office::ot {
namespace {

TEST(JsonCodec, RoundTripsTheNpmShape) {
  const char* text = R"([3,"hi 😀",{"d":2},{"d":"xy"}])";
  auto op = parse_op(text);
  ASSERT_TRUE(op.ok());
  ASSERT_EQ(op->size(), 4u);
  EXPECT_EQ((*op)[1].len, 4u);
  EXPECT_TRUE((*op)[3].has_text);
  EXPECT_EQ(dump_op(*op), text);
}

TEST(JsonCodec, AcceptsIntegralFloats) {
  auto op = parse_op(R"([2.0,"a"])");
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(dump_op(*op), R"([2,"a"])");
}

TEST(JsonCodec, RejectsNonOps) {
  for (const char* bad :
       {"{}", "3", "[true]", "[null]", "[[1]]", R"([{"x":1}])", R"([{"d":1,"x":2}])",
        R"([{"d":true}])", "[-1]", "[1.5]", R"([{"d":-2}])", "[1e300]", "[", R"(["\ud800"])"}) {
    EXPECT_FALSE(parse_op(bad).ok()) << bad;
  }
}

TEST(JsonCodec, RejectsInvalidUtf8) {
  nlohmann::json j = nlohmann::json::array({std::string("\xff\xfe")});
  EXPECT_FALSE(op_from_json(j).ok());
}

TEST(JsonCodec, EmptyComponentsDecodeForNormalize) {
  auto op = parse_op(R"([0,"",{"d":0},"a"])");
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(dump_op(normalize(*op)), R"(["a"])");
  EXPECT_FALSE(check_op(*op).ok());
}

}  // namespace
}  // namespace office::ot

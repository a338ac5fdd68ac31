#include "core/json_body.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace office {
namespace {

TEST(JsonBody, ReadsFieldsInBothSpellings) {
  auto b = JsonBody::parse(R"({"displayName":"A","page_size":"25","ok":true,"ids":["x"]})",
                           {"displayName", "pageSize", "ok", "ids"});
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(**b->opt_string("displayName"), "A");
  EXPECT_EQ(**b->opt_int("pageSize"), 25);
  EXPECT_TRUE(**b->opt_bool("ok"));
  EXPECT_EQ(b->string_list("ids")->size(), 1u);
  EXPECT_FALSE(b->opt_string("missing")->has_value());
}

TEST(JsonBody, RejectsBadInputNamingTheField) {
  EXPECT_FALSE(JsonBody::parse("{", {}).ok());
  EXPECT_FALSE(JsonBody::parse("[1]", {}).ok());
  EXPECT_FALSE(JsonBody::parse("", {}).ok());
  auto unknown = JsonBody::parse(R"({"emial":"x"})", {"email"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("emial"), std::string::npos);
  auto b =
      JsonBody::parse(R"({"email":5,"flag":"yes","n":1.5,"l":[1]})", {"email", "flag", "n", "l"});
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->opt_string("email").ok());
  EXPECT_NE(b->opt_string("email").error().message.find("email"), std::string::npos);
  EXPECT_FALSE(b->opt_bool("flag").ok());
  EXPECT_FALSE(b->opt_int("n").ok());
  EXPECT_FALSE(b->string_list("l").ok());
  auto req = b->string("absent");
  ASSERT_FALSE(req.ok());
  EXPECT_NE(req.error().message.find("required"), std::string::npos);
}

std::string nested(std::size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

TEST(ParseJson, DepthLimit) {
  EXPECT_TRUE(parse_json(nested(64)).ok());
  auto deep = parse_json(nested(65));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(deep.error().message, "JSON is nested more than 64 levels deep");
  EXPECT_TRUE(parse_json(nested(3), 3).ok());
  EXPECT_FALSE(parse_json(nested(4), 3).ok());
  // Objects count like arrays, mixed too; scalars add no depth.
  EXPECT_TRUE(parse_json(R"({"a":{"b":[1,"x",null]}})", 3).ok());
  EXPECT_FALSE(parse_json(R"({"a":{"b":[[1]]}})", 3).ok());
  EXPECT_TRUE(parse_json("5", 0).ok());
  EXPECT_FALSE(parse_json("[]", 0).ok());
  // Siblings do not add up: depth is the deepest path, not the count.
  EXPECT_TRUE(parse_json("[[1],[2],[3],{\"a\":4}]", 2).ok());
}

TEST(ParseJson, BuildsTheSameDomAsNlohmann) {
  const char* text = R"({"s":"h\u00e9","i":-5,"u":18446744073709551615,"f":1.5,"t":true,"n":null,)"
                     R"("a":[1,[2,{"k":[]}],{}],"o":{"x":{"y":"z"}},"dup":1,"dup":2})";
  auto ours = parse_json(text);
  ASSERT_TRUE(ours.ok()) << ours.error().message;
  EXPECT_EQ(*ours, nlohmann::json::parse(text));
  EXPECT_EQ((*ours)["dup"], 2);  // last duplicate wins, as in nlohmann
  EXPECT_TRUE((*ours)["u"].is_number_unsigned());
}

TEST(ParseJson, MalformedIsAnErrorNotACrash) {
  for (std::string bad : {std::string(""), std::string("{"), std::string("[1,]"),
                          std::string("{\"a\"}"), std::string("[1] x"), std::string("\"\xff\""),
                          std::string("nul"), std::string(100000, '['), std::string("[1}")}) {
    auto r = parse_json(bad);
    EXPECT_FALSE(r.ok()) << bad.substr(0, 20);
  }
  EXPECT_EQ(parse_json("[1,").error().message, "not valid JSON");
}

// The attack of issue 7: a 200 KB frame of 100,000 nested arrays. Refused
// early with a clear error; nothing recursive ever sees it.
TEST(ParseJson, ANulByteIsNotTheEndOfTheInput) {
  // nlohmann stops at a NUL and accepts what came before it (found by the
  // fuzzer: a string, NUL bytes, then 71 unclosed brackets).
  using namespace std::string_literals;
  EXPECT_TRUE(nlohmann::json::accept("{\"a\":1}\0garbage"s));
  EXPECT_FALSE(parse_json("{\"a\":1}\0garbage"s).ok());
  EXPECT_FALSE(parse_json("\"\"\0\0[[[[[[["s).ok());
  EXPECT_FALSE(JsonBody::parse("{\"email\":\"a@b\"}\0{\"role\":\"admin\"}"s, {"email"}).ok());
  EXPECT_TRUE(parse_json("{\"a\":\"\\u0000\"}").ok());  // an escaped NUL is fine
}

TEST(ParseJson, HundredThousandLevelsAreRefusedQuickly) {
  std::string frame = R"({"type":"ping","id":)" + nested(100000) + "}";
  auto r = parse_json(frame);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "JSON is nested more than 64 levels deep");
  auto body = JsonBody::parse(frame, {"type", "id"});
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(body.error().message.find("nested more than 64"), std::string::npos);
  EXPECT_NE(body.error().message.find("request body"), std::string::npos);
}

TEST(JsonBody, Rfc3339) {
  EXPECT_EQ(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339_ms(1'767'225'600'123), "2026-01-01T00:00:00.123Z");
}

}  // namespace
}  // namespace office

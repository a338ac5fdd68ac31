#include "core/json_body.hpp"

#include <gtest/gtest.h>

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

TEST(JsonBody, Rfc3339) {
  EXPECT_EQ(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339_ms(1'767'225'600'123), "2026-01-01T00:00:00.123Z");
}

}  // namespace
}  // namespace office

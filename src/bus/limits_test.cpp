#include "bus/limits.hpp"

#include <gtest/gtest.h>

namespace office::bus {
namespace {

TEST(ConsumerLimits, OverridesApplyOnlyToTheirConsumer) {
  ConsumerOptions defaults;
  std::string spec = "mail:max_in_flight=20, drop_after_ms=60000; chat:lanes=8,pause_at_percent=50";
  ASSERT_TRUE(validate_consumer_limits(spec));
  auto mail = consumer_options("mail", "notify.>", defaults, spec);
  ASSERT_TRUE(mail);
  EXPECT_EQ(mail->name, "mail");
  EXPECT_EQ(mail->filter, "notify.>");
  EXPECT_EQ(mail->max_in_flight, 20U);
  EXPECT_EQ(mail->drop_after, std::chrono::milliseconds(60000));
  EXPECT_EQ(mail->lanes, defaults.lanes);
  auto chat = consumer_options("chat", ">", defaults, spec);
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->lanes, 8U);
  EXPECT_DOUBLE_EQ(chat->pause_at, 0.5);
  EXPECT_EQ(chat->max_in_flight, defaults.max_in_flight);
}

TEST(ConsumerLimits, BadSpecsAreRefusedWithTheReason) {
  for (const char* bad :
       {"mail", "mail:max_in_flight", "mail:max_in_flight=0", "mail:max_in_flight=x",
        "mail:colour=3", "bad.name:lanes=2", "mail:pause_at_percent=101", "mail:lanes=100000"}) {
    auto st = validate_consumer_limits(bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(st.error().message.find("bus.consumer_limits"), std::string::npos) << bad;
  }
  EXPECT_TRUE(validate_consumer_limits(""));
}

}  // namespace
}  // namespace office::bus

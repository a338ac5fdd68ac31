#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <set>

namespace office {
namespace {

TEST(Uuid, V7LayoutAndTime) {
  FakeClock clock(1'767'225'600'123);
  Uuid u = Uuid::v7(clock);
  EXPECT_EQ(u.version(), 7);
  EXPECT_EQ(u.bytes[8] & 0xc0, 0x80);  // variant 10xx
  EXPECT_EQ(u.unix_ms(), 1'767'225'600'123);
  std::string s = u.to_string();
  EXPECT_EQ(s.size(), 36u);
  EXPECT_EQ(s[14], '7');
  auto back = Uuid::parse(s);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, u);
}

TEST(Uuid, MonotonicWithinOneMillisecondAndUnique) {
  FakeClock clock;
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 1000; ++i) {
    std::string id = Uuid::v7(clock).to_string();
    EXPECT_TRUE(seen.insert(id).second);
    if (!prev.empty()) {
      EXPECT_LT(prev, id);
    }
    prev = id;
  }
}

TEST(Uuid, SortsByTime) {
  FakeClock clock;
  std::string a = new_id(clock);
  clock.advance(std::chrono::milliseconds(1));
  std::string b = new_id(clock);
  EXPECT_LT(a, b);
}

TEST(Uuid, ParseRejectsGarbage) {
  EXPECT_FALSE(Uuid::parse(""));
  EXPECT_FALSE(Uuid::parse("not-a-uuid"));
  EXPECT_FALSE(Uuid::parse("0190f5a2-7c3b-7d4e-8f01-23456789abcg"));
  EXPECT_FALSE(Uuid::parse("0190f5a27c3b-7d4e-8f01-23456789abcd0"));
  EXPECT_TRUE(Uuid::parse("0190F5A2-7C3B-7D4E-8F01-23456789ABCD"));
}

}  // namespace
}  // namespace office

#include "identity/password.hpp"

#include <gtest/gtest.h>

namespace office::identity {
namespace {

TEST(Password, HashAndVerify) {
  auto h = PasswordHasher::for_tests();
  auto hash = h.hash("correct horse battery");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(h.verify(*hash, "correct horse battery"));
  EXPECT_FALSE(h.verify(*hash, "correct horse batterz"));
  EXPECT_FALSE(h.verify("", "x"));
  EXPECT_FALSE(h.verify("$argon2id$garbage", "x"));
  EXPECT_FALSE(h.verify("$2b$10$bcrypt-like", "x"));
  auto again = h.hash("correct horse battery");
  EXPECT_NE(*again, *hash);  // salted
}

TEST(Password, NeedsRehashWhenCostRises) {
  auto weak = PasswordHasher::for_tests();
  PasswordHasher strong(3, 1 << 20);
  auto hash = weak.hash("password1");
  EXPECT_FALSE(weak.needs_rehash(*hash));
  EXPECT_TRUE(strong.needs_rehash(*hash));
  EXPECT_TRUE(strong.verify(*hash, "password1"));  // old hashes keep working
}

// The message names the rule that was broken, or "" when the password passes.
std::string rule(std::string_view password, std::string_view email = "someone@example.com") {
  auto st = check_password_policy(password, email);
  if (st) return "";
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  return st.error().message;
}

TEST(Password, LengthInCodePointsNotBytes) {
  EXPECT_EQ(rule("sh0rt"), "password must be at least 8 characters long");
  EXPECT_EQ(rule("quiet-river-4"), "");
  // 4 characters, 8 bytes: too short although 8 bytes long.
  EXPECT_EQ(rule("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"),
            "password must be at least 8 characters long");
  // 8 characters of 4 bytes each: long enough.
  std::string emoji;
  for (int i = 0; i < 8; ++i) emoji += "\xF0\x9F\x98\x80";
  EXPECT_EQ(rule(emoji), "");
  EXPECT_EQ(count_code_points("h\xC3\xA9llo"), 5u);
  EXPECT_EQ(rule(std::string(1025, 'q')), "password must be at most 1024 bytes long");
  EXPECT_EQ(rule(std::string(1024, 'q')), "");
  // 1024 bytes of 4-byte characters: within the byte limit.
  std::string long_emoji;
  for (int i = 0; i < 256; ++i) long_emoji += "\xF0\x9F\x98\x80";
  EXPECT_EQ(rule(long_emoji), "");
  EXPECT_EQ(rule(long_emoji + "x"), "password must be at most 1024 bytes long");
}

TEST(Password, CommonPasswordsAreRefusedInAnyCase) {
  for (const char* p : {"password", "password1", "Password1", "PASSWORD1", "12345678", "iloveyou",
                        "qwertyuiop", "trustno1", "monkey123", "Dragon2024"}) {
    EXPECT_TRUE(is_common_password(p)) << p;
    EXPECT_EQ(rule(p), "password is too common: it is on a list of often-used passwords") << p;
  }
  EXPECT_FALSE(is_common_password("quiet-river-4"));
  EXPECT_FALSE(is_common_password(""));
}

TEST(Password, MustNotContainTheEmailName) {
  const std::string msg = "password must not contain the name of the e-mail address (anna.k)";
  EXPECT_EQ(rule("anna.k", "anna.k@example.com"), "password must be at least 8 characters long");
  EXPECT_EQ(rule("Anna.K2026!", "anna.k@example.com"), msg);
  EXPECT_EQ(rule("my-ANNA.K-secret", "Anna.K@Example.com"), msg);
  EXPECT_EQ(rule("anna.k.anna.k", "anna.k@example.com"), msg);
  EXPECT_EQ(rule("quiet-river-4", "anna.k@example.com"), "");
  // Short names are only refused as the whole password, not as a part of it.
  EXPECT_EQ(rule("jo-quiet-river", "jo@example.com"), "");
  EXPECT_EQ(rule("jojojojo", "jojojojo@example.com"),
            "password must not contain the name of the e-mail address (jojojojo)");
  EXPECT_EQ(rule("quiet-river-4", ""), "");
}

}  // namespace
}  // namespace office::identity

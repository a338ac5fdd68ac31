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

TEST(Password, Policy) {
  EXPECT_FALSE(check_password_policy("short"));
  EXPECT_TRUE(check_password_policy("longenough"));
  EXPECT_FALSE(check_password_policy(std::string(1025, 'a')));
}

}  // namespace
}  // namespace office::identity

#include "core/hex.hpp"

#include <gtest/gtest.h>

namespace office {
namespace {

TEST(Hex, RoundTrip) {
  std::array<std::uint8_t, 3> b{0x00, 0xab, 0xff};
  EXPECT_EQ(to_hex(b), "00abff");
  std::array<std::uint8_t, 3> out{};
  EXPECT_TRUE(from_hex("00abff", out));
  EXPECT_EQ(out, b);
  EXPECT_TRUE(from_hex("00ABFF", out));
  EXPECT_FALSE(from_hex("00ABFF", out, true));
  EXPECT_FALSE(from_hex("00abf", out));
}

TEST(Base64Url, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
  for (auto [plain, enc] : vectors) {
    EXPECT_EQ(base64url_encode(plain), enc);
    std::string dec;
    ASSERT_TRUE(base64url_decode(enc, dec)) << enc;
    EXPECT_EQ(dec, plain);
  }
}

TEST(Base64, Rfc4648VectorsWithPadding) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"},
                                                         {"\xfb\xff", "+/8="}};
  for (auto [plain, enc] : vectors) EXPECT_EQ(base64_encode(plain), enc);
}

TEST(Base64Url, RejectsBadInput) {
  std::string out;
  EXPECT_FALSE(base64url_decode("Zm9v=", out));  // padding not allowed
  EXPECT_FALSE(base64url_decode("Zm+v", out));   // standard alphabet
  EXPECT_FALSE(base64url_decode("Z", out));      // impossible length
  EXPECT_FALSE(base64url_decode("Zh", out));     // non-canonical trailing bits
}

}  // namespace
}  // namespace office

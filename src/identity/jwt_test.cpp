#include "identity/jwt.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/hex.hpp"

namespace office::identity {
namespace {

const std::string kKey(32, 'k');

AccessClaims claims(const FakeClock& clock, std::int64_t ttl = 900) {
  std::int64_t now = clock.now_s();
  return {"user-1", "tenant-1", "session-1", now, now, now + ttl, "jti-1"};
}

std::string hs256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// Builds a token with arbitrary header/payload, signed with key (or unsigned).
std::string forge(const std::string& header, const std::string& payload, const std::string& key) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + (key.empty() ? "" : base64url_encode(hs256(key, input)));
}

TEST(Jwt, RoundTrip) {
  FakeClock clock;
  JwtCodec jwt(kKey, "iss", "aud", clock);
  auto v = jwt.verify(jwt.sign(claims(clock)));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->subject, "user-1");
  EXPECT_EQ(v->tenant_id, "tenant-1");
  EXPECT_EQ(v->session_id, "session-1");
}

TEST(Jwt, Expiry) {
  FakeClock clock;
  JwtCodec jwt(kKey, "iss", "aud", clock, 0);
  std::string t = jwt.sign(claims(clock, 60));
  clock.advance(std::chrono::seconds(59));
  EXPECT_TRUE(jwt.verify(t).ok());
  clock.advance(std::chrono::seconds(1));
  auto r = jwt.verify(t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(r.error().message, "token expired");
}

TEST(Jwt, NotBefore) {
  FakeClock clock;
  JwtCodec jwt(kKey, "iss", "aud", clock, 0);
  auto c = claims(clock);
  c.not_before = clock.now_s() + 100;
  EXPECT_EQ(jwt.verify(jwt.sign(c)).error().message, "token not yet valid");
}

TEST(Jwt, IssuerAudienceKey) {
  FakeClock clock;
  JwtCodec a(kKey, "iss", "aud", clock);
  JwtCodec other_iss(kKey, "other", "aud", clock);
  JwtCodec other_aud(kKey, "iss", "other", clock);
  JwtCodec other_key(std::string(32, 'x'), "iss", "aud", clock);
  std::string t = a.sign(claims(clock));
  EXPECT_EQ(other_iss.verify(t).error().message, "wrong token issuer");
  EXPECT_EQ(other_aud.verify(t).error().message, "wrong token audience");
  EXPECT_EQ(other_key.verify(t).error().message, "bad token signature");
}

TEST(Jwt, RejectsAlgNoneAndOthers) {
  FakeClock clock;
  JwtCodec jwt(kKey, "iss", "aud", clock);
  std::string payload = R"({"iss":"iss","aud":"aud","sub":"u","tid":"t","sid":"s","exp":)" +
                        std::to_string(clock.now_s() + 100) + "}";
  EXPECT_TRUE(jwt.verify(forge(R"({"alg":"HS256"})", payload, kKey)).ok());
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"none"})", payload, "")).error().message,
            "token algorithm not allowed");
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"none"})", payload, kKey)).error().message,
            "token algorithm not allowed");
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"HS512"})", payload, kKey)).error().message,
            "token algorithm not allowed");
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"RS256"})", payload, kKey)).error().message,
            "token algorithm not allowed");
  EXPECT_FALSE(jwt.verify(forge(R"({})", payload, kKey)).ok());
  // No exp claim.
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"HS256"})",
                             R"({"iss":"iss","aud":"aud","sub":"u","tid":"t","sid":"s"})", kKey))
                .error()
                .message,
            "token has no expiry");
  // Audience as an array.
  std::string arr = R"({"iss":"iss","aud":["x","aud"],"sub":"u","tid":"t","sid":"s","exp":)" +
                    std::to_string(clock.now_s() + 100) + "}";
  EXPECT_TRUE(jwt.verify(forge(R"({"alg":"HS256"})", arr, kKey)).ok());
}

TEST(Jwt, MalformedNeverCrashes) {
  FakeClock clock;
  JwtCodec jwt(kKey, "iss", "aud", clock);
  std::string good = jwt.sign(claims(clock));
  for (std::string bad : {std::string(""), std::string("a"), std::string("a.b"),
                          std::string("a.b.c.d"), std::string("...."), std::string("!!.??.**"),
                          good + "x", good.substr(0, good.size() - 2), std::string(10000, 'a')}) {
    auto r = jwt.verify(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
    }
  }
  // Flip each character of the payload: must never verify.
  auto d1 = good.find('.');
  for (std::size_t i = d1 + 1; i < d1 + 20; ++i) {
    std::string t = good;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(jwt.verify(t).ok());
  }
}

}  // namespace
}  // namespace office::identity

#include "identity/jwt.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <nlohmann/json.hpp>

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

// Builds a token with arbitrary header/payload, HMAC-signed with key (or unsigned).
std::string forge(const std::string& header, const std::string& payload, const std::string& key) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + (key.empty() ? "" : base64url_encode(hs256(key, input)));
}

// Builds a token with arbitrary header/payload signed with an Ed25519 key.
std::string forge_ed(const std::string& header, const std::string& payload, const SigningKey& k) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(k.sign(input));
}

std::string payload(const FakeClock& clock, std::int64_t exp_in = 100) {
  return R"({"iss":"iss","aud":"aud","sub":"u","tid":"t","sid":"s","exp":)" +
         std::to_string(clock.now_s() + exp_in) + "}";
}

// --- HS256 (the monolith's legacy option) ------------------------------------

struct Hs {
  FakeClock clock;
  JwtSigner signer{SigningKey::hs256("", kKey), "iss", "aud"};
  JwtVerifier verifier(std::int64_t leeway = 30) {
    return JwtVerifier({VerifyKey::hs256("", kKey)}, "iss", "aud", clock, leeway);
  }
};

TEST(Jwt, RoundTrip) {
  Hs hs;
  auto v = hs.verifier().verify(hs.signer.sign(claims(hs.clock)));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->subject, "user-1");
  EXPECT_EQ(v->tenant_id, "tenant-1");
  EXPECT_EQ(v->session_id, "session-1");
}

TEST(Jwt, Expiry) {
  Hs hs;
  auto verifier = hs.verifier(0);
  std::string t = hs.signer.sign(claims(hs.clock, 60));
  hs.clock.advance(std::chrono::seconds(59));
  EXPECT_TRUE(verifier.verify(t).ok());
  hs.clock.advance(std::chrono::seconds(1));
  auto r = verifier.verify(t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(r.error().message, "token expired");
}

TEST(Jwt, NotBefore) {
  Hs hs;
  auto c = claims(hs.clock);
  c.not_before = hs.clock.now_s() + 100;
  EXPECT_EQ(hs.verifier(0).verify(hs.signer.sign(c)).error().message, "token not yet valid");
}

TEST(Jwt, IssuerAudienceKey) {
  FakeClock clock;
  JwtSigner a(SigningKey::hs256("", kKey), "iss", "aud");
  JwtVerifier other_iss({VerifyKey::hs256("", kKey)}, "other", "aud", clock);
  JwtVerifier other_aud({VerifyKey::hs256("", kKey)}, "iss", "other", clock);
  JwtVerifier other_key({VerifyKey::hs256("", std::string(32, 'x'))}, "iss", "aud", clock);
  std::string t = a.sign(claims(clock));
  EXPECT_EQ(other_iss.verify(t).error().message, "wrong token issuer");
  EXPECT_EQ(other_aud.verify(t).error().message, "wrong token audience");
  EXPECT_EQ(other_key.verify(t).error().message, "bad token signature");
}

TEST(Jwt, RejectsAlgNoneAndOthers) {
  Hs hs;
  auto jwt = hs.verifier();
  std::string p = payload(hs.clock);
  EXPECT_TRUE(jwt.verify(forge(R"({"alg":"HS256"})", p, kKey)).ok());
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"none"})", p, "")).error().message,
            "token algorithm not allowed");
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"none"})", p, kKey)).error().message,
            "token algorithm not allowed");
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"HS512"})", p, kKey)).error().message,
            "token algorithm not allowed");
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"RS256"})", p, kKey)).error().message,
            "token algorithm not allowed");
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"hs256"})", p, kKey)).error().message,
            "token algorithm not allowed");
  EXPECT_FALSE(jwt.verify(forge(R"({})", p, kKey)).ok());
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"HS256","crit":["x"]})", p, kKey)).error().message,
            "token has unsupported critical header");
  // No exp claim.
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"HS256"})",
                             R"({"iss":"iss","aud":"aud","sub":"u","tid":"t","sid":"s"})", kKey))
                .error()
                .message,
            "token has no expiry");
  // Audience as an array.
  std::string arr = R"({"iss":"iss","aud":["x","aud"],"sub":"u","tid":"t","sid":"s","exp":)" +
                    std::to_string(hs.clock.now_s() + 100) + "}";
  EXPECT_TRUE(jwt.verify(forge(R"({"alg":"HS256"})", arr, kKey)).ok());
  // A kid the verifier does not have, even with the right secret.
  EXPECT_EQ(jwt.verify(forge(R"({"alg":"HS256","kid":"k2"})", p, kKey)).error().message,
            "unknown token key");
}

TEST(Jwt, MalformedNeverCrashes) {
  Hs hs;
  auto jwt = hs.verifier();
  std::string good = hs.signer.sign(claims(hs.clock));
  std::string deep = std::string(3000, '[') + std::string(3000, ']');
  for (std::string bad :
       {std::string(""), std::string("a"), std::string("a.b"), std::string("a.b.c.d"),
        std::string("...."), std::string("!!.??.**"), good + "x", good.substr(0, good.size() - 2),
        std::string(10000, 'a'), forge(deep, payload(hs.clock), kKey),
        forge(R"({"alg":"HS256"})", deep, kKey), forge(R"({"alg":"HS256","kid":5})", "{}", kKey),
        forge(R"({"alg":"HS256"})", "[1]", kKey)}) {
    auto r = jwt.verify(bad);
    EXPECT_FALSE(r.ok()) << bad.substr(0, 40);
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

// --- EdDSA ---------------------------------------------------------------------

// RFC 8037, appendix A: the Ed25519 key, its thumbprint and a signature.
TEST(JwtEdDSA, Rfc8037Vectors) {
  std::string d, x;
  ASSERT_TRUE(base64url_decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A", d));
  ASSERT_TRUE(base64url_decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", x));
  auto key = SigningKey::ed25519("k", d);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->verify_key().public_key(), x);
  EXPECT_EQ(ed25519_thumbprint(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  const std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  EXPECT_EQ(base64url_encode(key->sign(input)),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_"
            "MuM0KAg");
  EXPECT_TRUE(key->verify_key().verify(input, key->sign(input)));
  EXPECT_FALSE(key->verify_key().verify(input + "x", key->sign(input)));
  EXPECT_EQ(key->private_seed(), d);
}

TEST(JwtEdDSA, SignVerifyWithKid) {
  FakeClock clock;
  SigningKey k = SigningKey::generate_ed25519();
  EXPECT_EQ(k.kid(), ed25519_thumbprint(k.verify_key().public_key()));
  JwtSigner signer(k, "iss", "aud");
  std::string t = signer.sign(claims(clock));
  std::string header;
  ASSERT_TRUE(base64url_decode(t.substr(0, t.find('.')), header));
  EXPECT_EQ(nlohmann::json::parse(header),
            (nlohmann::json{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", k.kid()}}));
  JwtVerifier verifier({k.verify_key()}, "iss", "aud", clock);
  auto v = verifier.verify(t);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->session_id, "session-1");
  // Another key with the same kid: a bad signature, not a pass.
  SigningKey impostor = SigningKey::generate_ed25519();
  EXPECT_EQ(
      verifier
          .verify(forge_ed(R"({"alg":"EdDSA","kid":")" + k.kid() + "\"}", payload(clock), impostor))
          .error()
          .message,
      "bad token signature");
}

TEST(JwtEdDSA, KidPicksTheKeyAndUnknownKidsAreRefused) {
  FakeClock clock;
  SigningKey a = SigningKey::generate_ed25519();
  SigningKey b = SigningKey::generate_ed25519();
  SigningKey c = SigningKey::generate_ed25519();
  JwtVerifier verifier({a.verify_key(), b.verify_key()}, "iss", "aud", clock);
  EXPECT_TRUE(verifier.verify(JwtSigner(a, "iss", "aud").sign(claims(clock))).ok());
  EXPECT_TRUE(verifier.verify(JwtSigner(b, "iss", "aud").sign(claims(clock))).ok());
  EXPECT_EQ(verifier.verify(JwtSigner(c, "iss", "aud").sign(claims(clock))).error().message,
            "unknown token key");
  // No kid: nothing to pick.
  EXPECT_EQ(verifier.verify(forge_ed(R"({"alg":"EdDSA"})", payload(clock), a)).error().message,
            "unknown token key");
}

// The classic confusion: an HS256 token whose HMAC secret is the public key
// (which anyone can read from the JWKS), naming the Ed25519 key's kid.
TEST(JwtEdDSA, AlgorithmConfusionIsRefused) {
  FakeClock clock;
  SigningKey k = SigningKey::generate_ed25519();
  JwtVerifier verifier({k.verify_key()}, "iss", "aud", clock);
  const std::string raw = k.verify_key().public_key();
  const std::string header = R"({"alg":"HS256","kid":")" + k.kid() + "\"}";
  for (const std::string& secret :
       {raw, base64url_encode(raw), ed25519_public_jwk(k.verify_key()), verifier.jwks()}) {
    auto r = verifier.verify(forge(header, payload(clock), secret));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "token algorithm does not match its key");
  }
  EXPECT_EQ(verifier.verify(forge(R"({"alg":"none","kid":")" + k.kid() + "\"}", payload(clock), ""))
                .error()
                .message,
            "token algorithm not allowed");
  // And the other way round: an EdDSA token against an HS256 key.
  JwtVerifier hs({VerifyKey::hs256("", kKey)}, "iss", "aud", clock);
  EXPECT_EQ(hs.verify(forge_ed(R"({"alg":"EdDSA"})", payload(clock), k)).error().message,
            "token algorithm does not match its key");
}

TEST(JwtEdDSA, RetiredKeyAcceptsOnlyTokensItCouldHaveSigned) {
  FakeClock clock;
  SigningKey k = SigningKey::generate_ed25519();
  const std::int64_t retired_max_exp = clock.now_s() + 900;
  JwtVerifier verifier({k.verify_key().with_max_exp(retired_max_exp)}, "iss", "aud", clock);
  EXPECT_TRUE(verifier.verify(JwtSigner(k, "iss", "aud").sign(claims(clock, 900))).ok());
  EXPECT_EQ(verifier.verify(JwtSigner(k, "iss", "aud").sign(claims(clock, 901))).error().message,
            "token signed by a retired key");
}

TEST(JwtEdDSA, JwksShapeAndVerifierFromJwks) {
  FakeClock clock;
  SigningKey a = SigningKey::generate_ed25519();
  SigningKey b = SigningKey::generate_ed25519();
  JwtVerifier full({a.verify_key(), b.verify_key(), VerifyKey::hs256("", kKey)}, "iss", "aud",
                   clock);
  auto doc = nlohmann::json::parse(full.jwks());
  ASSERT_EQ(doc.size(), 1u);
  ASSERT_EQ(doc["keys"].size(), 2u);  // the HS256 secret is never published
  for (const auto& k : doc["keys"]) {
    EXPECT_EQ(k.size(), 6u) << k;  // exactly these members, no private "d"
    EXPECT_EQ(k["kty"], "OKP");
    EXPECT_EQ(k["crv"], "Ed25519");
    EXPECT_EQ(k["alg"], "EdDSA");
    EXPECT_EQ(k["use"], "sig");
    std::string x;
    ASSERT_TRUE(base64url_decode(k["x"].get<std::string>(), x));
    EXPECT_EQ(x.size(), 32u);
    EXPECT_EQ(k["kid"], ed25519_thumbprint(x));
  }
  EXPECT_EQ(doc["keys"][0]["kid"], a.kid());

  // A verifier built from the JWKS alone checks what the signer issued.
  auto remote = JwtVerifier::from_jwks(full.jwks(), "iss", "aud", clock);
  ASSERT_TRUE(remote.ok()) << remote.error().message;
  EXPECT_TRUE(remote->verify(JwtSigner(b, "iss", "aud").sign(claims(clock))).ok());
  EXPECT_EQ(remote->verify(JwtSigner(SigningKey::hs256("", kKey), "iss", "aud").sign(claims(clock)))
                .error()
                .message,
            "unknown token key");
  EXPECT_EQ(remote->jwks(), full.jwks());

  auto jwks_with = [&](const std::string& extra) {
    auto k = nlohmann::json::parse(ed25519_public_jwk(a.verify_key()));
    k.update(nlohmann::json::parse(extra));
    return nlohmann::json{{"keys", {k}}}.dump();
  };
  EXPECT_TRUE(JwtVerifier::from_jwks(jwks_with("{}"), "iss", "aud", clock).ok());
  EXPECT_FALSE(JwtVerifier::from_jwks(jwks_with(R"({"d":"AAAA"})"), "iss", "aud", clock).ok());
  EXPECT_FALSE(JwtVerifier::from_jwks(jwks_with(R"({"alg":"HS256"})"), "iss", "aud", clock).ok());
  EXPECT_FALSE(JwtVerifier::from_jwks(jwks_with(R"({"use":"enc"})"), "iss", "aud", clock).ok());
  EXPECT_FALSE(JwtVerifier::from_jwks(jwks_with(R"({"x":"short"})"), "iss", "aud", clock).ok());
  EXPECT_FALSE(JwtVerifier::from_jwks(jwks_with(R"({"kid":""})"), "iss", "aud", clock).ok());
  EXPECT_FALSE(JwtVerifier::from_jwks(R"({"keys":[]})", "iss", "aud", clock).ok());
  EXPECT_FALSE(
      JwtVerifier::from_jwks(R"({"keys":[{"kty":"RSA","n":"x","e":"AQAB"}]})", "iss", "aud", clock)
          .ok());
  EXPECT_FALSE(JwtVerifier::from_jwks("not json", "iss", "aud", clock).ok());
}

}  // namespace
}  // namespace office::identity

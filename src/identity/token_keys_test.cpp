#include "identity/token_keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/hex.hpp"
#include "core/ids.hpp"

namespace office::identity {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

class KeyRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("keyring-" + new_id());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  KeyRingOptions options(JwtAlg alg = JwtAlg::kEdDSA) {
    KeyRingOptions o;
    o.data_dir = dir_.string();
    o.algorithm = alg;
    o.access_ttl_s = 900;
    o.leeway_s = 30;
    return o;
  }
  std::shared_ptr<KeyRing> open(const KeyRingOptions& o) {
    auto r = KeyRing::open(o, clock_);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : nullptr;
  }
  AccessClaims claims() {
    std::int64_t now = clock_.now_s();
    return {"u", "t", "s", now, now, now + 900, "j"};
  }
  std::string sign(KeyRing& ring) {
    auto t = ring.sign(claims());
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : "";
  }
  static unsigned mode(const fs::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 0777;
  }
  std::set<std::string> jwks_kids(const KeyRing& ring) {
    std::set<std::string> out;
    const auto doc = nlohmann::json::parse(ring.jwks());
    for (const auto& k : doc["keys"]) out.insert(k["kid"]);
    return out;
  }
  std::vector<std::string> key_files() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_ / "jwt_keys"))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
  FakeClock clock_;
};

TEST_F(KeyRingTest, EdDSAKeyIsCreatedOncePrivatelyAndReused) {
  auto ring = open(options());
  ASSERT_TRUE(ring);
  EXPECT_EQ(key_files(), std::vector<std::string>{"ed25519-000001.jwk"});
  EXPECT_EQ(mode(dir_ / "jwt_keys"), 0700u);
  EXPECT_EQ(mode(dir_ / "jwt_keys" / "ed25519-000001.jwk"), 0600u);
  EXPECT_FALSE(fs::exists(dir_ / "jwt.key"));  // no HS256 secret is made for EdDSA
  std::string token = sign(*ring);
  EXPECT_TRUE(ring->verify(token).ok());
  EXPECT_EQ(jwks_kids(*ring), std::set<std::string>{ring->signing_kid()});
  // A restart (or a second process) loads the same key.
  auto again = open(options());
  EXPECT_EQ(again->signing_kid(), ring->signing_kid());
  EXPECT_TRUE(again->verify(token).ok());
}

TEST_F(KeyRingTest, ConcurrentFirstStartsAgreeOnOneKey) {
  std::vector<std::string> kids(6);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < kids.size(); ++i)
    threads.emplace_back([&, i] {
      auto r = KeyRing::open(options(), clock_);
      kids[i] = r.ok() ? (*r)->signing_kid() : "error: " + r.error().message;
    });
  for (auto& t : threads) t.join();
  for (const auto& k : kids) EXPECT_EQ(k, kids[0]);
  EXPECT_EQ(key_files().size(), 1u);
}

TEST_F(KeyRingTest, RotationKeepsOldTokensValidUntilTheyExpire) {
  auto ring = open(options());
  const std::string old_kid = ring->signing_kid();
  const std::string old_token = sign(*ring);
  clock_.advance(seconds(100));
  auto kid = ring->rotate();
  ASSERT_TRUE(kid.ok()) << kid.error().message;
  EXPECT_NE(*kid, old_kid);
  EXPECT_EQ(ring->signing_kid(), *kid);
  const std::string new_token = sign(*ring);
  EXPECT_TRUE(ring->verify(old_token).ok());
  EXPECT_TRUE(ring->verify(new_token).ok());
  EXPECT_EQ(jwks_kids(*ring), (std::set<std::string>{old_kid, *kid}));
  EXPECT_EQ(ring->retired_keys_valid_until_s(), clock_.now_s() + 900 + 30);
  EXPECT_EQ(key_files(), (std::vector<std::string>{"ed25519-000001.jwk", "ed25519-000002.jwk"}));
  // A token the old key "signs" after its retirement, outliving what it could
  // have issued, is refused (e.g. with a copy of the old private key).
  std::string d;
  std::ifstream in(dir_ / "jwt_keys" / "ed25519-000001.jwk");
  auto jwk = nlohmann::json::parse(in);
  ASSERT_TRUE(base64url_decode(jwk["d"].get<std::string>(), d));
  auto leaked = SigningKey::ed25519(old_kid, d);
  AccessClaims late = claims();
  late.expires_at += 60;
  EXPECT_EQ(
      ring->verify(JwtSigner(*leaked, "office-suite", "office-suite").sign(late)).error().message,
      "token signed by a retired key");

  // Once every token of the old key has expired (+ leeway), it goes away.
  clock_.advance(seconds(900 + 31));
  EXPECT_EQ(ring->verify(old_token).error().message, "token expired");
  sign(*ring);  // the periodic check drops the retired key and deletes its file
  EXPECT_EQ(jwks_kids(*ring), std::set<std::string>{*kid});
  EXPECT_EQ(key_files(), std::vector<std::string>{"ed25519-000002.jwk"});
  EXPECT_EQ(ring->verify(old_token).error().message, "unknown token key");
  EXPECT_EQ(open(options())->signing_kid(), *kid);  // a restart agrees
}

TEST_F(KeyRingTest, RotationByAgeAndByAnotherProcess) {
  auto o = options();
  o.rotate_after_s = 86400;
  auto ring = open(o);
  const std::string first = ring->signing_kid();
  clock_.advance(seconds(86399));
  sign(*ring);
  EXPECT_EQ(ring->signing_kid(), first);
  clock_.advance(seconds(1));
  const std::string token = sign(*ring);  // due: rotates before signing
  const std::string second = ring->signing_kid();
  EXPECT_NE(second, first);
  EXPECT_TRUE(ring->verify(token).ok());
  std::string header;
  ASSERT_TRUE(base64url_decode(token.substr(0, token.find('.')), header));
  EXPECT_EQ(nlohmann::json::parse(header)["kid"], second);

  // `office-suite keys rotate` in another process: picked up within 10 s.
  auto other = open(options());
  auto third = other->rotate();
  ASSERT_TRUE(third.ok());
  clock_.advance(seconds(5));
  sign(*ring);
  EXPECT_EQ(ring->signing_kid(), second);  // not checked yet
  clock_.advance(seconds(6));
  sign(*ring);
  EXPECT_EQ(ring->signing_kid(), *third);
  EXPECT_TRUE(ring->verify(token).ok());  // the previous key still verifies
}

TEST_F(KeyRingTest, Hs256ModeKeepsTheOldBehaviour) {
  auto ring = open(options(JwtAlg::kHS256));
  EXPECT_EQ(mode(dir_ / "jwt.key"), 0600u);
  EXPECT_EQ(ring->signing_kid(), "");
  std::string token = sign(*ring);
  std::string header;
  ASSERT_TRUE(base64url_decode(token.substr(0, token.find('.')), header));
  EXPECT_EQ(nlohmann::json::parse(header), (nlohmann::json{{"alg", "HS256"}, {"typ", "JWT"}}));
  EXPECT_TRUE(ring->verify(token).ok());
  EXPECT_EQ(ring->jwks(), R"({"keys":[]})");
  auto rotated = ring->rotate();
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(open(options(JwtAlg::kHS256))->verify(token).ok());  // same jwt.key after restart
  auto configured = options(JwtAlg::kHS256);
  configured.hs256_secret = std::string(40, 's');
  EXPECT_EQ(open(configured)->verify(token).error().message, "bad token signature");
}

// An install upgraded from HS256: access tokens it issued before keep working
// until they expire; new ones are EdDSA.
TEST_F(KeyRingTest, UpgradeFromHs256KeepsLiveTokensForTheirLifetime) {
  auto old_ring = open(options(JwtAlg::kHS256));
  const std::string old_token = sign(*old_ring);
  clock_.advance(seconds(60));
  auto ring = open(options());  // the new default
  ASSERT_TRUE(ring);
  EXPECT_NE(ring->signing_kid(), "");
  EXPECT_TRUE(ring->verify(old_token).ok());
  EXPECT_TRUE(ring->verify(sign(*ring)).ok());
  EXPECT_EQ(jwks_kids(*ring), std::set<std::string>{ring->signing_kid()});  // no secret in JWKS
  // An HS256 token minted now with the old secret but living longer is refused.
  std::string secret;
  std::getline(std::ifstream(dir_ / "jwt.key"), secret);
  AccessClaims late = claims();
  late.expires_at += 3600;
  EXPECT_EQ(
      ring->verify(
              JwtSigner(SigningKey::hs256("", secret), "office-suite", "office-suite").sign(late))
          .error()
          .message,
      "token signed by a retired key");
  // After the access TTL (+ leeway) the secret no longer verifies anything,
  // after a restart too.
  clock_.advance(seconds(900 + 31));
  EXPECT_FALSE(ring->verify(old_token).ok());
  EXPECT_FALSE(open(options())->verify(old_token).ok());
}

TEST_F(KeyRingTest, CorruptKeyFilesAreNamed) {
  fs::create_directories(dir_ / "jwt_keys");
  std::ofstream(dir_ / "jwt_keys" / "ed25519-000001.jwk") << R"({"kty":"OKP","crv":"Ed25519"})";
  auto r = KeyRing::open(options(), clock_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("ed25519-000001.jwk"), std::string::npos) << r.error().message;
  // A key whose public half was swapped for another key's.
  SigningKey a = SigningKey::generate_ed25519();
  SigningKey b = SigningKey::generate_ed25519();
  std::ofstream(dir_ / "jwt_keys" / "ed25519-000001.jwk") << nlohmann::json{
      {"kty", "OKP"},
      {"crv", "Ed25519"},
      {"kid", b.kid()},
      {"x", base64url_encode(b.verify_key().public_key())},
      {"d", base64url_encode(a.private_seed())},
      {"created", 1}}.dump();
  auto swapped = KeyRing::open(options(), clock_);
  ASSERT_FALSE(swapped.ok());
  EXPECT_NE(swapped.error().message.find("not the public key"), std::string::npos);
}

TEST(FixedTokenKeys, SignVerifyAndJwks) {
  FakeClock clock;
  auto keys = ephemeral_token_keys(clock);
  auto t = keys->sign({"u", "t", "s", clock.now_s(), clock.now_s(), clock.now_s() + 60, "j"});
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(keys->verify(*t).ok());
  auto remote = JwtVerifier::from_jwks(keys->jwks(), "office-suite", "office-suite", clock);
  ASSERT_TRUE(remote.ok());
  EXPECT_TRUE(remote->verify(*t).ok());
}

}  // namespace
}  // namespace office::identity

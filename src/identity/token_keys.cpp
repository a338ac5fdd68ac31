#include "identity/token_keys.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/hex.hpp"
#include "core/json_body.hpp"
#include "core/random.hpp"
#include "core/secret_file.hpp"

namespace office::identity {

namespace fs = std::filesystem;

// --- fixed keys ------------------------------------------------------------

namespace {

class FixedTokenKeys final : public TokenKeys {
  static std::vector<VerifyKey> with(std::vector<VerifyKey> keys, const SigningKey& key) {
    keys.push_back(key.verify_key());
    return keys;
  }

 public:
  FixedTokenKeys(const SigningKey& key, std::vector<VerifyKey> also, const std::string& issuer,
                 const std::string& audience, const Clock& clock)
      : signer_(key, issuer, audience),
        verifier_(with(std::move(also), key), issuer, audience, clock) {}
  Result<std::string> sign(const AccessClaims& c) override { return signer_.sign(c); }
  Result<AccessClaims> verify(std::string_view token) const override {
    return verifier_.verify(token);
  }
  std::string jwks() const override { return verifier_.jwks(); }

 private:
  JwtSigner signer_;
  JwtVerifier verifier_;
};

}  // namespace

std::shared_ptr<TokenKeys> fixed_token_keys(const SigningKey& key,
                                            std::vector<VerifyKey> also_verify,
                                            const std::string& issuer, const std::string& audience,
                                            const Clock& clock) {
  return std::make_shared<FixedTokenKeys>(key, std::move(also_verify), issuer, audience, clock);
}

std::shared_ptr<TokenKeys> ephemeral_token_keys(const Clock& clock) {
  return fixed_token_keys(SigningKey::generate_ed25519(), {}, "office-suite", "office-suite",
                          clock);
}

// --- KeyRing ---------------------------------------------------------------

namespace {

constexpr std::int64_t kRecheckS = 10;  // how often sign()/jwks() look for new generations

struct StoredKey {
  int generation = 0;
  std::int64_t created_s = 0;
  SigningKey key = SigningKey::hs256("", "");
};

std::string key_file_name(int generation) {
  char name[32];
  std::snprintf(name, sizeof name, "ed25519-%06d.jwk", generation);
  return name;
}

// "ed25519-000042.jwk" -> 42; 0 for anything else.
int generation_of(const std::string& name) {
  if (name.size() != 18 || name.rfind("ed25519-", 0) != 0 || name.substr(14) != ".jwk") return 0;
  int g = 0;
  for (char c : name.substr(8, 6)) {
    if (c < '0' || c > '9') return 0;
    g = g * 10 + (c - '0');
  }
  return g;
}

std::string new_key_file(std::int64_t created_s) {
  SigningKey k = SigningKey::generate_ed25519();
  return nlohmann::json{{"kty", "OKP"},
                        {"crv", "Ed25519"},
                        {"alg", "EdDSA"},
                        {"use", "sig"},
                        {"kid", k.kid()},
                        {"x", base64url_encode(k.verify_key().public_key())},
                        {"d", base64url_encode(k.private_seed())},
                        {"created", created_s}}
             .dump() +
         "\n";
}

Result<StoredKey> parse_key_file(const std::string& path, int generation, const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Error::unavailable("corrupt signing key file " + path + ": " + why);
  };
  auto j = parse_json(text, 2);
  if (!j || !j->is_object()) return bad("not a JSON object");
  auto str = [&](const char* k) {
    auto it = j->find(k);
    return it != j->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (str("kty") != "OKP" || str("crv") != "Ed25519") return bad("not an Ed25519 key");
  std::string d, x;
  if (!base64url_decode(str("d"), d) || !base64url_decode(str("x"), x)) return bad("bad d or x");
  auto key = SigningKey::ed25519(str("kid"), d);
  if (!key) return bad(key.error().message);
  if (key->verify_key().public_key() != x) return bad("x is not the public key of d");
  if (key->kid() != ed25519_thumbprint(x)) return bad("kid is not the key's thumbprint");
  auto created = j->find("created");
  if (created == j->end() || !created->is_number_integer()) return bad("no created time");
  return StoredKey{generation, created->get<std::int64_t>(), std::move(*key)};
}

Status ensure_private_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error::unavailable("cannot create " + dir + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) return Error::unavailable("cannot set mode 0700 on " + dir);
  return {};
}

}  // namespace

struct KeyRing::State {
  JwtSigner signer;
  JwtVerifier verifier;
  std::string jwks;
  int generation = 0;          ///< of the signing key (0: HS256)
  std::int64_t created_s = 0;  ///< of the signing key
  std::int64_t retired_until_s = 0;
  std::int64_t next_check_s = 0;
};

KeyRing::KeyRing(KeyRingOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

Result<std::shared_ptr<KeyRing>> KeyRing::open(KeyRingOptions options, const Clock& clock) {
  auto ring = std::make_shared<KeyRing>(std::move(options), clock);
  std::lock_guard lock(ring->mu_);
  if (auto st = ring->load(); !st) return st.error();
  return ring;
}

Status KeyRing::load() const {
  const std::int64_t now = clock_.now_s();
  const std::string legacy_path = (fs::path(options_.data_dir) / "jwt.key").string();
  auto legacy_secret = [&]() -> Result<std::optional<std::string>> {
    if (!options_.hs256_secret.empty()) return std::optional<std::string>(options_.hs256_secret);
    auto text = read_secret_file(legacy_path);
    if (!text || !*text) return text;
    std::string key = (*text)->substr(0, (*text)->find('\n'));
    if (key.size() < 32)
      return Error::unavailable(legacy_path + " holds no key of at least 32 bytes; remove it");
    return std::optional<std::string>(key);
  };

  if (options_.algorithm == JwtAlg::kHS256) {
    std::string secret = options_.hs256_secret;
    if (secret.empty()) {
      auto text = read_or_create_secret_file(legacy_path, [] {
        std::string raw(32, '\0');
        secure_random(raw.data(), raw.size());
        return base64url_encode(raw) + "\n";
      });
      if (!text) return text.error();
      secret = text->substr(0, text->find('\n'));
      if (secret.size() < 32)
        return Error::unavailable(legacy_path +
                                  " holds no key of at least 32 bytes; remove it to generate a "
                                  "new one (everybody signed in must then refresh their token)");
    }
    SigningKey key = SigningKey::hs256("", secret);  // no kid: what every version issued
    JwtVerifier verifier({key.verify_key()}, options_.issuer, options_.audience, clock_,
                         options_.leeway_s);
    std::string jwks = verifier.jwks();
    state_ = std::make_shared<const State>(State{JwtSigner(key, options_.issuer, options_.audience),
                                                 std::move(verifier), std::move(jwks), 0, 0, 0,
                                                 now + kRecheckS});
    return {};
  }

  const std::string dir = (fs::path(options_.data_dir) / "jwt_keys").string();
  if (auto st = ensure_private_dir(dir); !st) return st;
  std::map<int, std::string> files;  // generation -> path
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (int g = generation_of(entry.path().filename().string()); g > 0)
      files[g] = entry.path().string();
  if (ec) return Error::unavailable("cannot list " + dir + ": " + ec.message());
  if (files.empty()) files[1] = (fs::path(dir) / key_file_name(1)).string();

  std::vector<StoredKey> keys;
  for (const auto& [generation, path] : files) {
    std::string text;
    if (generation == 1 && files.size() == 1) {
      // A fresh install: the first generation is created here.
      auto created = read_or_create_secret_file(path, [now] { return new_key_file(now); });
      if (!created) return created.error();
      text = std::move(*created);
    } else {
      auto existing = read_secret_file(path);
      if (!existing) return existing.error();
      if (!*existing) return Error::unavailable(path + " disappeared while loading the keys");
      text = std::move(**existing);
    }
    auto key = parse_key_file(path, generation, text);
    if (!key) return key.error();
    keys.push_back(std::move(*key));
  }

  const StoredKey& active = keys.back();
  std::vector<VerifyKey> verify{active.key.verify_key()};
  std::int64_t retired_until = 0;
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
    const std::int64_t retired_s = keys[i + 1].created_s;
    const std::int64_t max_exp = retired_s + options_.access_ttl_s;
    if (now > max_exp + options_.leeway_s) {
      // Every token it signed has expired: the key is no use to anyone.
      std::error_code rm;
      fs::remove(files[keys[i].generation], rm);
      if (!rm) spdlog::info("identity: deleted retired signing key {}", keys[i].key.kid());
      continue;
    }
    verify.push_back(keys[i].key.verify_key().with_max_exp(max_exp));
    retired_until = std::max(retired_until, max_exp + options_.leeway_s);
  }
  // Upgrade from HS256: tokens issued before the first Ed25519 key existed.
  if (keys.front().generation == 1) {
    const std::int64_t max_exp = keys.front().created_s + options_.access_ttl_s;
    if (now <= max_exp + options_.leeway_s) {
      auto secret = legacy_secret();
      if (!secret) return secret.error();
      if (*secret) {
        verify.push_back(VerifyKey::hs256("", **secret).with_max_exp(max_exp));
        retired_until = std::max(retired_until, max_exp + options_.leeway_s);
      }
    }
  }
  JwtVerifier verifier(std::move(verify), options_.issuer, options_.audience, clock_,
                       options_.leeway_s);
  std::string jwks = verifier.jwks();
  state_ = std::make_shared<const State>(
      State{JwtSigner(active.key, options_.issuer, options_.audience), std::move(verifier),
            std::move(jwks), active.generation, active.created_s, retired_until, now + kRecheckS});
  return {};
}

Status KeyRing::refresh_if_due() const {
  const std::int64_t now = clock_.now_s();
  std::lock_guard lock(mu_);
  if (options_.algorithm == JwtAlg::kHS256) return {};
  const bool age_due =
      options_.rotate_after_s > 0 && now >= state_->created_s + options_.rotate_after_s;
  if (now < state_->next_check_s && !age_due) return {};
  const std::string dir = (fs::path(options_.data_dir) / "jwt_keys").string();
  std::error_code ec;
  const bool newer_exists = fs::exists(fs::path(dir) / key_file_name(state_->generation + 1), ec);
  if (age_due && !newer_exists) {
    auto kid = rotate_locked();
    if (!kid) return kid.error();
    spdlog::info("identity: rotated the token signing key by age; new kid {}", *kid);
    return {};
  }
  // Reload when another process rotated, and to drop retired keys in time.
  if (newer_exists || (state_->retired_until_s != 0 && now > state_->retired_until_s))
    return load();
  auto next = std::make_shared<State>(*state_);
  next->next_check_s = now + kRecheckS;
  state_ = std::move(next);
  return {};
}

Result<std::string> KeyRing::rotate_locked() const {
  if (options_.algorithm == JwtAlg::kHS256)
    return Error{ErrorCode::kFailedPrecondition,
                 "key rotation needs auth.jwt_algorithm EdDSA; with HS256 change "
                 "auth.jwt_secret (or delete jwt.key)"};
  const std::int64_t now = clock_.now_s();
  const fs::path path =
      fs::path(options_.data_dir) / "jwt_keys" / key_file_name(state_->generation + 1);
  auto text = read_or_create_secret_file(path.string(), [now] { return new_key_file(now); });
  if (!text) return text.error();
  if (auto st = load(); !st) return st.error();
  return state_->signer.key().kid();
}

Result<std::string> KeyRing::rotate() {
  std::lock_guard lock(mu_);
  if (options_.algorithm != JwtAlg::kHS256)
    if (auto st = load(); !st) return st.error();  // rotate from the newest generation on disk
  return rotate_locked();
}

std::shared_ptr<const KeyRing::State> KeyRing::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

Result<std::string> KeyRing::sign(const AccessClaims& claims) {
  if (auto st = refresh_if_due(); !st) {
    // Keep signing with the current key; a broken rotation must not stop logins.
    spdlog::error("identity: signing key check failed: {}", st.error().message);
  }
  return state()->signer.sign(claims);
}

Result<AccessClaims> KeyRing::verify(std::string_view token) const {
  return state()->verifier.verify(token);
}

std::string KeyRing::jwks() const {
  if (auto st = refresh_if_due(); !st)
    spdlog::error("identity: signing key check failed: {}", st.error().message);
  return state()->jwks;
}

std::string KeyRing::signing_kid() const { return state()->signer.key().kid(); }

std::int64_t KeyRing::retired_keys_valid_until_s() const { return state()->retired_until_s; }

}  // namespace office::identity

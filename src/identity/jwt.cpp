#include "identity/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/hex.hpp"
#include "core/json_body.hpp"
#include "core/random.hpp"
#include "core/sha256.hpp"

namespace office::identity {

// An Ed25519 key (private or public) or an HMAC secret.
struct KeyMaterial {
  EVP_PKEY* pkey = nullptr;
  std::string secret;
  KeyMaterial() = default;
  KeyMaterial(const KeyMaterial&) = delete;
  KeyMaterial& operator=(const KeyMaterial&) = delete;
  ~KeyMaterial() { EVP_PKEY_free(pkey); }
};

namespace {

constexpr std::size_t kEd25519Bytes = 32;
constexpr std::size_t kEd25519SignatureBytes = 64;
// Our tokens are flat (aud may be an array); anything deeper is not ours.
constexpr std::size_t kTokenJsonDepth = 4;

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string raw_public(EVP_PKEY* pkey) {
  std::string out(kEd25519Bytes, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != kEd25519Bytes)
    return {};
  return out;
}

std::shared_ptr<const KeyMaterial> secret_material(std::string secret) {
  auto m = std::make_shared<KeyMaterial>();
  m->secret = std::move(secret);
  return m;
}

Error unauth(std::string why) { return Error::unauthenticated(std::move(why)); }

struct EvpMdCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~EvpMdCtx() { EVP_MD_CTX_free(ctx); }
};

}  // namespace

std::string_view jwt_alg_name(JwtAlg alg) { return alg == JwtAlg::kHS256 ? "HS256" : "EdDSA"; }

// --- VerifyKey -------------------------------------------------------------

Result<VerifyKey> VerifyKey::ed25519(std::string kid, std::string_view public_key) {
  if (public_key.size() != kEd25519Bytes)
    return Error::invalid("an Ed25519 public key has 32 bytes");
  auto m = std::make_shared<KeyMaterial>();
  m->pkey =
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(public_key), public_key.size());
  if (m->pkey == nullptr) return Error::invalid("not an Ed25519 public key");
  VerifyKey k;
  k.kid_ = std::move(kid);
  k.alg_ = JwtAlg::kEdDSA;
  k.material_ = std::move(m);
  return k;
}

VerifyKey VerifyKey::hs256(std::string kid, std::string secret) {
  VerifyKey k;
  k.kid_ = std::move(kid);
  k.alg_ = JwtAlg::kHS256;
  k.material_ = secret_material(std::move(secret));
  return k;
}

VerifyKey VerifyKey::with_max_exp(std::int64_t max_exp_s) const {
  VerifyKey k = *this;
  k.max_exp_s_ = max_exp_s;
  return k;
}

std::string VerifyKey::public_key() const {
  return alg_ == JwtAlg::kEdDSA ? raw_public(material_->pkey) : std::string();
}

bool VerifyKey::verify(std::string_view input, std::string_view signature) const {
  if (alg_ == JwtAlg::kHS256) {
    std::string expected = hmac_sha256(material_->secret, input);
    return signature.size() == expected.size() &&
           CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) == 0;
  }
  if (signature.size() != kEd25519SignatureBytes) return false;
  EvpMdCtx md;
  return md.ctx != nullptr &&
         EVP_DigestVerifyInit(md.ctx, nullptr, nullptr, nullptr, material_->pkey) == 1 &&
         EVP_DigestVerify(md.ctx, bytes(signature), signature.size(), bytes(input), input.size()) ==
             1;
}

// --- SigningKey ------------------------------------------------------------

Result<SigningKey> SigningKey::ed25519(std::string kid, std::string_view seed) {
  if (seed.size() != kEd25519Bytes) return Error::invalid("an Ed25519 private key has 32 bytes");
  auto m = std::make_shared<KeyMaterial>();
  m->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes(seed), seed.size());
  if (m->pkey == nullptr) return Error::invalid("not an Ed25519 private key");
  SigningKey k;
  k.kid_ = std::move(kid);
  k.alg_ = JwtAlg::kEdDSA;
  k.material_ = std::move(m);
  return k;
}

SigningKey SigningKey::generate_ed25519() {
  std::string seed(kEd25519Bytes, '\0');
  secure_random(seed.data(), seed.size());  // any 32 bytes are an Ed25519 private key
  auto k = ed25519("", seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  if (!k) std::abort();  // libcrypto without Ed25519: nothing to fall back to
  k->kid_ = ed25519_thumbprint(k->verify_key().public_key());
  return std::move(*k);
}

SigningKey SigningKey::hs256(std::string kid, std::string secret) {
  SigningKey k;
  k.kid_ = std::move(kid);
  k.alg_ = JwtAlg::kHS256;
  k.material_ = secret_material(std::move(secret));
  return k;
}

VerifyKey SigningKey::verify_key() const {
  if (alg_ == JwtAlg::kHS256) return VerifyKey::hs256(kid_, material_->secret);
  auto k = VerifyKey::ed25519(kid_, raw_public(material_->pkey));
  if (!k) std::abort();  // a valid private key always has a public half
  return std::move(*k);
}

std::string SigningKey::private_seed() const {
  if (alg_ != JwtAlg::kEdDSA) return {};
  std::string out(kEd25519Bytes, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_private_key(material_->pkey, reinterpret_cast<unsigned char*>(out.data()),
                                   &len) != 1 ||
      len != kEd25519Bytes)
    return {};
  return out;
}

std::string SigningKey::sign(std::string_view input) const {
  if (alg_ == JwtAlg::kHS256) return hmac_sha256(material_->secret, input);
  std::string sig(kEd25519SignatureBytes, '\0');
  std::size_t len = sig.size();
  EvpMdCtx md;
  if (md.ctx == nullptr ||
      EVP_DigestSignInit(md.ctx, nullptr, nullptr, nullptr, material_->pkey) != 1 ||
      EVP_DigestSign(md.ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, bytes(input),
                     input.size()) != 1 ||
      len != kEd25519SignatureBytes)
    std::abort();  // Ed25519 signing of a valid key cannot fail short of memory exhaustion
  return sig;
}

std::string ed25519_thumbprint(std::string_view public_key) {
  // RFC 7638: the required members in lexicographic order, no whitespace.
  std::string canonical =
      R"({"crv":"Ed25519","kty":"OKP","x":")" + base64url_encode(public_key) + "\"}";
  auto digest = sha256(canonical);
  return base64url_encode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string ed25519_public_jwk(const VerifyKey& key) {
  return nlohmann::json{
      {"kty", "OKP"},     {"crv", "Ed25519"}, {"x", base64url_encode(key.public_key())},
      {"kid", key.kid()}, {"alg", "EdDSA"},   {"use", "sig"}}
      .dump();
}

// --- JwtSigner -------------------------------------------------------------

JwtSigner::JwtSigner(SigningKey key, std::string issuer, std::string audience)
    : key_(std::move(key)), issuer_(std::move(issuer)), audience_(std::move(audience)) {}

std::string JwtSigner::sign(const AccessClaims& c) const {
  nlohmann::json header = {{"alg", jwt_alg_name(key_.alg())}, {"typ", "JWT"}};
  if (!key_.kid().empty()) header["kid"] = key_.kid();
  nlohmann::json payload = {{"iss", issuer_},      {"aud", audience_},    {"sub", c.subject},
                            {"tid", c.tenant_id},  {"sid", c.session_id}, {"iat", c.issued_at},
                            {"nbf", c.not_before}, {"exp", c.expires_at}, {"jti", c.jwt_id}};
  std::string out = base64url_encode(header.dump());
  out += '.';
  out += base64url_encode(payload.dump());
  std::string sig = key_.sign(out);
  out += '.';
  out += base64url_encode(sig);
  return out;
}

// --- JwtVerifier -----------------------------------------------------------

JwtVerifier::JwtVerifier(std::vector<VerifyKey> keys, std::string issuer, std::string audience,
                         const Clock& clock, std::int64_t leeway_s)
    : keys_(std::move(keys)),
      issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      clock_(clock),
      leeway_s_(leeway_s) {}

Result<JwtVerifier> JwtVerifier::from_jwks(std::string_view jwks_json, std::string issuer,
                                           std::string audience, const Clock& clock,
                                           std::int64_t leeway_s) {
  auto doc = parse_json(jwks_json, 4);
  if (!doc || !doc->is_object()) return Error::invalid("JWKS: not a JSON object");
  auto keys = doc->find("keys");
  if (keys == doc->end() || !keys->is_array()) return Error::invalid("JWKS: no \"keys\" array");
  auto str = [](const nlohmann::json& o, const char* name) -> std::string {
    auto it = o.find(name);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::vector<VerifyKey> out;
  for (const auto& k : *keys) {
    if (!k.is_object() || str(k, "kty") != "OKP" || str(k, "crv") != "Ed25519") continue;
    std::string kid = str(k, "kid");
    if (k.contains("d")) return Error::invalid("JWKS: key " + kid + " has a private part");
    if (kid.empty()) return Error::invalid("JWKS: an Ed25519 key has no kid");
    if (k.contains("alg") && str(k, "alg") != "EdDSA")
      return Error::invalid("JWKS: key " + kid + " is not for EdDSA");
    if (k.contains("use") && str(k, "use") != "sig")
      return Error::invalid("JWKS: key " + kid + " is not for signatures");
    std::string x;
    if (!base64url_decode(str(k, "x"), x)) return Error::invalid("JWKS: key " + kid + ": bad x");
    auto key = VerifyKey::ed25519(kid, x);
    if (!key) return Error::invalid("JWKS: key " + kid + ": " + key.error().message);
    out.push_back(std::move(*key));
  }
  if (out.empty()) return Error::invalid("JWKS: no Ed25519 signing key");
  return JwtVerifier(std::move(out), std::move(issuer), std::move(audience), clock, leeway_s);
}

std::string JwtVerifier::jwks() const {
  std::string out = R"({"keys":[)";
  bool first = true;
  for (const auto& k : keys_) {
    if (k.alg() != JwtAlg::kEdDSA) continue;  // a shared secret is never published
    if (!first) out += ',';
    first = false;
    out += ed25519_public_jwk(k);
  }
  out += "]}";
  return out;
}

Result<AccessClaims> JwtVerifier::verify(std::string_view token) const {
  if (token.size() > 8192) return unauth("token too long");
  auto d1 = token.find('.');
  if (d1 == std::string_view::npos) return unauth("malformed token");
  auto d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return unauth("malformed token");
  std::string header_json, payload_json, sig;
  if (!base64url_decode(token.substr(0, d1), header_json) ||
      !base64url_decode(token.substr(d1 + 1, d2 - d1 - 1), payload_json) ||
      !base64url_decode(token.substr(d2 + 1), sig))
    return unauth("malformed token");

  // Algorithm allow-list first: never trust the token to choose "none".
  auto header_r = parse_json(header_json, kTokenJsonDepth);
  if (!header_r || !header_r->is_object()) return unauth("malformed token header");
  const nlohmann::json& header = *header_r;
  auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string() || (*alg_it != "HS256" && *alg_it != "EdDSA"))
    return unauth("token algorithm not allowed");
  const JwtAlg alg = *alg_it == "HS256" ? JwtAlg::kHS256 : JwtAlg::kEdDSA;
  if (header.contains("crit")) return unauth("token has unsupported critical header");
  std::string kid;
  if (auto k = header.find("kid"); k != header.end()) {
    if (!k->is_string() || k->get_ref<const std::string&>().empty())
      return unauth("malformed token header");
    kid = k->get<std::string>();
  }
  const VerifyKey* key = nullptr;
  for (const auto& k : keys_)
    if (k.kid() == kid) key = &k;
  if (key == nullptr) return unauth("unknown token key");
  // The key decides the algorithm, never the token: an HS256 token "signed"
  // with a public key's bytes as the HMAC secret dies here.
  if (key->alg() != alg) return unauth("token algorithm does not match its key");
  if (!key->verify(token.substr(0, d2), sig)) return unauth("bad token signature");

  auto p_r = parse_json(payload_json, kTokenJsonDepth);
  if (!p_r || !p_r->is_object()) return unauth("malformed token payload");
  const nlohmann::json& p = *p_r;
  auto str = [&](const char* k) -> std::string {
    auto it = p.find(k);
    return it != p.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [&](const char* k, std::int64_t& out) -> bool {
    auto it = p.find(k);
    if (it == p.end() || !it->is_number_integer()) return false;
    out = it->get<std::int64_t>();
    return true;
  };
  if (str("iss") != issuer_) return unauth("wrong token issuer");
  auto aud = p.find("aud");
  bool aud_ok = false;
  if (aud != p.end() && aud->is_string()) aud_ok = *aud == audience_;
  if (aud != p.end() && aud->is_array())
    for (const auto& a : *aud) aud_ok = aud_ok || (a.is_string() && a == audience_);
  if (!aud_ok) return unauth("wrong token audience");

  AccessClaims c;
  if (!num("exp", c.expires_at)) return unauth("token has no expiry");
  std::int64_t now = clock_.now_s();
  if (now >= c.expires_at + leeway_s_) return unauth("token expired");
  if (key->max_exp_s() != 0 && c.expires_at > key->max_exp_s())
    return unauth("token signed by a retired key");
  if (p.contains("nbf")) {
    if (!num("nbf", c.not_before)) return unauth("malformed token payload");
    if (now + leeway_s_ < c.not_before) return unauth("token not yet valid");
  }
  num("iat", c.issued_at);
  c.subject = str("sub");
  c.tenant_id = str("tid");
  c.session_id = str("sid");
  c.jwt_id = str("jti");
  if (c.subject.empty() || c.tenant_id.empty() || c.session_id.empty())
    return unauth("token lacks required claims");
  return c;
}

}  // namespace office::identity

#include "identity/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "core/hex.hpp"
#include "core/json_body.hpp"

namespace office::identity {

namespace {

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// Our tokens are flat (aud may be an array); anything deeper is not ours.
constexpr std::size_t kTokenJsonDepth = 4;

Error unauth(std::string why) { return Error::unauthenticated(std::move(why)); }

// The only header we issue; verification still parses whatever arrives.
constexpr std::string_view kHeaderB64 =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";  // {"alg":"HS256","typ":"JWT"}

}  // namespace

JwtCodec::JwtCodec(std::string key, std::string issuer, std::string audience, const Clock& clock,
                   std::int64_t leeway_s)
    : key_(std::move(key)),
      issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      clock_(clock),
      leeway_s_(leeway_s) {}

std::string JwtCodec::sign(const AccessClaims& c) const {
  nlohmann::json payload = {{"iss", issuer_},      {"aud", audience_},    {"sub", c.subject},
                            {"tid", c.tenant_id},  {"sid", c.session_id}, {"iat", c.issued_at},
                            {"nbf", c.not_before}, {"exp", c.expires_at}, {"jti", c.jwt_id}};
  std::string signing_input(kHeaderB64);
  signing_input += '.';
  signing_input += base64url_encode(payload.dump());
  std::string sig = hmac_sha256(key_, signing_input);
  signing_input += '.';
  signing_input += base64url_encode(sig);
  return signing_input;
}

Result<AccessClaims> JwtCodec::verify(std::string_view token) const {
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
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || *alg != "HS256")
    return unauth("token algorithm not allowed");
  if (header.contains("crit")) return unauth("token has unsupported critical header");

  std::string expected = hmac_sha256(key_, token.substr(0, d2));
  if (sig.size() != expected.size() || CRYPTO_memcmp(sig.data(), expected.data(), sig.size()) != 0)
    return unauth("bad token signature");

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

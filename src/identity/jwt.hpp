#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"

namespace office::identity {

/// Claims of an office-suite access token.
struct AccessClaims {
  std::string subject;          ///< sub: user id
  std::string tenant_id;        ///< tid
  std::string session_id;       ///< sid: the login session (refresh-token family)
  std::int64_t issued_at = 0;   ///< iat, seconds
  std::int64_t not_before = 0;  ///< nbf, seconds
  std::int64_t expires_at = 0;  ///< exp, seconds
  std::string jwt_id;           ///< jti
};

/// The JWS algorithms access tokens may use. EdDSA (Ed25519, RFC 8037) is the
/// default: whoever holds only the public key can verify but not sign. HS256
/// shares one secret between signer and verifiers, so every verifier can
/// also mint tokens; it is kept for single-process installs that chose it.
enum class JwtAlg { kHS256, kEdDSA };
std::string_view jwt_alg_name(JwtAlg alg);  ///< "HS256", "EdDSA"

struct KeyMaterial;  // an OpenSSL key or an HMAC secret (jwt.cpp)

/// A key that checks signatures: an Ed25519 public key (safe to publish) or
/// an HS256 secret (which could sign too). Immutable and cheap to copy;
/// thread-safe.
class VerifyKey {
 public:
  /// `public_key`: the 32 raw bytes. Errors: kInvalidArgument.
  static Result<VerifyKey> ed25519(std::string kid, std::string_view public_key);
  static VerifyKey hs256(std::string kid, std::string secret);

  const std::string& kid() const { return kid_; }
  JwtAlg alg() const { return alg_; }
  /// A retired key only accepts tokens with exp at most this (seconds); 0:
  /// no such limit. Tokens a retired key signed before it was retired all
  /// expire by then, so nothing minted later with a leaked old key passes.
  std::int64_t max_exp_s() const { return max_exp_s_; }
  VerifyKey with_max_exp(std::int64_t max_exp_s) const;
  /// The 32 raw public bytes of an Ed25519 key; empty for HS256.
  std::string public_key() const;
  /// True when `signature` is this key's signature of `input`.
  bool verify(std::string_view input, std::string_view signature) const;

 private:
  VerifyKey() = default;
  std::string kid_;
  JwtAlg alg_ = JwtAlg::kEdDSA;
  std::int64_t max_exp_s_ = 0;
  std::shared_ptr<const KeyMaterial> material_;
};

/// A key that signs: an Ed25519 private key or an HS256 secret. Only the
/// process that issues tokens holds one. Immutable; thread-safe.
class SigningKey {
 public:
  /// `seed`: the 32-byte Ed25519 private key (RFC 8032), e.g. a JWK's "d".
  static Result<SigningKey> ed25519(std::string kid, std::string_view seed);
  /// A fresh random Ed25519 key whose kid is its RFC 7638 thumbprint.
  static SigningKey generate_ed25519();
  static SigningKey hs256(std::string kid, std::string secret);

  const std::string& kid() const { return kid_; }
  JwtAlg alg() const { return alg_; }
  /// The verifying half: the public key, or the same secret for HS256.
  VerifyKey verify_key() const;
  /// The 32-byte Ed25519 seed (for storing the key); empty for HS256.
  std::string private_seed() const;
  /// The signature of `input` (64 bytes for Ed25519, 32 for HS256).
  std::string sign(std::string_view input) const;

 private:
  SigningKey() = default;
  std::string kid_;
  JwtAlg alg_ = JwtAlg::kEdDSA;
  std::shared_ptr<const KeyMaterial> material_;
};

/// The RFC 7638 JWK thumbprint (base64url SHA-256) of an Ed25519 public key:
/// the kid office-suite gives its keys.
std::string ed25519_thumbprint(std::string_view public_key);

/// The public JWK (RFC 8037) of an Ed25519 key:
/// {"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"alg":"EdDSA","use":"sig"}.
std::string ed25519_public_jwk(const VerifyKey& key);

/// Issues access tokens (RFC 7519 JWTs, JWS compact form) with one key. The
/// header is {"alg":...,"typ":"JWT"} plus "kid" when the key has one.
/// Thread-safe (immutable).
class JwtSigner {
 public:
  JwtSigner(SigningKey key, std::string issuer, std::string audience);
  std::string sign(const AccessClaims& claims) const;
  const SigningKey& key() const { return key_; }

 private:
  SigningKey key_;
  std::string issuer_;
  std::string audience_;
};

/// Checks access tokens against a set of keys; holds no signing key (built
/// from public keys only, e.g. a JWKS, it cannot mint tokens). Rules, in
/// order: at most 8 KiB; header `alg` on the allow-list (HS256, EdDSA; "none"
/// and everything else refused) and no `crit`; the key is the one named by
/// `kid` (a token without kid can only match a key without kid); the key's
/// algorithm must be the header's (no HS256 token checked with a public key's
/// bytes as the secret); the signature (constant time for HMAC); then exp
/// and nbf with `leeway_s` of clock skew, iss, aud (string or array), a
/// retired key's max_exp_s, and sub/tid/sid present.
/// Errors are kUnauthenticated with a short reason ("token expired",
/// "unknown token key", ...). Thread-safe (immutable).
class JwtVerifier {
 public:
  static constexpr std::int64_t kDefaultLeewayS = 30;

  JwtVerifier(std::vector<VerifyKey> keys, std::string issuer, std::string audience,
              const Clock& clock, std::int64_t leeway_s = kDefaultLeewayS);
  /// A verifier of the Ed25519 keys of a JWK Set document (RFC 7517), as
  /// served at /.well-known/jwks.json. Keys of other types are skipped;
  /// a key with private parts ("d"), a malformed Ed25519 key, or a set with
  /// no usable key is kInvalidArgument.
  static Result<JwtVerifier> from_jwks(std::string_view jwks_json, std::string issuer,
                                       std::string audience, const Clock& clock,
                                       std::int64_t leeway_s = kDefaultLeewayS);

  Result<AccessClaims> verify(std::string_view token) const;
  /// The JWK Set of the Ed25519 keys: {"keys":[...]} (HS256 secrets are never
  /// included).
  std::string jwks() const;
  const std::vector<VerifyKey>& keys() const { return keys_; }

 private:
  std::vector<VerifyKey> keys_;
  std::string issuer_;
  std::string audience_;
  const Clock& clock_;
  std::int64_t leeway_s_;
};

}  // namespace office::identity

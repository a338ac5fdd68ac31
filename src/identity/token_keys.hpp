#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "identity/jwt.hpp"

namespace office::identity {

/// Where the identity service gets access tokens signed and checked, and the
/// public keys it publishes. Implementations are thread-safe.
class TokenKeys {
 public:
  virtual ~TokenKeys() = default;
  /// Signs with the current key (kUnavailable if a due key rotation failed).
  virtual Result<std::string> sign(const AccessClaims& claims) = 0;
  /// JwtVerifier::verify with every key that may still have live tokens.
  virtual Result<AccessClaims> verify(std::string_view token) const = 0;
  /// The JWK Set (RFC 7517) of the public keys: {"keys":[...]}.
  virtual std::string jwks() const = 0;
};

/// Keys held in memory only: `key` signs, it and `also_verify` verify. For
/// tests and tools; a server uses KeyRing.
std::shared_ptr<TokenKeys> fixed_token_keys(const SigningKey& key,
                                            std::vector<VerifyKey> also_verify,
                                            const std::string& issuer, const std::string& audience,
                                            const Clock& clock);
/// fixed_token_keys with a fresh Ed25519 key and issuer/audience "office-suite".
std::shared_ptr<TokenKeys> ephemeral_token_keys(const Clock& clock);

struct KeyRingOptions {
  std::string data_dir;               ///< keys live in <data_dir>/jwt_keys/ (EdDSA)
  JwtAlg algorithm = JwtAlg::kEdDSA;  ///< auth.jwt_algorithm
  std::string hs256_secret;           ///< auth.jwt_secret; empty: <data_dir>/jwt.key
  std::string issuer = "office-suite";
  std::string audience = "office-suite";
  std::int64_t access_ttl_s = 900;  ///< how long a retired key must keep verifying
  std::int64_t leeway_s = JwtVerifier::kDefaultLeewayS;
  std::int64_t rotate_after_s = 0;  ///< auth.jwt_key_rotate_s; 0: only `keys rotate`
};

/// The signing keys of one installation, kept as files under the data dir.
///
/// EdDSA (the default): <data_dir>/jwt_keys/ (mode 0700) holds one file per
/// key generation, `ed25519-000001.jwk`, `ed25519-000002.jwk`, ..., each a
/// private JWK (RFC 8037, plus "created" in Unix seconds), mode 0600, created
/// atomically (read_or_create_secret_file: concurrent processes agree). The
/// highest generation signs; kid is the key's RFC 7638 thumbprint. A lower
/// generation is *retired* when the next one was created; it keeps verifying
/// (and stays in the JWKS) until every token it signed has expired — retired +
/// access_ttl_s + leeway_s — and accepts only tokens with exp <= retired +
/// access_ttl_s. After that its file is deleted.
///
/// Upgrade from HS256: if auth.jwt_secret is set or <data_dir>/jwt.key exists,
/// that secret verifies tokens without kid (what older versions issued) for
/// access_ttl_s + leeway_s after the first Ed25519 key was created, so
/// sessions carry on across the upgrade; refresh tokens are database tokens
/// and unaffected.
///
/// HS256: the secret is auth.jwt_secret, or 32 random bytes created once into
/// <data_dir>/jwt.key (0600); tokens carry no kid, the JWKS is empty and
/// rotate() is refused.
///
/// Rotation: rotate() (the `office-suite keys rotate` command), or sign()
/// when the signing key is older than rotate_after_s. sign() and jwks() also
/// notice, at most every 10 s, a generation created by another process and
/// switch to it. Thread-safe.
class KeyRing final : public TokenKeys {
 public:
  /// Loads (creating on first use) the keys. Errors: kUnavailable naming the
  /// file or directory that cannot be read or written, or a corrupt key file.
  static Result<std::shared_ptr<KeyRing>> open(KeyRingOptions options, const Clock& clock);

  Result<std::string> sign(const AccessClaims& claims) override;
  Result<AccessClaims> verify(std::string_view token) const override;
  std::string jwks() const override;

  /// Creates the next generation now and signs with it from here on; returns
  /// its kid. kFailedPrecondition with HS256.
  Result<std::string> rotate();
  /// kid of the signing key ("" for HS256).
  std::string signing_kid() const;
  /// When the retired keys stop verifying, seconds (0 when none is retired).
  std::int64_t retired_keys_valid_until_s() const;

  KeyRing(KeyRingOptions options, const Clock& clock);  // use open()

 private:
  struct State;
  // The key set changes over time (rotation by age, another process's
  // rotation, retired keys expiring), also from the const readers, hence the
  // mutable state behind mu_.
  Status load() const;            // (re)reads the key files; mu_ held
  Status refresh_if_due() const;  // new generations, rotation by age, expiries
  Result<std::string> rotate_locked() const;
  std::shared_ptr<const State> state() const;

  KeyRingOptions options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const State> state_;
};

}  // namespace office::identity

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

/// Signs and verifies JWTs (RFC 7519) with HMAC-SHA256. The verifier accepts
/// only the algorithms in its allow-list (HS256), never "none", and checks the
/// signature (constant time), exp, nbf, iss and aud (string or array).
/// Thread-safe (immutable after construction).
class JwtCodec {
 public:
  /// key: at least 32 bytes. leeway_s: clock skew tolerated for exp/nbf.
  JwtCodec(std::string key, std::string issuer, std::string audience, const Clock& clock,
           std::int64_t leeway_s = 30);

  std::string sign(const AccessClaims& claims) const;
  /// Errors are kUnauthenticated with a short reason ("token expired", ...).
  Result<AccessClaims> verify(std::string_view token) const;

 private:
  std::string key_;
  std::string issuer_;
  std::string audience_;
  const Clock& clock_;
  std::int64_t leeway_s_;
};

}  // namespace office::identity

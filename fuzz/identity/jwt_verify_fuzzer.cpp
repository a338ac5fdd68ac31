// Access tokens through JwtVerifier, with an Ed25519 key (kid) and a legacy
// HS256 key (no kid) as a monolith after an upgrade has them. The first byte
// chooses: the rest verbatim as a token, or a valid token with the rest's
// bytes written over it (reaching deep states fast). Besides "no crash": a
// token only verifies if its signed part is byte-for-byte one we signed (no
// forgery, no "none", no algorithm confusion), and a verified token has the
// required claims.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "identity/jwt.hpp"

namespace id = office::identity;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Fixture {
  office::FakeClock clock;
  id::SigningKey ed = *id::SigningKey::ed25519("ed-key", std::string(32, '\x42'));
  id::SigningKey hs = id::SigningKey::hs256("", std::string(32, 'k'));
  id::JwtVerifier verifier{{ed.verify_key(), hs.verify_key()}, "iss", "aud", clock};
  std::string tokens[2];
  Fixture() {
    const std::int64_t now = clock.now_s();
    const id::AccessClaims c{"user", "tenant", "session", now, now, now + 900, "jti"};
    tokens[0] = id::JwtSigner(ed, "iss", "aud").sign(c);
    tokens[1] = id::JwtSigner(hs, "iss", "aud").sign(c);
  }
};

std::string_view signed_part(std::string_view token) {
  auto d1 = token.find('.');
  if (d1 == std::string_view::npos) return {};
  auto d2 = token.find('.', d1 + 1);
  return d2 == std::string_view::npos ? std::string_view() : token.substr(0, d2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Fixture f;
  if (size == 0) return 0;
  std::string token;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] < 128) {
    token.assign(rest);
  } else {
    token = f.tokens[data[0] & 1];
    // Pairs of (position, byte) overwrite the valid token.
    for (std::size_t i = 0; i + 1 < rest.size(); i += 2)
      token[static_cast<unsigned char>(rest[i]) % token.size()] = rest[i + 1];
  }
  auto r = f.verifier.verify(token);
  if (r.ok()) {
    const std::string_view part = signed_part(token);
    check(part == signed_part(f.tokens[0]) || part == signed_part(f.tokens[1]));
    check(!r->subject.empty() && !r->tenant_id.empty() && !r->session_id.empty());
  } else {
    check(r.error().code == office::ErrorCode::kUnauthenticated);
  }
  return 0;
}

#pragma once

#include <cstdint>
#include <string>

namespace office {

/// Who is calling: established by authentication (identity module) from a
/// verified token, never from a request body. Every domain query filters by
/// tenant_id taken from here.
struct Principal {
  std::string tenant_id;
  std::string user_id;
  std::string session_id;
  std::string role;             ///< "admin" or "member"
  bool platform_admin = false;  ///< may manage tenants across the installation
  /// When the credentials that established it stop being valid: its access
  /// token's `exp` or its session's end, whichever is first (Unix seconds;
  /// 0: not known). A live connection acting for it ends then unless renewed.
  std::int64_t expires_at_s = 0;
  bool is_admin() const { return role == "admin"; }
};

}  // namespace office

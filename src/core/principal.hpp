#pragma once

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
  bool is_admin() const { return role == "admin"; }
};

}  // namespace office

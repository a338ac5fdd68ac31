#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace office::identity {

/// Plain records of the identity domain (mirroring api/office/user/v1/user.proto;
/// the REST adapter maps them to its proto3 JSON form). Times are Unix ms.
struct Tenant {
  std::string id;
  std::string slug;
  std::string display_name;
  std::int64_t create_ms = 0;
};

struct User {
  std::string id;
  std::string tenant_id;
  std::string email;
  std::string display_name;
  std::string role;  ///< "admin" | "member"
  std::string plan;  ///< "free_tier" | "premium"
  bool disabled = false;
  bool platform_admin = false;
  std::vector<std::string> group_ids;
  std::int64_t create_ms = 0;
  std::int64_t update_ms = 0;
};

struct Group {
  std::string id;
  std::string tenant_id;
  std::string name;
  std::string description;
  std::vector<std::string> member_ids;
  std::int64_t create_ms = 0;
};

struct NewUser {
  std::string email;
  std::string password;
  std::string display_name;
  std::string role = "member";
  std::string plan = "free_tier";
};

/// Only set fields change.
struct UserPatch {
  std::optional<std::string> display_name;
  std::optional<std::string> role;
  std::optional<std::string> plan;
  std::optional<bool> disabled;
  std::optional<std::string> password;
  std::optional<bool> platform_admin;  ///< only platform admins may set it
};

struct NewGroup {
  std::string name;
  std::string description;
  std::vector<std::string> member_ids;
};

struct GroupPatch {
  std::optional<std::string> name;
  std::optional<std::string> description;
};

struct NewTenant {
  std::string slug;
  std::string display_name;
  std::string admin_email;
  std::string admin_password;
};

struct PageRequest {
  int page_size = 50;      ///< 1..500
  std::string page_token;  ///< opaque, from a previous page
};

template <class T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;  ///< empty on the last page
};

struct Tokens {
  std::string access_token;
  std::string refresh_token;
  std::int64_t expires_in = 0;  ///< seconds
  User user;
};

}  // namespace office::identity

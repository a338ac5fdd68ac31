#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace office::identity {

/// Input rules of the identity module. Errors are kInvalidArgument naming the field.
Result<std::string> normalize_email(std::string_view email);  ///< trimmed, lower-cased
Status check_display_name(std::string_view name);
Status check_role(std::string_view role);
Status check_plan(std::string_view plan);
Status check_tenant_slug(std::string_view slug);
Status check_group_name(std::string_view name);
/// Ids are UUIDs; anything else can never match a row.
bool looks_like_id(std::string_view id);

}  // namespace office::identity

#include "identity/validate.hpp"

#include "core/ids.hpp"

namespace office::identity {

namespace {
bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}
}  // namespace

Result<std::string> normalize_email(std::string_view email) {
  while (!email.empty() && email.front() == ' ') email.remove_prefix(1);
  while (!email.empty() && email.back() == ' ') email.remove_suffix(1);
  auto at = email.find('@');
  if (email.size() < 3 || email.size() > 254 || at == std::string_view::npos || at == 0 ||
      at == email.size() - 1 || email.find('@', at + 1) != std::string_view::npos ||
      email.find(' ') != std::string_view::npos || has_control(email))
    return Error::invalid("email must be an address like name@example.com");
  std::string out(email);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

Status check_display_name(std::string_view name) {
  if (name.empty() || name.size() > 200 || has_control(name))
    return Error::invalid("displayName must be 1 to 200 characters without control characters");
  return {};
}

Status check_role(std::string_view role) {
  if (role != "admin" && role != "member") return Error::invalid("role must be admin or member");
  return {};
}

Status check_plan(std::string_view plan) {
  if (plan != "free_tier" && plan != "premium")
    return Error::invalid("plan must be free_tier or premium");
  return {};
}

Status check_tenant_slug(std::string_view slug) {
  bool ok = slug.size() >= 2 && slug.size() <= 63 && slug.front() != '-';
  for (char c : slug) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!ok)
    return Error::invalid(
        "slug must be 2 to 63 characters of a-z, 0-9 and '-', not starting with '-'");
  return {};
}

Status check_group_name(std::string_view name) {
  if (name.empty() || name.size() > 200 || has_control(name))
    return Error::invalid("name must be 1 to 200 characters without control characters");
  return {};
}

bool looks_like_id(std::string_view id) { return Uuid::parse(id).has_value(); }

}  // namespace office::identity

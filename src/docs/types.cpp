#include "docs/types.hpp"

#include "core/log.hpp"
#include "ot/json_codec.hpp"

namespace office::docs {

std::string_view role_name(Role r) {
  switch (r) {
    case Role::kViewer:
      return "viewer";
    case Role::kCommenter:
      return "commenter";
    case Role::kEditor:
      return "editor";
    case Role::kOwner:
      return "owner";
    case Role::kNone:
      break;
  }
  return "none";
}

std::optional<Role> parse_role(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "commenter") return Role::kCommenter;
  if (name == "editor") return Role::kEditor;
  if (name == "owner") return Role::kOwner;
  return std::nullopt;
}

std::string_view grantee_kind_name(GranteeKind k) {
  switch (k) {
    case GranteeKind::kGroup:
      return "group";
    case GranteeKind::kTenant:
      return "tenant";
    case GranteeKind::kUser:
      break;
  }
  return "user";
}

std::optional<GranteeKind> parse_grantee_kind(std::string_view name) {
  if (name == "user") return GranteeKind::kUser;
  if (name == "group") return GranteeKind::kGroup;
  if (name == "tenant") return GranteeKind::kTenant;
  return std::nullopt;
}

std::string_view op_kind_name(CommittedOp::Kind k) {
  switch (k) {
    case CommittedOp::Kind::kCreate:
      return "create";
    case CommittedOp::Kind::kDelete:
      return "delete";
    case CommittedOp::Kind::kEdit:
      break;
  }
  return "edit";
}

std::optional<CommittedOp::Kind> parse_op_kind(std::string_view name) {
  if (name == "create") return CommittedOp::Kind::kCreate;
  if (name == "edit") return CommittedOp::Kind::kEdit;
  if (name == "delete") return CommittedOp::Kind::kDelete;
  return std::nullopt;
}

const std::string& CommittedOp::sharedb_fields() const {
  std::call_once(once_, [this] {
    std::string& out = sharedb_fields_;
    switch (kind) {
      case Kind::kEdit:
        out = "\"op\":";
        out += ot::dump_op(op);
        break;
      case Kind::kCreate:
        out = "\"create\":{\"type\":\"";
        out += kTextUnicodeType;
        out += "\",\"data\":\"";
        log::append_json_escaped(out, create_text);
        out += "\"}";
        break;
      case Kind::kDelete:
        out = "\"del\":true";
        break;
    }
  });
  return sharedb_fields_;
}

}  // namespace office::docs

#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ot/op.hpp"

namespace office::docs {

/// What a caller may do with a document. Ordered: a role includes the ones
/// before it. Viewers and commenters read and subscribe; editors submit ops;
/// owners also share, rename, trash and delete.
enum class Role { kNone = 0, kViewer = 1, kCommenter = 2, kEditor = 3, kOwner = 4 };

std::string_view role_name(Role r);  ///< "viewer", "commenter", "editor", "owner", "none"
std::optional<Role> parse_role(std::string_view name);  ///< the four granted roles only

/// A document's catalogue entry (REST's Document message).
struct Document {
  std::string id;
  std::string tenant_id;
  std::string title;
  std::string owner_id;
  std::int64_t create_ms = 0;
  std::int64_t update_ms = 0;
  std::int64_t version = 0;              ///< ShareDB version: ops committed, the create included
  std::int64_t size = 0;                 ///< text length in code points at `version`
  std::optional<std::int64_t> trash_ms;  ///< set while in the trash
  Role role = Role::kNone;               ///< the caller's role (filled per caller)
};

/// Who a share goes to.
enum class GranteeKind { kUser, kGroup, kTenant };
std::string_view grantee_kind_name(GranteeKind k);  ///< "user", "group", "tenant"
std::optional<GranteeKind> parse_grantee_kind(std::string_view name);

struct Share {
  GranteeKind kind = GranteeKind::kUser;
  std::string grantee_id;  ///< user or group id; empty for the whole tenant
  Role role = Role::kViewer;
  std::int64_t create_ms = 0;
};

/// One committed operation of a document's log, immutable once made and
/// shared by everyone who hears of it (every subscriber gets the same
/// object; adapters serialise it once, see CommittedOp::sharedb_json).
struct CommittedOp {
  enum class Kind { kCreate, kEdit, kDelete };
  std::string tenant_id;
  std::string doc_id;
  std::int64_t version = 0;  ///< the version it applied at (ShareDB `v`); the doc is then version+1
  Kind kind = Kind::kEdit;
  ot::Op op;                ///< kEdit: the text-unicode op
  std::string create_text;  ///< kCreate: the initial text
  std::string src;          ///< the submitting client's id ("" for server-made ops)
  std::int64_t seq = 0;     ///< the client's sequence number
  std::string author_id;    ///< user id
  std::int64_t ts_ms = 0;   ///< commit time

  /// The op as ShareDB sends it to subscribers, without the enclosing
  /// message: `"op":[...]`, `"create":{"type":"...","data":"..."}` or
  /// `"del":true` fields, serialised on first use and kept (thread-safe).
  const std::string& sharedb_fields() const;

 private:
  mutable std::once_flag once_;
  mutable std::string sharedb_fields_;
};
using CommittedOpPtr = std::shared_ptr<const CommittedOp>;

/// "create", "edit", "delete": the op log's and the REST API's name of a kind.
std::string_view op_kind_name(CommittedOp::Kind k);
std::optional<CommittedOp::Kind> parse_op_kind(std::string_view name);

/// The ShareDB type URI of text-unicode (what `create` names).
inline constexpr std::string_view kTextUnicodeType = "http://sharejs.org/types/text-unicode";

/// A document's content at a version.
struct Snapshot {
  std::string doc_id;
  std::int64_t version = 0;  ///< 0 and !exists: never created (ShareDB: type null)
  bool exists = false;       ///< false: not created yet, or deleted
  std::string text;
  std::int64_t ts_ms = 0;  ///< when `version` was reached (0 for a never-created doc)
};

/// One entry of the history list.
struct VersionInfo {
  std::int64_t version = 0;  ///< the version the op applied at
  std::string author_id;
  std::int64_t ts_ms = 0;
  std::int64_t size = 0;  ///< text length (code points) after this op
  CommittedOp::Kind kind = CommittedOp::Kind::kEdit;
};

struct PageRequest {
  int page_size = 0;       ///< 0: the default (50); 1..500
  std::string page_token;  ///< opaque, from the previous page
};

template <class T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;  ///< empty on the last page
};

}  // namespace office::docs

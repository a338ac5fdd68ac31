#pragma once
// The catalogue's SQL: the only code that reads or writes the documents and
// doc_shares tables (and, once per document, the create op in doc_ops; the
// rest of doc_ops and doc_snapshots belong to the op log). Every query is
// scoped by tenant_id. Functions run inside the caller's transaction and are
// not thread-safe on their own.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "docs/types.hpp"
#include "storage/database.hpp"

namespace office::docs::catalog_store {

/// Who is asking, as the queries need it: the user and the groups they are in
/// (from the identity module; a runtime-sized IN list).
struct Caller {
  std::string tenant_id;
  std::string user_id;
  std::vector<std::string> group_ids;
};

/// Inserts the catalogue row (role is ignored). kAlreadyExists on a taken id.
Status insert_document(storage::Tx& tx, const Document& d);
/// Inserts the row unless (tenant, id) exists, without failing the
/// transaction: false when it existed.
Result<bool> insert_document_if_absent(storage::Tx& tx, const Document& d);
/// The create op of a document made through the catalogue: version 0, kind
/// 'create', op '""' (the empty initial text as a JSON string), src '',
/// seq 0, size 0, by `author_id` at `ts_ms`.
Status insert_initial_create_op(storage::Tx& tx, std::string_view tenant_id,
                                std::string_view doc_id, std::string_view author_id,
                                std::int64_t ts_ms);

/// The document with `c`'s role on it filled in: kOwner for its owner, else
/// the best of the shares to the user, to one of their groups and to the
/// whole tenant, else kNone. Trashed documents are returned as they are.
Result<std::optional<Document>> document_for(storage::Tx& tx, const Caller& c, std::string_view id);

struct ListQuery {
  bool trashed = false;        ///< the caller's own documents in the trash instead of live ones
  std::string title_contains;  ///< case-insensitive substring (LIKE, escaped); empty: all
  /// Resume after this (update_ms, id), in (update_ms DESC, id DESC) order.
  std::optional<std::pair<std::int64_t, std::string>> after;
  int limit = 50;
};
/// Documents `c` has a role on (each with that role), most recently updated
/// first; trashed: only the ones `c` owns.
Result<std::vector<Document>> list_documents(storage::Tx& tx, const Caller& c, const ListQuery& q);

Status update_title(storage::Tx& tx, std::string_view tenant_id, std::string_view id,
                    std::string_view title, std::int64_t now_ms);
/// Sets or clears (nullopt) trash_ms.
Status set_trash(storage::Tx& tx, std::string_view tenant_id, std::string_view id,
                 std::optional<std::int64_t> trash_ms);
/// Deletes the document with its ops, snapshots and shares.
Status delete_document(storage::Tx& tx, std::string_view tenant_id, std::string_view id);

Result<std::optional<Share>> share_of(storage::Tx& tx, std::string_view tenant_id,
                                      std::string_view doc_id, GranteeKind kind,
                                      std::string_view grantee_id);
/// Inserts the share or replaces the role of an existing one (its
/// create_ms stays).
Status upsert_share(storage::Tx& tx, std::string_view tenant_id, std::string_view doc_id,
                    const Share& s);
/// The document's shares: users, groups, then the tenant; by grantee id.
Result<std::vector<Share>> list_shares(storage::Tx& tx, std::string_view tenant_id,
                                       std::string_view doc_id);
Result<std::int64_t> count_shares(storage::Tx& tx, std::string_view tenant_id,
                                  std::string_view doc_id);
/// False when there was no such share.
Result<bool> delete_share(storage::Tx& tx, std::string_view tenant_id, std::string_view doc_id,
                          GranteeKind kind, std::string_view grantee_id);

/// The document's versions from doc_ops, newest first, those below
/// `before` (all when nullopt), at most `limit`.
Result<std::vector<VersionInfo>> list_versions(storage::Tx& tx, std::string_view tenant_id,
                                               std::string_view doc_id,
                                               std::optional<std::int64_t> before, int limit);

}  // namespace office::docs::catalog_store

#include "docs/catalog_store.hpp"

namespace office::docs::catalog_store {

using storage::Row;
using storage::Tx;
using storage::Value;

namespace {

constexpr const char* kDocCols =
    "d.id, d.tenant_id, d.title, d.owner_id, d.create_ms, d.update_ms, d.version, d.size, "
    "d.trash_ms";

// A share's role as a number that orders like Role (viewer 1 .. editor 3).
constexpr const char* kShareRank =
    "CASE s.role WHEN 'viewer' THEN 1 WHEN 'commenter' THEN 2 WHEN 'editor' THEN 3 ELSE 0 END";

Document document_from(const Row& r) {
  Document d;
  d.id = r.text(0);
  d.tenant_id = r.text(1);
  d.title = r.text(2);
  d.owner_id = r.text(3);
  d.create_ms = r.i64(4);
  d.update_ms = r.i64(5);
  d.version = r.i64(6);
  d.size = r.i64(7);
  d.trash_ms = r.opt_i64(8);
  return d;
}

Role role_from_rank(std::int64_t rank) {
  switch (rank) {
    case 1:
      return Role::kViewer;
    case 2:
      return Role::kCommenter;
    case 3:
      return Role::kEditor;
    case 4:
      return Role::kOwner;
    default:
      return Role::kNone;
  }
}

Status ok_or(const Result<std::int64_t>& r) {
  if (!r) return r.error();
  return {};
}

// The SQL condition "share s reaches caller c": to the user, to one of their
// groups (a runtime-sized IN list), or to the whole tenant. Appends its
// parameters to `params`; `user_param` is the placeholder number already
// bound to the user id.
std::string grantee_match(const Caller& c, int user_param, std::vector<Value>& params) {
  std::string sql = "((s.kind = 'user' AND s.grantee_id = ?" + std::to_string(user_param) +
                    ") OR (s.kind = 'tenant' AND s.grantee_id = '')";
  if (!c.group_ids.empty()) {
    sql += " OR (s.kind = 'group' AND s.grantee_id IN (";
    for (std::size_t i = 0; i < c.group_ids.size(); ++i) {
      params.emplace_back(c.group_ids[i]);
      if (i > 0) sql += ", ";
      sql += "?" + std::to_string(params.size());
    }
    sql += "))";
  }
  sql += ")";
  return sql;
}

Share share_from(const Row& r) {
  Share s;
  s.kind = parse_grantee_kind(r.text(0)).value_or(GranteeKind::kUser);
  s.grantee_id = r.text(1);
  s.role = parse_role(r.text(2)).value_or(Role::kViewer);
  s.create_ms = r.i64(3);
  return s;
}

// LIKE pattern for "contains s", with '!' escaping the pattern characters.
std::string contains_pattern(std::string_view s) {
  std::string out = "%";
  for (char ch : s) {
    if (ch == '%' || ch == '_' || ch == '!') out += '!';
    out += ch;
  }
  out += '%';
  return out;
}

}  // namespace

Status insert_document(Tx& tx, const Document& d) {
  return ok_or(tx.exec(
      "INSERT INTO documents (tenant_id, id, title, owner_id, create_ms, update_ms, version, size, "
      "trash_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
      {d.tenant_id, d.id, d.title, d.owner_id, d.create_ms, d.update_ms, d.version, d.size}));
}

Result<bool> insert_document_if_absent(Tx& tx, const Document& d) {
  auto n = tx.exec(
      "INSERT INTO documents (tenant_id, id, title, owner_id, create_ms, update_ms, version, size, "
      "trash_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL) ON CONFLICT DO NOTHING",
      {d.tenant_id, d.id, d.title, d.owner_id, d.create_ms, d.update_ms, d.version, d.size});
  if (!n) return n.error();
  return *n == 1;
}

Status insert_initial_create_op(Tx& tx, std::string_view tenant_id, std::string_view doc_id,
                                std::string_view author_id, std::int64_t ts_ms) {
  // The op column of a create is its initial text as it is (oplog_store.hpp).
  return ok_or(tx.exec(
      "INSERT INTO doc_ops (tenant_id, doc_id, version, kind, op, src, seq, author_id, ts_ms, "
      "size) VALUES (?1, ?2, 0, 'create', '', '', 0, ?3, ?4, 0)",
      {std::string(tenant_id), std::string(doc_id), std::string(author_id), ts_ms}));
}

Result<std::optional<Document>> document_for(Tx& tx, const Caller& c, std::string_view id) {
  std::vector<Value> params{c.tenant_id, std::string(id), c.user_id};
  std::string match = grantee_match(c, 3, params);
  auto r = tx.query(std::string("SELECT ") + kDocCols + ", (SELECT MAX(" + kShareRank +
                        ") FROM doc_shares s WHERE s.tenant_id = d.tenant_id AND s.doc_id = d.id "
                        "AND " +
                        match + ") FROM documents d WHERE d.tenant_id = ?1 AND d.id = ?2",
                    params);
  if (!r) return r.error();
  if (r->empty()) return std::optional<Document>();
  const Row& row = r->front();
  Document d = document_from(row);
  d.role = d.owner_id == c.user_id ? Role::kOwner : role_from_rank(row.i64(9));
  return std::optional<Document>(std::move(d));
}

Result<std::vector<Document>> list_documents(Tx& tx, const Caller& c, const ListQuery& q) {
  std::vector<Value> params{c.tenant_id, c.user_id};
  std::string sql;
  if (q.trashed) {
    // Only owners see the trash.
    sql = std::string("SELECT ") + kDocCols +
          ", 4 FROM documents d WHERE d.tenant_id = ?1 AND d.owner_id = ?2 AND d.trash_ms IS NOT "
          "NULL";
  } else {
    // Every document the caller owns or is granted, with the best role,
    // found from the owner index and the shares' grantee index rather than
    // by looking at every document of the tenant.
    std::string match = grantee_match(c, 2, params);
    sql = std::string("WITH granted (doc_id, lvl) AS (") +
          "SELECT id, 4 FROM documents WHERE tenant_id = ?1 AND owner_id = ?2 UNION ALL SELECT "
          "s.doc_id, " +
          kShareRank + " FROM doc_shares s WHERE s.tenant_id = ?1 AND " + match +
          "), best (doc_id, lvl) AS (SELECT doc_id, MAX(lvl) FROM granted GROUP BY doc_id) "
          "SELECT " +
          kDocCols +
          ", best.lvl FROM best JOIN documents d ON d.tenant_id = ?1 AND d.id = best.doc_id "
          "WHERE d.trash_ms IS NULL";
  }
  if (!q.title_contains.empty()) {
    params.emplace_back(contains_pattern(q.title_contains));
    sql += " AND lower(d.title) LIKE lower(CAST(?" + std::to_string(params.size()) +
           " AS TEXT)) ESCAPE '!'";
  }
  if (q.after) {
    params.emplace_back(q.after->first);
    std::string ms = "?" + std::to_string(params.size());
    params.emplace_back(q.after->second);
    std::string id = "?" + std::to_string(params.size());
    sql += " AND (d.update_ms < " + ms + " OR (d.update_ms = " + ms + " AND d.id < " + id + "))";
  }
  params.emplace_back(std::int64_t{q.limit});
  sql += " ORDER BY d.update_ms DESC, d.id DESC LIMIT ?" + std::to_string(params.size());
  auto rows = tx.query(sql, params);
  if (!rows) return rows.error();
  std::vector<Document> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) {
    out.push_back(document_from(r));
    out.back().role = role_from_rank(r.i64(9));
  }
  return out;
}

Status update_title(Tx& tx, std::string_view tenant_id, std::string_view id, std::string_view title,
                    std::int64_t now_ms) {
  return ok_or(
      tx.exec("UPDATE documents SET title = ?3, update_ms = ?4 WHERE tenant_id = ?1 AND id = ?2",
              {std::string(tenant_id), std::string(id), std::string(title), now_ms}));
}

Status set_trash(Tx& tx, std::string_view tenant_id, std::string_view id,
                 std::optional<std::int64_t> trash_ms) {
  Value v = trash_ms ? Value(*trash_ms) : Value(std::monostate{});
  return ok_or(tx.exec("UPDATE documents SET trash_ms = ?3 WHERE tenant_id = ?1 AND id = ?2",
                       {std::string(tenant_id), std::string(id), v}));
}

Status delete_document(Tx& tx, std::string_view tenant_id, std::string_view id) {
  // Explicit rather than relying on ON DELETE CASCADE: the same on both
  // backends whatever the foreign-key settings.
  for (const char* sql : {"DELETE FROM doc_ops WHERE tenant_id = ?1 AND doc_id = ?2",
                          "DELETE FROM doc_snapshots WHERE tenant_id = ?1 AND doc_id = ?2",
                          "DELETE FROM doc_shares WHERE tenant_id = ?1 AND doc_id = ?2",
                          "DELETE FROM documents WHERE tenant_id = ?1 AND id = ?2"}) {
    if (auto st = ok_or(tx.exec(sql, {std::string(tenant_id), std::string(id)})); !st) return st;
  }
  return {};
}

Result<std::optional<Share>> share_of(Tx& tx, std::string_view tenant_id, std::string_view doc_id,
                                      GranteeKind kind, std::string_view grantee_id) {
  auto r = tx.query_one(
      "SELECT kind, grantee_id, role, create_ms FROM doc_shares "
      "WHERE tenant_id = ?1 AND doc_id = ?2 AND kind = ?3 AND grantee_id = ?4",
      {std::string(tenant_id), std::string(doc_id), std::string(grantee_kind_name(kind)),
       std::string(grantee_id)});
  if (!r) return r.error();
  if (!*r) return std::optional<Share>();
  return std::optional<Share>(share_from(**r));
}

Status upsert_share(Tx& tx, std::string_view tenant_id, std::string_view doc_id, const Share& s) {
  return ok_or(
      tx.exec("INSERT INTO doc_shares (tenant_id, doc_id, kind, grantee_id, role, create_ms) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, doc_id, kind, grantee_id) "
              "DO UPDATE SET role = excluded.role",
              {std::string(tenant_id), std::string(doc_id), std::string(grantee_kind_name(s.kind)),
               s.grantee_id, std::string(role_name(s.role)), s.create_ms}));
}

Result<std::vector<Share>> list_shares(Tx& tx, std::string_view tenant_id,
                                       std::string_view doc_id) {
  auto rows = tx.query(
      "SELECT kind, grantee_id, role, create_ms FROM doc_shares "
      "WHERE tenant_id = ?1 AND doc_id = ?2 "
      "ORDER BY CASE kind WHEN 'user' THEN 0 WHEN 'group' THEN 1 ELSE 2 END, grantee_id",
      {std::string(tenant_id), std::string(doc_id)});
  if (!rows) return rows.error();
  std::vector<Share> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) out.push_back(share_from(r));
  return out;
}

Result<std::int64_t> count_shares(Tx& tx, std::string_view tenant_id, std::string_view doc_id) {
  auto r = tx.query_one("SELECT COUNT(*) FROM doc_shares WHERE tenant_id = ?1 AND doc_id = ?2",
                        {std::string(tenant_id), std::string(doc_id)});
  if (!r) return r.error();
  return (*r)->i64(0);
}

Result<bool> delete_share(Tx& tx, std::string_view tenant_id, std::string_view doc_id,
                          GranteeKind kind, std::string_view grantee_id) {
  auto n = tx.exec(
      "DELETE FROM doc_shares WHERE tenant_id = ?1 AND doc_id = ?2 AND kind = ?3 AND grantee_id = "
      "?4",
      {std::string(tenant_id), std::string(doc_id), std::string(grantee_kind_name(kind)),
       std::string(grantee_id)});
  if (!n) return n.error();
  return *n > 0;
}

Result<std::vector<VersionInfo>> list_versions(Tx& tx, std::string_view tenant_id,
                                               std::string_view doc_id,
                                               std::optional<std::int64_t> before, int limit) {
  auto rows = tx.query(
      "SELECT version, author_id, ts_ms, size, kind FROM doc_ops "
      "WHERE tenant_id = ?1 AND doc_id = ?2 AND version < ?3 ORDER BY version DESC LIMIT ?4",
      {std::string(tenant_id), std::string(doc_id), before.value_or(INT64_MAX),
       std::int64_t{limit}});
  if (!rows) return rows.error();
  std::vector<VersionInfo> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) {
    VersionInfo v;
    v.version = r.i64(0);
    v.author_id = r.text(1);
    v.ts_ms = r.i64(2);
    v.size = r.i64(3);
    v.kind = parse_op_kind(r.text(4)).value_or(CommittedOp::Kind::kEdit);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace office::docs::catalog_store

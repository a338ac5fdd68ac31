#include "docs/oplog_store.hpp"

#include <utility>

#include "ot/document.hpp"
#include "ot/json_codec.hpp"

namespace office::docs::oplog {

namespace {

constexpr std::string_view kOpColumns = "version, kind, op, src, seq, author_id, ts_ms";

}  // namespace

std::string encode_op(const CommittedOp& op) {
  switch (op.kind) {
    case CommittedOp::Kind::kEdit:
      return ot::dump_op(op.op);
    case CommittedOp::Kind::kCreate:
      return op.create_text;
    case CommittedOp::Kind::kDelete:
      break;
  }
  return {};
}

Result<CommittedOpPtr> decode_row(const storage::Row& row, std::string_view tenant,
                                  std::string_view doc) {
  auto op = std::make_shared<CommittedOp>();
  op->tenant_id = tenant;
  op->doc_id = doc;
  op->version = row.i64(0);
  const auto kind = parse_op_kind(row.text(1));
  if (!kind) {
    return Error::internal("op log of document " + std::string(doc) + " version " +
                           std::to_string(op->version) + " has an unknown kind");
  }
  op->kind = *kind;
  if (*kind == CommittedOp::Kind::kEdit) {
    auto parsed = ot::parse_op(row.text(2));
    if (!parsed) {
      return Error{ErrorCode::kInternal, "op log of document " + std::string(doc) + " version " +
                                             std::to_string(op->version) +
                                             " is unreadable: " + parsed.error().message};
    }
    op->op = std::move(*parsed);
  } else if (*kind == CommittedOp::Kind::kCreate) {
    op->create_text = row.text(2);
  }
  op->src = row.text(3);
  op->seq = row.i64(4);
  op->author_id = row.text(5);
  op->ts_ms = row.i64(6);
  return CommittedOpPtr(std::move(op));
}

Result<std::optional<DocRow>> doc_row(storage::Tx& tx, std::string_view tenant,
                                      std::string_view doc) {
  auto row =
      tx.query_one("SELECT version, trash_ms FROM documents WHERE tenant_id = ?1 AND id = ?2",
                   {std::string(tenant), std::string(doc)});
  if (!row) return row.error();
  if (!*row) return std::optional<DocRow>();
  return std::optional<DocRow>(DocRow{(*row)->i64(0), !(*row)->is_null(1)});
}

Result<std::vector<CommittedOpPtr>> ops(storage::Tx& tx, std::string_view tenant,
                                        std::string_view doc, std::int64_t from, std::int64_t to) {
  std::string sql = "SELECT " + std::string(kOpColumns) +
                    " FROM doc_ops WHERE tenant_id = ?1 AND doc_id = ?2 AND version >= ?3";
  std::vector<storage::Value> params{std::string(tenant), std::string(doc), from};
  if (to >= 0) {
    sql += " AND version < ?4";
    params.emplace_back(to);
  }
  sql += " ORDER BY version";
  auto rows = tx.query(sql, params);
  if (!rows) return rows.error();
  std::vector<CommittedOpPtr> out;
  out.reserve(rows->size());
  for (const auto& row : *rows) {
    auto op = decode_row(row, tenant, doc);
    if (!op) return op.error();
    if (op.value()->version != from + static_cast<std::int64_t>(out.size())) {
      return Error{ErrorCode::kInternal, "op log of document " + std::string(doc) +
                                             " has a gap before version " +
                                             std::to_string(op.value()->version)};
    }
    out.push_back(std::move(*op));
  }
  return out;
}

Result<Snapshot> snapshot_at(storage::Tx& tx, std::string_view tenant, std::string_view doc,
                             std::int64_t version) {
  Snapshot snap;
  snap.doc_id = doc;
  auto milestone = tx.query_one(
      "SELECT version, text, ts_ms FROM doc_snapshots WHERE tenant_id = ?1 AND doc_id = ?2 AND "
      "version <= ?3 ORDER BY version DESC LIMIT 1",
      {std::string(tenant), std::string(doc), version});
  if (!milestone) return milestone.error();
  std::int64_t from = 0;
  ot::Document text;
  if (*milestone) {
    from = (*milestone)->i64(0);
    text = ot::Document((*milestone)->text(1));
    snap.version = from;
    snap.exists = from > 0;
    snap.ts_ms = (*milestone)->i64(2);
  }
  auto tail = ops(tx, tenant, doc, from, version);
  if (!tail) return tail.error();
  for (const auto& op : *tail) {
    switch (op->kind) {
      case CommittedOp::Kind::kCreate:
        text = ot::Document(op->create_text);
        snap.exists = true;
        break;
      case CommittedOp::Kind::kDelete:
        text = ot::Document();
        snap.exists = false;
        break;
      case CommittedOp::Kind::kEdit:
        if (Status st = text.apply(op->op); !st) {
          return Error{ErrorCode::kInternal,
                       "op log of document " + std::string(doc) + " does not apply at version " +
                           std::to_string(op->version) + ": " + st.error().message};
        }
        break;
    }
    snap.version = op->version + 1;
    snap.ts_ms = op->ts_ms;
  }
  snap.text = text.to_string();
  return snap;
}

Result<std::int64_t> version_at_time(storage::Tx& tx, std::string_view tenant, std::string_view doc,
                                     std::int64_t ts_ms) {
  // The op log has no index on time (one less page written per op): times
  // do not decrease along the versions (the hub keeps them so), so the answer
  // is a binary search over versions, each step a primary-key lookup. It is
  // the version after the last op at or before ts_ms (0: none).
  auto last = tx.query_one("SELECT MAX(version) FROM doc_ops WHERE tenant_id = ?1 AND doc_id = ?2",
                           {std::string(tenant), std::string(doc)});
  if (!last) return last.error();
  if (!*last || (*last)->is_null(0)) return std::int64_t{0};
  std::int64_t lo = -1;                   // an op at or before ts_ms (or none: -1)
  std::int64_t hi = (*last)->i64(0) + 1;  // the first op after ts_ms (or past the end)
  auto first = tx.query_one("SELECT MIN(version) FROM doc_ops WHERE tenant_id = ?1 AND doc_id = ?2",
                            {std::string(tenant), std::string(doc)});
  if (!first) return first.error();
  if (*first && !(*first)->is_null(0)) lo = (*first)->i64(0) - 1;
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    auto row = tx.query_one(
        "SELECT ts_ms FROM doc_ops WHERE tenant_id = ?1 AND doc_id = ?2 AND version = ?3",
        {std::string(tenant), std::string(doc), mid});
    if (!row) return row.error();
    if (!*row) return Error::internal("the op log of document " + std::string(doc) + " has a gap");
    if ((*row)->i64(0) <= ts_ms) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo + 1;
}

Status append(storage::Tx& tx, const CommittedOp& op, std::int64_t size_after,
              bool update_catalogue) {
  auto inserted = tx.exec(
      "INSERT INTO doc_ops (tenant_id, doc_id, version, kind, op, src, seq, author_id, ts_ms, "
      "size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
      {op.tenant_id, op.doc_id, op.version, std::string(op_kind_name(op.kind)), encode_op(op),
       op.src, op.seq, op.author_id, op.ts_ms, size_after});
  if (!inserted) return inserted.error();
  if (!update_catalogue) return {};
  return update_row(tx, op.tenant_id, op.doc_id, op.version + 1, size_after, op.ts_ms);
}

Status update_row(storage::Tx& tx, std::string_view tenant, std::string_view doc,
                  std::int64_t version, std::int64_t size, std::int64_t ts_ms) {
  auto moved = tx.exec(
      "UPDATE documents SET version = ?1, size = ?2, update_ms = ?3 WHERE tenant_id = ?4 AND id = "
      "?5 AND version < ?1",
      {version, size, ts_ms, std::string(tenant), std::string(doc)});
  if (!moved) return moved.error();
  return {};
}

Status save_milestone(storage::Tx& tx, std::string_view tenant, std::string_view doc,
                      std::int64_t version, std::string_view text, std::int64_t ts_ms) {
  auto r = tx.exec(
      "INSERT INTO doc_snapshots (tenant_id, doc_id, version, text, ts_ms) VALUES (?1, ?2, ?3, ?4, "
      "?5) ON CONFLICT DO NOTHING",
      {std::string(tenant), std::string(doc), version, std::string(text), ts_ms});
  if (!r) return r.error();
  return {};
}

}  // namespace office::docs::oplog

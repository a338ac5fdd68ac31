#pragma once
// Internal to the docs module: the op log and snapshot milestones in SQL.
// Every function runs inside a caller's transaction and touches nothing
// outside it (the retry rule of storage::Database).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "docs/types.hpp"
#include "storage/database.hpp"

namespace office::docs::oplog {

/// What the catalogue row says of a document's real-time state.
struct DocRow {
  std::int64_t version = 0;
  bool trashed = false;
};
/// The documents row (nullopt: no such document in the tenant).
Result<std::optional<DocRow>> doc_row(storage::Tx& tx, std::string_view tenant,
                                      std::string_view doc);

/// A document's text at a version: the nearest milestone at or before it
/// with the ops after it replayed (at most the milestone interval). A
/// version past the log is clamped to the last one. exists=false when the
/// document has no create op at or before the version.
Result<Snapshot> snapshot_at(storage::Tx& tx, std::string_view tenant, std::string_view doc,
                             std::int64_t version);

/// Committed ops with from <= version < to (to < 0: all from `from`).
Result<std::vector<CommittedOpPtr>> ops(storage::Tx& tx, std::string_view tenant,
                                        std::string_view doc, std::int64_t from, std::int64_t to);

/// The document's version at a time: ops committed at or before ts_ms.
Result<std::int64_t> version_at_time(storage::Tx& tx, std::string_view tenant, std::string_view doc,
                                     std::int64_t ts_ms);

/// Appends `op` (at op.version). The op log's primary key (tenant,
/// document, version) is what makes a version committed once: a second
/// writer of the same version fails (kAlreadyExists). With
/// `update_catalogue`, the documents row's version, size and update time
/// move to after the op (never backwards). The hub does that for a create
/// only; later the rows of all documents being edited move once a second in
/// one write (update_row), and at milestones and eviction: the row is the
/// catalogue's view (lists, "recently edited"), and updating it and its two
/// indexes in the commits was most of the commit cost, then about a third of
/// the tail at 10,000 ops/s over 1,000 documents (docs/benchmarks.md);
/// loading replays the log to its end, not to the row's version.
/// `size_after` is the text length in code points after the op.
Status append(storage::Tx& tx, const CommittedOp& op, std::int64_t size_after,
              bool update_catalogue);

/// Moves the documents row to `version` (if it is behind), with its size and time.
Status update_row(storage::Tx& tx, std::string_view tenant, std::string_view doc,
                  std::int64_t version, std::int64_t size, std::int64_t ts_ms);

/// Stores the text as the milestone of `version` (a no-op if it exists).
Status save_milestone(storage::Tx& tx, std::string_view tenant, std::string_view doc,
                      std::int64_t version, std::string_view text, std::int64_t ts_ms);

/// The op column's text for a committed op, and back: an edit's op as JSON
/// (text-unicode's shape), a create's initial text as it is, '' for a delete.
std::string encode_op(const CommittedOp& op);
Result<CommittedOpPtr> decode_row(const storage::Row& row, std::string_view tenant,
                                  std::string_view doc);

}  // namespace office::docs::oplog

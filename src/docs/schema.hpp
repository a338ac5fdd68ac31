#pragma once
// The docs module's tables (migrations). Who writes which table:
//   documents, doc_shares      the catalogue (catalog_store.*)
//   doc_ops, doc_snapshots     the op log (oplog_store.*); the op log also
//                              moves documents.version / size / update_ms
//                              in the transaction that commits an op.
//
// documents.version is the ShareDB version: the number of ops committed, the
// create included (a document made through the REST API starts at 1, its
// create op at version 0). doc_ops.version is the version an op applied at.
// doc_ops.op holds the text-unicode op as JSON for an edit, the initial text
// as a JSON string for a create, and '' for a delete; size is the text's
// length in code points after the op. (tenant, doc, version) is the primary
// key: two writers (two replicas) can never both commit a version. (src,
// seq) is unique per document for client ops (src <> ''). doc_snapshots
// holds milestones: the text at a version, every N ops and on eviction.

#include <span>

#include "storage/database.hpp"

namespace office::docs {

std::span<const storage::Migration> migrations();

}  // namespace office::docs
